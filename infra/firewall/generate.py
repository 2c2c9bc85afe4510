"""The rule groups of the tenant's firewall policy, generated from its validated config.

Three stateful rule groups, evaluated by AWS in STRICT_ORDER (group priority, then rule order in the group):

1. `baseline`: intrusion signatures and protocol enforcement (fixed rules, fixed SIDs).
2. `tenant`: the tenant's own rules from `firewall.extraRulesFile` (SIDs in TENANT_SID_RANGE).
3. `allow`: pass rules for the egress domain allow-list and for the ingress the stack serves (ALB, VPN).

Whatever no rule passes is dropped by the policy's default action (aws:drop_established). SIDs increase along
the strict evaluation order (baseline < tenant < allow, and within each group), which is also the order in which
Suricata sorts rules of one action: the tests rely on that to reproduce STRICT_ORDER with `action-order`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import Literal

from infra.baseline import HTTP_PORT, HTTPS_PORT, Control
from infra.firewall.limits import check_policy
from infra.firewall.rules import (
    ALLOW_PRIORITY,
    ALLOW_SID_BASE,
    ALLOW_SID_SPAN,
    BASELINE_PRIORITY,
    TENANT_PRIORITY,
    FirewallPolicyRules,
    Option,
    Rule,
    RuleError,
    RuleGroup,
)

EGRESS_PORTS = {"tls": HTTPS_PORT, "http": HTTP_PORT}
EgressProtocol = Literal["tls", "http"]


def _baseline_rules() -> tuple[Rule, ...]:
    """Intrusion signatures and protocol enforcement; fixed SIDs, increasing in evaluation order."""
    return (
        Rule.build(
            "alert",
            "ssh",
            ("!$VPN_NET", "any", "->", "$HOME_NET", "any"),
            f"{Control.ACC_04} SSH into the tenant from outside the VPN range",
            100_001,
            [("flow", "to_server")],
        ),
        Rule.build(
            "drop",
            "tcp",
            ("$HOME_NET", "any", "->", "$EXTERNAL_NET", str(HTTPS_PORT)),
            f"{Control.EDGE_03} egress on port 443 that is not TLS",
            100_002,
            [("flow", "to_server,established"), ("app-layer-protocol", "!tls")],
        ),
        Rule.build(
            "drop",
            "tls",
            ("any", "any", "->", "any", "any"),
            f"{Control.EDGE_03} TLS client offering nothing newer than TLS 1.1",
            100_003,
            [("flow", "to_server,established"), ("ssl_version", "sslv2,sslv3,tls1.0,tls1.1")],
        ),
        Rule.build(
            "drop",
            "ssh",
            ("$HOME_NET", "any", "->", "$EXTERNAL_NET", "any"),
            f"{Control.ACC_04} SSH out of the tenant",
            100_004,
            [("flow", "to_server")],
        ),
        Rule.build(
            "drop",
            "http",
            ("$HOME_NET", "any", "->", "$EXTERNAL_NET", f"!{HTTP_PORT}"),
            f"{Control.EDGE_03} plain HTTP out of the tenant on a port other than 80",
            100_005,
            [("flow", "to_server,established")],
        ),
    )


def allow_sid(identity: str) -> int:
    """A SID that depends only on what the rule allows, so adding or removing others never renumbers it."""
    return ALLOW_SID_BASE + zlib.crc32(identity.encode()) % ALLOW_SID_SPAN


def _egress_rule(domain: str, protocol: EgressProtocol) -> Rule:
    # A leading dot means the domain and all its subdomains, as in AWS domain lists: `dotprefix` puts a dot in
    # front of the name so ".example.com" matches "example.com" and "a.example.com", never "badexample.com".
    name = domain.lstrip(".")
    if domain.startswith("."):
        match: list[Option] = [("dotprefix", None), ("content", f'"{domain}"'), ("endswith", None)]
        what = f"{name} and its subdomains"
    else:
        match = [("content", f'"{domain}"'), ("startswith", None), ("endswith", None)]
        what = name
    # The HTTP host buffer is already lowercase in Suricata; the TLS SNI is compared without case.
    buffer: list[Option] = [("tls.sni", None)] if protocol == "tls" else [("http.host", None)]
    return Rule.build(
        "pass",
        protocol,
        ("$HOME_NET", "any", "->", "$EXTERNAL_NET", str(EGRESS_PORTS[protocol])),
        f"{Control.NET_03} egress {protocol.upper()} to {what}",
        allow_sid(f"egress {protocol} {domain}"),
        [
            ("flow", "to_server,established"),
            *buffer,
            *match,
            *([("nocase", None)] if protocol == "tls" else []),
        ],
    )


def _ingress_rules(vpn_protocol: str, vpn_port: int) -> list[Rule]:
    # A pass applies to the whole flow only when it matches application-layer state; a plain header match
    # passes the matching packets alone, and the server's replies would meet the default drop. Hence the
    # ClientHello state for TLS and the request's protocol field for HTTP.
    web = [
        Rule.build(
            "pass",
            "tls",
            ("$EXTERNAL_NET", "any", "->", "$HOME_NET", str(HTTPS_PORT)),
            f"{Control.NET_03} ingress HTTPS to the load balancer",
            allow_sid(f"ingress tls {HTTPS_PORT}"),
            [("flow", "to_server,established"), ("ssl_state", "client_hello")],
        ),
        Rule.build(
            "pass",
            "http",
            ("$EXTERNAL_NET", "any", "->", "$HOME_NET", str(HTTP_PORT)),
            f"{Control.NET_03} ingress HTTP to the load balancer, which only redirects to HTTPS",
            allow_sid(f"ingress http {HTTP_PORT}"),
            [
                ("flow", "to_server,established"),
                ("http.protocol", None),
                ("content", '"HTTP/1."'),
                ("startswith", None),
            ],
        ),
    ]
    # OpenVPN has no Suricata parser: a port rule, matching both directions so that every packet of the flow
    # is passed, not only the client's.
    vpn = Rule.build(
        "pass",
        vpn_protocol,
        ("$EXTERNAL_NET", "any", "<>", "$HOME_NET", str(vpn_port)),
        f"{Control.ACC_01} ingress OpenVPN {vpn_protocol.upper()} {vpn_port} to the bastion",
        allow_sid(f"ingress {vpn_protocol} {vpn_port}"),
    )
    return [*web, vpn]


def firewall_rules(
    vpc_cidr: IPv4Network,
    vpn_client_cidr: IPv4Network,
    egress: Sequence[tuple[str, Sequence[EgressProtocol]]],
    tenant_rules: Sequence[Rule],
    vpn: tuple[str, int],
) -> FirewallPolicyRules:
    """The rule groups of the tenant's firewall policy: the baseline, the tenant's rules, the allow-list.

    `egress` lists (domain, protocols) to allow, `vpn` the bastion's (protocol, port).
    """
    home_net = (str(vpc_cidr),)
    ip_sets = {"HOME_NET": home_net, "VPN_NET": (str(vpn_client_cidr),)}
    allow = [_egress_rule(domain, protocol) for domain, protocols in egress for protocol in protocols]
    allow += _ingress_rules(*vpn)
    groups = [
        RuleGroup(
            "baseline",
            "Intrusion signatures and protocol enforcement",
            BASELINE_PRIORITY,
            _baseline_rules(),
            ip_sets,
        )
    ]
    if tenant_rules:
        groups.append(
            RuleGroup(
                "tenant",
                "The tenant's own rules",
                TENANT_PRIORITY,
                tuple(tenant_rules),
                ip_sets,
            )
        )
    sids = [rule.sid for rule in allow]
    if len(set(sids)) != len(sids):
        raise RuleError(
            "egressDomains", "two allow-list entries map to one SID: report this, it is a hash collision"
        )
    groups.append(
        RuleGroup(
            "allow",
            "Egress domain allow-list and the ingress the stack serves",
            ALLOW_PRIORITY,
            tuple(sorted(allow, key=lambda rule: rule.sid or 0)),
            ip_sets,
        )
    )
    policy = FirewallPolicyRules(home_net, tuple(groups))
    check_policy(policy)
    return policy
