"""The exact rule text the firewall sends to AWS, loaded by the real Suricata 7 and replayed against crafted traffic.

The rules come from the declared RuleGroup resources of the example stacks (what `pulumi up` would send), not from
the generator. Suricata must be installed (scripts/apt-deps): these tests fail without it, they never skip.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from infra.config import parse_config
from infra.offline import StackSnapshot
from infra.suricata import (
    MAX_GROUP_CAPACITY,
    MAX_GROUPS_PER_POLICY,
    MAX_POLICY_CAPACITY,
    MAX_RULE_CHARS,
    MAX_RULES_STRING_BYTES,
    TENANT_SID_RANGE,
    Rule,
    aws_problems,
    engine_problems,
    firewall_rules,
    parse_rule,
    suricata_binary,
)
from tests.fixtures.suricata.replay import (
    HTTP_RESPONSE,
    SSH_BANNER,
    EmulationError,
    Replay,
    Traffic,
    Verdict,
    client_hello,
    http_request,
    replay,
    server_hello,
    strict_action_order,
)

# The baseline's SIDs are a contract with whoever reads the alert logs: they must not change.
BASELINE_SIDS = {
    100_001: "ACC-04 SSH into the tenant from outside the VPN range",
    100_002: "EDGE-03 egress on port 443 that is not TLS",
    100_003: "EDGE-03 TLS client offering nothing newer than TLS 1.1",
    100_004: "ACC-04 SSH out of the tenant",
    100_005: "EDGE-03 plain HTTP out of the tenant on a port other than 80",
}
SSL_3, TLS_1_0, TLS_1_1 = 0x0300, 0x0301, 0x0302
# The example tenant's own rules (tenants/acme/firewall.rules).
TENANT_NOT_GET = "acme: package mirrors are only read, nothing but GET"
TENANT_CURL = "acme: HTTP request by curl rather than apt"


@dataclass(frozen=True)
class DeclaredGroup:
    """One rule group as the stack declares it for AWS."""

    key: str
    priority: int
    capacity: int
    rules_string: str
    ip_sets: dict[str, list[str]]

    @property
    def lines(self) -> list[str]:
        return [line for line in self.rules_string.splitlines() if line.strip()]

    @property
    def rules(self) -> list[Rule]:
        return [parse_rule(line) for line in self.lines]


def declared_groups(stack: StackSnapshot) -> list[DeclaredGroup]:
    """The stateful rule groups in the order the policy evaluates them (by priority)."""
    (policy,) = stack.of_type("aws:networkfirewall/firewallPolicy:FirewallPolicy")
    priorities = {
        ref["resourceArn"]: ref["priority"]
        for ref in policy.inputs["firewallPolicy"]["statefulRuleGroupReferences"]
    }
    groups = [
        DeclaredGroup(
            key=group.name.removeprefix(
                f"{stack.outputs['tenant']}-{stack.outputs['environment']}-nfw-"
            ).removesuffix("-rules"),
            priority=priorities[group.outputs["arn"]],
            capacity=group.inputs["capacity"],
            rules_string=group.inputs["ruleGroup"]["rulesSource"]["rulesString"],
            ip_sets={
                s["key"]: s["ipSet"]["definitions"]
                for s in group.inputs["ruleGroup"]["ruleVariables"]["ipSets"]
            },
        )
        for group in stack.of_type("aws:networkfirewall/ruleGroup:RuleGroup")
    ]
    return sorted(groups, key=lambda group: group.priority)


def strict_rules(stack: StackSnapshot) -> list[Rule]:
    return [rule for group in declared_groups(stack) for rule in group.rules]


# --- The engine accepts every rule ---------------------------------------------------------------------------------


def test_suricata_7_is_installed() -> None:
    version = subprocess.run([suricata_binary(), "-V"], capture_output=True, text=True, check=True).stdout
    assert "version 7." in version, f"AWS Network Firewall runs Suricata 7, this is: {version}"


def test_each_rule_group_loads_strictly_with_only_its_own_variables(example_stack: StackSnapshot) -> None:
    for group in declared_groups(example_stack):
        assert engine_problems(group.rules_string, group.ip_sets) == [], group.key


def test_each_rule_loads_on_its_own(example_stack: StackSnapshot) -> None:
    checks = [(group, line) for group in declared_groups(example_stack) for line in group.lines]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda check: engine_problems(check[1] + "\n", check[0].ip_sets), checks))
    refused = {line: problems for (_, line), problems in zip(checks, results, strict=True) if problems}
    assert refused == {}


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        (
            'alert tcp any any -> any any (msg:"x"; no_such_keyword; sid:1000001; rev:1;)',
            "unknown rule keyword",
        ),
        ('alert tcp $NOT_DEFINED any -> any any (msg:"x"; sid:1000001; rev:1;)', "NOT_DEFINED"),
        # A warning is fatal too: the Host buffer is lowercase already, so nocase betrays a mistake.
        (
            'alert http any any -> any any (msg:"x"; http.host; content:"a.org"; nocase; sid:1000001; rev:1;)',
            "nocase",
        ),
    ],
)
def test_the_engine_check_reports_what_suricata_refuses(rule: str, said: str) -> None:
    problems = engine_problems(rule + "\n", {"HOME_NET": ["10.0.0.0/16"]})
    assert problems and any(said in problem for problem in problems), problems


# --- What AWS accepts ------------------------------------------------------------------------------------------------


def test_every_rule_has_msg_sid_rev_and_nothing_aws_refuses(example_stack: StackSnapshot) -> None:
    for rule in strict_rules(example_stack):
        assert rule.msg and rule.sid and rule.rev, rule.text()
        assert aws_problems(rule) == [], rule.text()


def test_sids_are_unique_and_increase_along_the_strict_evaluation_order(example_stack: StackSnapshot) -> None:
    sids = [rule.sid or 0 for rule in strict_rules(example_stack)]
    assert sids == sorted(sids) and len(set(sids)) == len(sids) and 0 not in sids


def test_groups_are_evaluated_baseline_then_tenant_then_allow_list(example_stack: StackSnapshot) -> None:
    groups = declared_groups(example_stack)
    assert [group.key for group in groups] == ["baseline", "tenant", "allow"]
    assert {rule.sid: rule.msg for rule in groups[0].rules} == BASELINE_SIDS
    assert all(rule.sid in TENANT_SID_RANGE for rule in groups[1].rules)
    assert {rule.action for rule in groups[2].rules} == {"pass"}


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


def test_allow_list_sids_do_not_change_when_other_entries_come_and_go() -> None:
    def sids(domains: list[str]) -> dict[str, int]:
        config = parse_config(
            {
                "tenant": "acme",
                "environment": "preprod",
                "region": "eu-west-1",
                "vpcCidr": "10.20.0.0/16",
                "firewall": {"egressDomains": [{"domain": domain} for domain in domains]},
            }
        )
        return {rule.msg or "": rule.sid or 0 for rule in firewall_rules(config).rules}

    before, after = sids(["deb.debian.org", "a.example.org"]), sids(["b.example.org", "deb.debian.org"])
    shared = before.keys() & after.keys()
    assert "NET-03 egress TLS to deb.debian.org" in shared
    assert {msg: before[msg] for msg in shared} == {msg: after[msg] for msg in shared}


# --- Replayed traffic gets the verdict AWS would give --------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """The verdict for one crafted flow, naming the rules (by msg) that must decide it or alert."""

    action: str
    by: str | None = None
    alerts: tuple[str, ...] = ()


def allow_msg(stack: StackSnapshot, host: str, protocol: str) -> str:
    """The msg of the allow-list rule that lets `host` out over `protocol` (a domain or a `.domain` entry)."""
    for entry in json.loads(stack.config["secure-tenant:firewall"])["egressDomains"]:
        domain = entry["domain"]
        if protocol in entry.get("protocols", ["tls"]) and (
            host == domain or (domain.startswith(".") and (host == domain[1:] or host.endswith(domain)))
        ):
            what = f"{domain[1:]} and its subdomains" if domain.startswith(".") else domain
            return f"NET-03 egress {protocol.upper()} to {what}"
    raise KeyError(f"{host} is not allowed over {protocol} in {stack.stack}")


def traffic_and_expectations(stack: StackSnapshot) -> tuple[Traffic, dict[str, Expectation]]:
    """Flows exercising every rule of the stack's policy, each with the verdict AWS would give it."""
    home, vpn = IPv4Network(stack.outputs["vpcCidr"]), IPv4Network(stack.outputs["vpnClientCidr"])
    inside, internet, vpn_client = str(home.network_address + 10), "198.51.100.20", str(vpn[6])
    sts = f"sts.{stack.outputs['region']}.amazonaws.com"
    vpn_rule = next(
        rule for rule in strict_rules(stack) if (rule.msg or "").startswith("ACC-01 ingress OpenVPN")
    )
    traffic, expected = Traffic(), {}

    def out(name: str, port: int, request: bytes, response: bytes, expectation: Expectation) -> None:
        traffic.tcp(name, inside, internet, port, request, response)
        expected[name] = expectation

    # One flow per allow-list entry and protocol, to a host the entry covers.
    for entry in json.loads(stack.config["secure-tenant:firewall"])["egressDomains"]:
        host = "mirror" + entry["domain"] if entry["domain"].startswith(".") else entry["domain"]
        for protocol in entry.get("protocols", ["tls"]):
            request, port = (client_hello(host), 443) if protocol == "tls" else (http_request(host), 80)
            out(
                f"{protocol} to {host}",
                port,
                request,
                b"",
                Expectation("pass", allow_msg(stack, host, protocol)),
            )
    allowed_tls = allow_msg(stack, "deb.debian.org", "tls")
    allowed_http = allow_msg(stack, "deb.debian.org", "http")
    out(
        "TLS to an allowed domain",
        443,
        client_hello("deb.debian.org"),
        server_hello(),
        Expectation("pass", allowed_tls),
    )
    out(
        "TLS naming an allowed domain in capitals",
        443,
        client_hello("DEB.Debian.ORG"),
        server_hello(),
        Expectation("pass", allowed_tls),
    )
    out(
        "TLS to a domain not on the list",
        443,
        client_hello("exfil.example.net"),
        server_hello(),
        Expectation("default"),
    )
    out(
        "TLS to a name that only ends like an allowed one",
        443,
        client_hello("evildebian.org"),
        server_hello(),
        Expectation("default"),
    )
    out(
        "TLS to an allowed name followed by another domain",
        443,
        client_hello("deb.debian.org.attacker.example"),
        server_hello(),
        Expectation("default"),
    )
    out(
        "plain HTTP on port 443",
        443,
        http_request("deb.debian.org"),
        HTTP_RESPONSE,
        Expectation("drop", BASELINE_SIDS[100_002]),
    )
    out("SSH on port 443", 443, SSH_BANNER, SSH_BANNER, Expectation("drop", BASELINE_SIDS[100_002]))
    for version, label in ((SSL_3, "SSL 3.0"), (TLS_1_0, "TLS 1.0"), (TLS_1_1, "TLS 1.1")):
        out(
            f"{label} client to an allowed domain",
            443,
            client_hello("deb.debian.org", version),
            server_hello(),
            Expectation("drop", BASELINE_SIDS[100_003]),
        )
    out(
        "HTTP POST to an allowed mirror",
        80,
        http_request("deb.debian.org", "POST"),
        HTTP_RESPONSE,
        Expectation("drop", TENANT_NOT_GET),
    )
    out(
        "HTTP GET by curl to an allowed mirror",
        80,
        http_request("deb.debian.org", user_agent="curl/7.88.1"),
        HTTP_RESPONSE,
        Expectation("pass", allowed_http, alerts=(TENANT_CURL,)),
    )
    out(
        "HTTP to a domain allowed over TLS only", 80, http_request(sts), HTTP_RESPONSE, Expectation("default")
    )
    # The tenant's curl alert comes after the baseline's drop in strict order: AWS never logs it here.
    out(
        "HTTP by curl on port 8080",
        8080,
        http_request("deb.debian.org", user_agent="curl/7.88.1"),
        HTTP_RESPONSE,
        Expectation("drop", BASELINE_SIDS[100_005]),
    )
    out("SSH out of the tenant", 22, SSH_BANNER, SSH_BANNER, Expectation("drop", BASELINE_SIDS[100_004]))

    traffic.tcp("SSH in from the internet", internet, inside, 22, SSH_BANNER, SSH_BANNER)
    expected["SSH in from the internet"] = Expectation("default", alerts=(BASELINE_SIDS[100_001],))
    traffic.tcp("SSH in from the VPN range", vpn_client, inside, 22, SSH_BANNER, SSH_BANNER)
    expected["SSH in from the VPN range"] = Expectation("default")
    traffic.tcp(
        "HTTPS to the load balancer",
        internet,
        inside,
        443,
        client_hello("app.acme.example.com"),
        server_hello(),
    )
    expected["HTTPS to the load balancer"] = Expectation("pass", "NET-03 ingress HTTPS to the load balancer")
    traffic.tcp(
        "TLS 1.0 client to the load balancer",
        internet,
        inside,
        443,
        client_hello("app.acme.example.com", TLS_1_0),
        server_hello(),
    )
    expected["TLS 1.0 client to the load balancer"] = Expectation("drop", BASELINE_SIDS[100_003])
    traffic.tcp(
        "HTTP to the load balancer", internet, inside, 80, http_request("app.acme.example.com"), HTTP_RESPONSE
    )
    expected["HTTP to the load balancer"] = Expectation(
        "pass", "NET-03 ingress HTTP to the load balancer, which only redirects to HTTPS"
    )
    if vpn_rule.protocol == "udp":
        traffic.udp("OpenVPN to the bastion", internet, inside, int(vpn_rule.destination_port))
        traffic.udp("UDP to another port", internet, inside, int(vpn_rule.destination_port) + 1)
        expected["UDP to another port"] = Expectation("default")
    else:
        traffic.tcp(
            "OpenVPN to the bastion", internet, inside, int(vpn_rule.destination_port), bytes(40), bytes(40)
        )
    expected["OpenVPN to the bastion"] = Expectation("pass", vpn_rule.msg)
    return traffic, expected


@pytest.fixture(scope="module")
def replayed(
    example_stack: StackSnapshot, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Replay, dict[str, Expectation], dict[str, int]]:
    """The example stack's exact rules judging its crafted traffic, with the verdicts AWS would give."""
    traffic, expected = traffic_and_expectations(example_stack)
    groups = declared_groups(example_stack)
    result = replay(
        strict_rules(example_stack),
        "".join(group.rules_string for group in groups),
        groups[0].ip_sets,
        traffic,
        tmp_path_factory.mktemp(f"replay-{example_stack.stack}"),
    )
    return result, expected, {rule.msg or "": rule.sid or 0 for rule in strict_rules(example_stack)}


def mismatch(replayed: tuple[Replay, dict[str, Expectation], dict[str, int]], name: str) -> str | None:
    """Why the flow's verdict differs from what AWS would do, or None if it does not."""
    result, expected, sid_of = replayed
    expectation, verdict, matched = expected[name], result.verdicts[name], result.matched[name]
    alerts = frozenset(sid_of[msg] for msg in expectation.alerts)
    by = sid_of[expectation.by] if expectation.by else None
    if verdict.action != expectation.action or verdict.alerts != alerts:
        return f"{verdict} instead of {expectation}"
    if expectation.action == "drop" and verdict.dropped_by != by:
        return f"dropped by {verdict.dropped_by}, not by {by} ({expectation.by})"
    if expectation.action == "pass" and by not in matched:
        return f"passed, but not by {by} ({expectation.by}): matched {sorted(matched)}"
    return None


def test_an_allowed_domain_passes(replayed: tuple[Replay, dict[str, Expectation], dict[str, int]]) -> None:
    assert replayed[0].verdicts["TLS to an allowed domain"].action == "pass"
    assert mismatch(replayed, "TLS to an allowed domain") is None


def test_a_domain_not_on_the_list_is_dropped(
    replayed: tuple[Replay, dict[str, Expectation], dict[str, int]],
) -> None:
    assert replayed[0].verdicts["TLS to a domain not on the list"] == Verdict("default")


def test_plain_http_on_port_443_is_dropped(
    replayed: tuple[Replay, dict[str, Expectation], dict[str, int]],
) -> None:
    verdict, sid_of = replayed[0].verdicts["plain HTTP on port 443"], replayed[2]
    assert verdict == Verdict("drop", sid_of[BASELINE_SIDS[100_002]])


def test_every_crafted_flow_gets_the_verdict_aws_would_give(
    replayed: tuple[Replay, dict[str, Expectation], dict[str, int]],
) -> None:
    wrong = {name: mismatch(replayed, name) for name in replayed[1]}
    assert {name: why for name, why in wrong.items() if why} == {}


def test_every_rule_does_what_its_name_says_on_some_crafted_flow(
    replayed: tuple[Replay, dict[str, Expectation], dict[str, int]],
) -> None:
    _, expected, sid_of = replayed
    proven = {msg for e in expected.values() for msg in (e.by, *e.alerts) if msg}
    assert proven == set(sid_of)


def test_the_emulated_order_is_alert_then_drop_then_pass(
    replayed: tuple[Replay, dict[str, Expectation], dict[str, int]],
) -> None:
    assert replayed[0].action_order == ["alert", "drop", "pass", "reject"]


def test_suricatas_default_action_order_would_let_an_old_tls_client_through(
    example_stack: StackSnapshot, tmp_path: Path
) -> None:
    # Why the test config derives action-order: with Suricata's default (pass first) the allow-list would win
    # over the baseline, which AWS evaluates first in STRICT_ORDER.
    inside = str(IPv4Network(example_stack.outputs["vpcCidr"]).network_address + 10)
    traffic = Traffic()
    traffic.tcp(
        "TLS 1.0", inside, "198.51.100.20", 443, client_hello("deb.debian.org", TLS_1_0), server_hello()
    )
    groups = declared_groups(example_stack)
    rules, text = strict_rules(example_stack), "".join(group.rules_string for group in groups)
    strict = replay(rules, text, groups[0].ip_sets, traffic, tmp_path / "strict")
    default = replay(
        rules, text, groups[0].ip_sets, traffic, tmp_path / "default", ["pass", "drop", "reject", "alert"]
    )
    assert strict.verdicts["TLS 1.0"].action == "drop"
    assert default.verdicts["TLS 1.0"].action == "pass"


@pytest.mark.parametrize(
    ("rules", "refused_because"),
    [
        (["drop tcp", "pass tls", "drop http"], "interleave"),
        (["pass tls", "alert tcp"], "an alert follows a pass"),
        (["alert tcp flowbits:set,x;", "drop tcp"], "reorder rules"),
    ],
)
def test_the_emulation_refuses_what_action_order_cannot_reproduce(
    rules: list[str], refused_because: str
) -> None:
    parsed = []
    for sid, spec in enumerate(rules, start=1):
        action, protocol, *extra = spec.split(" ")
        parsed.append(
            parse_rule(
                f'{action} {protocol} any any -> any any (msg:"m"; {" ".join(extra)} sid:{sid}; rev:1;)'
            )
        )
    with pytest.raises(EmulationError, match=refused_because):
        strict_action_order(parsed)


def test_the_emulation_refuses_sids_that_do_not_follow_the_strict_order() -> None:
    later_first = [parse_rule(f'alert tcp any any -> any any (msg:"m"; sid:{sid}; rev:1;)') for sid in (2, 1)]
    with pytest.raises(EmulationError, match="SIDs do not increase"):
        strict_action_order(later_first)
