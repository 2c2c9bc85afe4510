"""The generated policy: baseline, then the tenant's rules, then the allow-list, with SIDs in evaluation order."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from infra.config import parse_config
from infra.firewall.generate import firewall_rules
from infra.firewall.parser import parse_rule
from infra.firewall.rules import (
    ALLOW_PRIORITY,
    BASELINE_PRIORITY,
    TENANT_PRIORITY,
    TENANT_SID_RANGE,
    RuleError,
)
from review.offline import StackSnapshot
from tests.firewall_groups import BASELINE_SIDS, declared_groups, strict_rules
from tests.stacks import VALID


def test_sids_are_unique_and_increase_along_the_strict_evaluation_order(example_stack: StackSnapshot) -> None:
    sids = [rule.sid or 0 for rule in strict_rules(example_stack)]
    assert sids == sorted(sids) and len(set(sids)) == len(sids) and 0 not in sids


def test_groups_are_evaluated_baseline_then_tenant_then_allow_list(example_stack: StackSnapshot) -> None:
    groups = declared_groups(example_stack)
    assert [group.key for group in groups] == ["baseline", "tenant", "allow"]
    assert {rule.sid: rule.msg for rule in groups[0].rules} == BASELINE_SIDS
    assert all(rule.sid in TENANT_SID_RANGE for rule in groups[1].rules)
    assert {rule.action for rule in groups[2].rules} == {"pass"}


def test_allow_list_sids_do_not_change_when_other_entries_come_and_go() -> None:
    def sids(domains: list[str]) -> dict[str, int]:
        config = parse_config(
            {**VALID, "firewall": {"egressDomains": [{"domain": domain} for domain in domains]}}
        )
        return {rule.msg or "": rule.sid or 0 for rule in config.firewall_policy.rules}

    before, after = sids(["deb.debian.org", "a.example.org"]), sids(["b.example.org", "deb.debian.org"])
    shared = before.keys() & after.keys()
    assert "NET-03 egress TLS to deb.debian.org" in shared
    assert {msg: before[msg] for msg in shared} == {msg: after[msg] for msg in shared}


def test_the_generator_needs_nothing_but_what_it_is_given() -> None:
    policy = firewall_rules(
        IPv4Network("10.30.0.0/16"),
        IPv4Network("10.251.0.0/24"),
        [(".example.org", ["tls", "http"])],
        [],
        ("tcp", 443),
    )
    assert [group.key for group in policy.groups] == ["baseline", "allow"]
    assert policy.home_net == ("10.30.0.0/16",)
    messages = {rule.msg for rule in policy.rules}
    assert {
        "NET-03 egress TLS to example.org and its subdomains",
        "NET-03 egress HTTP to example.org and its subdomains",
        "ACC-01 ingress OpenVPN TCP 443 to the bastion",
    } <= messages


def test_a_tenant_rule_goes_between_the_baseline_and_the_allow_list() -> None:
    tenant = parse_rule('drop http $HOME_NET any -> any any (msg:"no curl"; sid:1000001; rev:1;)')
    policy = firewall_rules(
        IPv4Network("10.30.0.0/16"), IPv4Network("10.251.0.0/24"), [], [tenant], ("udp", 1194)
    )
    assert [(group.key, group.priority) for group in policy.groups] == [
        ("baseline", BASELINE_PRIORITY),
        ("tenant", TENANT_PRIORITY),
        ("allow", ALLOW_PRIORITY),
    ]
    assert policy.groups[1].rules == (tenant,)


def test_a_generated_policy_aws_would_refuse_is_refused_before_any_resource() -> None:
    clashing = parse_rule('alert tcp any any -> any any (msg:"clash"; sid:100001; rev:1;)')
    with pytest.raises(RuleError, match=r"SIDs \[100001\] are used twice"):
        firewall_rules(
            IPv4Network("10.30.0.0/16"), IPv4Network("10.251.0.0/24"), [], [clashing], ("udp", 1194)
        )
