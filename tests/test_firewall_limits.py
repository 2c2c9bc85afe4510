"""What AWS Network Firewall accepts: the declared rules stay within its quotas, and what it refuses is reported."""

from __future__ import annotations

import pytest

from infra.firewall.limits import (
    MAX_GROUP_CAPACITY,
    MAX_GROUPS_PER_POLICY,
    MAX_POLICY_CAPACITY,
    MAX_RULE_CHARS,
    MAX_RULES_STRING_BYTES,
    aws_problems,
)
from infra.firewall.parser import parse_rule
from review.offline import StackSnapshot
from tests.firewall_groups import declared_groups, strict_rules


def test_every_rule_has_msg_sid_rev_and_nothing_aws_refuses(example_stack: StackSnapshot) -> None:
    for rule in strict_rules(example_stack):
        assert rule.msg and rule.sid and rule.rev, rule.text()
        assert aws_problems(rule) == [], rule.text()


def test_capacity_and_sizes_are_within_aws_quotas(example_stack: StackSnapshot) -> None:
    groups = declared_groups(example_stack)
    assert len(groups) <= MAX_GROUPS_PER_POLICY
    assert sum(group.capacity for group in groups) <= MAX_POLICY_CAPACITY
    for group in groups:
        # A bidirectional rule is two signatures: count it twice.
        needed = sum(2 if rule.direction == "<>" else 1 for rule in group.rules)
        assert needed <= group.capacity <= MAX_GROUP_CAPACITY
        assert len(group.rules_string.encode()) <= MAX_RULES_STRING_BYTES
        for line in group.lines:
            expanded = line
            for name, definitions in group.ip_sets.items():
                expanded = expanded.replace(f"${name}", "[" + ",".join(definitions) + "]")
            assert len(expanded) <= MAX_RULE_CHARS


def test_every_group_defines_the_variables_its_rules_use(example_stack: StackSnapshot) -> None:
    home_net = [example_stack.outputs["vpcCidr"]]
    for group in declared_groups(example_stack):
        # EXTERNAL_NET is inherited from the policy, where AWS defines it as !HOME_NET: HOME_NET must agree.
        assert group.ip_sets["HOME_NET"] == home_net
        assert group.ip_sets["VPN_NET"] == [example_stack.outputs["vpnClientCidr"]]
        used = {name for rule in group.rules for name in rule.variables}
        assert used <= {*group.ip_sets, "EXTERNAL_NET"}, group.key


@pytest.mark.parametrize(
    ("options", "refused_because"),
    [
        ('dataset:isset,bad,type string,load bad.lst; content:"x";', "datasets are not supported"),
        ('datarep:bad,>,10,type string,load r.csv; content:"x";', "datasets are not supported"),
        ("iprep:src,BadHosts,>,50;", "IP reputation"),
        ("lua:check.lua;", "Lua scripting"),
        ("luajit:check.lua;", "Lua scripting"),
        ("geoip:src,RU;", "GeoIP"),
        ("threshold:type limit, track by_src, count 1, seconds 60;", "thresholding"),
        ("detection_filter:track by_src, count 5, seconds 60;", "thresholding"),
        ("filestore;", "file extraction"),
        ("filemd5:bad.md5;", "file keywords"),
        ('filename:"evil.exe";', "file keywords"),
        ("priority:1;", "priority"),
        ("classtype:trojan-activity;", "classtype"),
        ("hostbits:set,bad,track ip_src;", "hostbits"),
        ("xbits:set,seen,track ip_pair;", "tracking by IP address"),
        ("tag:host,60,seconds,src;", "tag:host"),
        ("cip_service:1;", "ENIP/CIP"),
        ("app-layer-protocol:ftp-data;", "FTP-data"),
        ('pcre:"/evil/";', "pcre is only allowed"),
        ('http.user_agent; pcre:"/curl/";', "pcre is only allowed"),
    ],
)
def test_rules_aws_would_refuse_are_reported(options: str, refused_because: str) -> None:
    rule = parse_rule(f'alert tcp any any -> any any (msg:"m"; {options} sid:1000001; rev:1;)')
    assert any(refused_because in problem for problem in aws_problems(rule)), aws_problems(rule)


@pytest.mark.parametrize(
    ("rule", "refused_because"),
    [
        (
            'rejectboth tcp any any -> any any (msg:"m"; sid:1; rev:1;)',
            "action 'rejectboth' is not supported",
        ),
        ('alert sctp any any -> any any (msg:"m"; sid:1; rev:1;)', "SCTP"),
        ('alert ike any any -> any any (msg:"m"; sid:1; rev:1;)', "IKEv2"),
        ("alert tcp any any -> any any (sid:1; rev:1;)", "no msg"),
        ('alert tcp any any -> any any (msg:"m"; rev:1;)', "no sid"),
        ('alert tcp any any -> any any (msg:"m"; sid:1;)', "no rev"),
        ('alert tcp any any -> any any (msg:"m"; sid:0; rev:1;)', "not a positive number"),
    ],
)
def test_rule_headers_and_identities_aws_would_refuse_are_reported(rule: str, refused_because: str) -> None:
    assert any(refused_because in problem for problem in aws_problems(parse_rule(rule)))


@pytest.mark.parametrize(
    "rule",
    [
        'drop tls any any -> any any (msg:"m"; tls.sni; pcre:"/^evil\\./"; sid:1; rev:1;)',
        'drop http any any -> any any (msg:"m"; http.uri; content:"/x"; pcre:"/x$/"; sid:1; rev:1;)',
        'alert tcp any any -> any any (msg:"m"; xbits:set,seen,track tx; sid:1; rev:1;)',
    ],
)
def test_rules_aws_accepts_are_not_reported(rule: str) -> None:
    assert aws_problems(parse_rule(rule)) == []
