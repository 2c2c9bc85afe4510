"""The exact rule text the firewall sends to AWS, replayed by the real Suricata 7 against crafted traffic.

The rules come from the declared RuleGroup resources of the example stacks (what `pulumi up` would send), not from
the generator. Suricata must be installed (scripts/apt-deps): these tests fail without it, they never skip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from infra.firewall.parser import parse_rule
from review.offline import StackSnapshot
from tests.firewall_groups import BASELINE_SIDS, declared_groups, strict_rules
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

SSL_3, TLS_1_0, TLS_1_1 = 0x0300, 0x0301, 0x0302
# The example tenant's own rules (tenants/acme/firewall.rules).
TENANT_NOT_GET = "acme: package mirrors are only read, nothing but GET"
TENANT_CURL = "acme: HTTP request by curl rather than apt"


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
