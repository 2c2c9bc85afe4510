"""TenantNetwork's policies: EU regions only, one tenant per stack (tags), and who can reach what.

Ranges are judged as sets (two halves of 0.0.0.0/0 are the internet, however split across rules); a security
group's inline and standalone rules are read together, and network ACLs in rule-number order.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from ipaddress import IPv4Network, IPv6Network
from itertools import pairwise
from typing import Any

from infra.baseline import EU_REGIONS
from infra.policy_registry import resource_policy, stack_policy
from infra.policy_view import (
    INSTANCE,
    LOAD_BALANCER_TYPES,
    SECURITY_GROUP,
    SG_RULE_TYPES,
    SUBNET,
    VPC,
    Malformed,
    Network,
    StackResource,
    StackView,
    as_list,
    describe_ranges,
    has_routable,
    is_world,
    known,
    mapping_list,
    subtract,
    to_network,
    to_number,
)

# Zone ids name the region in short: eu-west-1 zones are euw1-az1, euw1-az2...
EU_ZONE_ID_PREFIXES = frozenset(f"{a}{b[0]}{c}" for a, b, c in (r.split("-") for r in EU_REGIONS))
REQUIRED_TAGS = ("tenant", "environment")


# Ports that reach a host's administration: never from routable addresses, only through the VPN.
ADMIN_PORTS = (22, 3389)


# --- tags and regions ----------------------------------------------------------------------------------------


@cache
def is_taggable(resource_type: str) -> bool:
    """Whether the AWS resource takes tags: pulumi_aws generates `tags_all` exactly for those."""
    package, _, rest = resource_type.partition(":")
    if package != "aws" or "/" not in rest:
        return False
    module_path, _, class_name = rest.partition(":")
    try:
        module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    except ImportError:
        return False
    return hasattr(getattr(module, class_name, None), "tags_all")


def _region_problems(props: Mapping[str, Any], what: str) -> list[str]:
    problems = []
    region = props.get("region")
    if known(region) and region is not None:
        if not isinstance(region, str):
            raise Malformed(f"region {region!r} is not a region name")
        if region not in EU_REGIONS:
            problems.append(
                f"{what} region {region} is outside the EU: use one of {', '.join(sorted(EU_REGIONS))}"
            )
    zones = [*as_list(props.get("availabilityZone")), *as_list(props.get("availabilityZones"))]
    for zone in zones:
        if not known(zone):
            continue
        if not isinstance(zone, str) or not zone:
            raise Malformed(f"availability zone {zone!r} is not a zone name")
        if zone[:-1] not in EU_REGIONS:
            problems.append(f"availability zone {zone} is outside the EU")
    for zone_id in [*as_list(props.get("availabilityZoneId")), *as_list(props.get("availabilityZoneIds"))]:
        if known(zone_id) and str(zone_id).split("-az")[0] not in EU_ZONE_ID_PREFIXES:
            problems.append(f"availability zone id {zone_id} is outside the EU")
    return problems


@resource_policy("eu-region-only", "NET-02")
def eu_region_only(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every resource's own region (pulumi-aws per-resource `region`) and zones are in the EU."""
    if resource_type.startswith("pulumi:providers:"):
        return []
    return _region_problems(props, "resource")


@resource_policy("eu-providers-only", "NET-02")
def eu_providers_only(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every AWS provider names an EU region (a provider without one would follow the caller's environment)."""
    if resource_type != "pulumi:providers:aws":
        return []
    if props.get("region") is None:
        return ["AWS provider without a region: set region to an EU region"]
    return _region_problems(props, "provider")


@resource_policy("tenant-tags", "NET-01")
def tenant_tags(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every taggable resource carries the tenant and environment tags (single tenancy is visible)."""
    if not is_taggable(resource_type):
        return []
    tags = props.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise Malformed(f"tags {tags!r} is not a map")
    missing = [tag for tag in REQUIRED_TAGS if not tags.get(tag)]
    return [f"missing tag(s) {', '.join(missing)}"] if missing else []


@stack_policy("single-tenant", "NET-01")
def single_tenant(stack: StackView) -> list[str]:
    """One stack, one tenant and one environment: no resource is tagged for another."""
    problems = []
    for tag in REQUIRED_TAGS:
        values = {str(r.tag(tag)) for r in stack.resources if r.tag(tag)}
        if len(values) > 1:
            problems.append(f"resources are tagged {tag} = {', '.join(sorted(values))}: one stack serves one")
    return problems


# --- network: who can reach what -----------------------------------------------------------------------------

_PROTOCOLS = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


@dataclass(frozen=True)
class Rule:
    """One ingress allowance, normalised: protocol, port range, source ranges."""

    protocol: str
    low: int
    high: int
    sources: tuple[IPv4Network | IPv6Network, ...]


def _rule(props: Mapping[str, Any], what: str) -> Rule:
    raw = props.get("protocol", props.get("ipProtocol", "-1"))
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise Malformed(f"{what} protocol {raw!r} is not a protocol")
    text = str(int(raw)) if isinstance(raw, (int, float)) else raw.strip().lower()
    protocol = _PROTOCOLS.get(text, text)
    if protocol == "all":
        low, high = 0, 65535
    else:
        low = int(to_number(props.get("fromPort"), f"{what} fromPort", 0))
        high = int(to_number(props.get("toPort"), f"{what} toPort", 65535))
        if protocol in ("icmp", "icmpv6") or low == -1:
            low, high = 0, 65535
    sources = [*as_list(props.get("cidrBlocks")), *as_list(props.get("ipv6CidrBlocks"))]
    sources += [
        props[key] for key in ("cidrIpv4", "cidrIpv6", "cidrBlock", "ipv6CidrBlock") if props.get(key)
    ]
    return Rule(protocol, low, high, tuple(to_network(s, f"{what} source") for s in sources if known(s)))


def world_open(rules: list[Rule]) -> list[tuple[str, int, int, tuple[IPv4Network | IPv6Network, ...]]]:
    """(protocol, low, high, sources) of every port span whose sources, across all the rules, are the internet."""
    spans: list[tuple[str, int, int, tuple[IPv4Network | IPv6Network, ...]]] = []
    for protocol in sorted({r.protocol for r in rules if r.protocol != "all"} | {"tcp", "udp", "all"}):
        relevant = [r for r in rules if r.protocol in (protocol, "all")]
        edges = sorted({r.low for r in relevant} | {r.high + 1 for r in relevant})
        for low, next_low in pairwise(edges):
            sources = tuple(s for r in relevant if r.low <= low and next_low - 1 <= r.high for s in r.sources)
            if sources and is_world(sources):
                if spans and spans[-1][0] == protocol and spans[-1][2] == low - 1 and spans[-1][3] == sources:
                    spans[-1] = (protocol, spans[-1][1], next_low - 1, sources)
                else:
                    spans.append((protocol, low, next_low - 1, sources))
    if any(protocol == "all" for protocol, *_ in spans):  # every protocol: say it once
        return [span for span in spans if span[0] == "all"]
    return spans


def security_group_rules(stack: StackView) -> dict[str, tuple[StackResource | None, list[Rule]]]:
    """Ingress rules by security group (inline and standalone rules together), keyed by the group's URN or id."""
    groups: dict[str, tuple[StackResource | None, list[Rule]]] = {}
    for group in stack.of(SECURITY_GROUP):
        rules = [
            _rule(r, f"{group.name} ingress") for r in mapping_list(group.props.get("ingress"), "ingress")
        ]
        groups[group.urn] = (group, rules)
    for rule in stack.of(*SG_RULE_TYPES):
        if rule.type == "aws:ec2/securityGroupRule:SecurityGroupRule" and rule.props.get("type") != "ingress":
            continue
        targets = [t for t in stack.targets(rule, "securityGroupId") if t.type == SECURITY_GROUP]
        key = targets[0].urn if targets else f"{rule.props.get('securityGroupId')}"
        owner, rules = groups.get(key, (None, []))
        groups[key] = (owner, [*rules, _rule(rule.props, rule.name)])
    return groups


def public_entry(stack: StackView, group: StackResource | None) -> str | None:
    """What a security group fronts: 'load balancer' when only internet-facing LBs use it, 'bastion' when only
    instances with an Elastic IP do, None otherwise (or when unused)."""
    if group is None:
        return None
    balancers = stack.users(group, LOAD_BALANCER_TYPES, "securityGroups")
    instances = stack.users(group, (INSTANCE,), "vpcSecurityGroupIds")
    if balancers and not instances and all(lb.props.get("internal") is not True for lb in balancers):
        return "load balancer"
    eips = stack.of("aws:ec2/eip:Eip")
    if (
        instances
        and not balancers
        and all(any(stack.refers(e, "instance", i) for e in eips) for i in instances)
    ):
        return "bastion"
    return None


@stack_policy("no-world-ingress", "NET-06")
def no_world_ingress(stack: StackView) -> list[str]:
    """Nothing is open to the internet (however the range is split across rules) except HTTP(S) on the security
    group of internet-facing load balancers and one VPN port on the security group of the Elastic-IP bastion.

    The VPN port is read from the stack, not configured in the pack: the one port its public instance opens.
    """
    problems = []
    for key, (group, rules) in security_group_rules(stack).items():
        name = group.name if group else key
        entry = public_entry(stack, group)
        open_spans = world_open(rules)
        allowed_vpn = [
            span for span in open_spans if span[0] in ("tcp", "udp") and span[1] == span[2] and span[1] != 22
        ]
        for protocol, low, high, sources in open_spans:
            single = low == high
            if entry == "load balancer" and protocol == "tcp" and single and low in (80, 443):
                continue
            if (
                entry == "bastion"
                and len(allowed_vpn) == 1
                and (protocol, low, high, sources) == allowed_vpn[0]
            ):
                continue
            ports = f"{low}" if single else f"{low}-{high}"
            problems.append(
                f"security group {name}: {protocol} {ports} is open to the internet ({describe_ranges(sources)}): "
                "admit specific ranges"
            )
    return problems


@stack_policy("admin-ports-only-from-private-ranges", "ACC-04")
def admin_ports_only_from_private_ranges(stack: StackView) -> list[str]:
    """SSH and RDP are reachable only from private ranges (the VPN clients), never from a routable address."""
    problems = []
    for key, (group, rules) in security_group_rules(stack).items():
        for rule in rules:
            ports = [p for p in ADMIN_PORTS if rule.low <= p <= rule.high and rule.protocol in ("tcp", "all")]
            routable = [s for s in rule.sources if has_routable([s])]
            if ports and routable:
                problems.append(
                    f"security group {group.name if group else key}: port {ports[0]} is open to routable "
                    f"addresses {describe_ranges(routable)}: admit the VPN client range only"
                )
    return problems


def _acl_entries(stack: StackView) -> dict[str, tuple[str, list[tuple[float, bool, Rule]]]]:
    """Ingress entries (rule number, allow?, rule) by network ACL, inline and standalone together."""
    acls: dict[str, tuple[str, list[tuple[float, bool, Rule]]]] = {}
    for acl in stack.of("aws:ec2/networkAcl:NetworkAcl", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"):
        entries = [
            (
                to_number(e.get("ruleNo"), "ruleNo", 0),
                e.get("action") == "allow",
                _rule(e, f"{acl.name} ingress"),
            )
            for e in mapping_list(acl.props.get("ingress"), "ingress")
        ]
        acls[acl.urn] = (acl.name, entries)
    for entry in stack.of("aws:ec2/networkAclRule:NetworkAclRule"):
        if entry.props.get("egress") is True:
            continue
        targets = stack.targets(entry, "networkAclId")
        key = targets[0].urn if targets else str(entry.props.get("networkAclId"))
        name, entries = acls.get(key, (targets[0].name if targets else key, []))
        number = to_number(entry.props.get("ruleNumber"), f"{entry.name} ruleNumber", 0)
        allow = entry.props.get("ruleAction") == "allow"
        acls[key] = (name, [*entries, (number, allow, _rule(entry.props, entry.name))])
    return acls


@stack_policy("nacl-no-world-admin-ports", "NET-06")
def nacl_no_world_admin_ports(stack: StackView) -> list[str]:
    """No network ACL lets the internet (however split) reach SSH or RDP, judged in rule-number order: a range
    denied by an earlier rule is not allowed by a later one."""
    problems = []
    for name, entries in _acl_entries(stack).values():
        for port in ADMIN_PORTS:
            denied: list[Network] = []
            allowed: list[Network] = []
            for _number_, allow, rule in sorted(entries, key=lambda entry: entry[0]):
                if rule.protocol not in ("tcp", "all") or not rule.low <= port <= rule.high:
                    continue
                if allow:
                    allowed += subtract(rule.sources, denied)
                else:
                    denied += rule.sources
            if is_world(allowed):
                problems.append(f"network ACL {name} allows the internet to port {port}")
    return problems


@stack_policy("default-security-group-closed", "NET-06")
def default_security_group_closed(stack: StackView) -> list[str]:
    """Every VPC's default security group is managed by the stack and admits nothing."""
    problems = []
    defaults = stack.of("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    for vpc in stack.of(VPC):
        managed = [d for d in defaults if stack.refers(d, "vpcId", vpc)]
        if not managed:
            problems.append(
                f"VPC {vpc.name}: its default security group is left open (declare it with no rules)"
            )
    for group in defaults:
        if as_list(group.props.get("ingress")) or as_list(group.props.get("egress")):
            problems.append(f"default security group {group.name} has rules: remove them")
    return problems


@resource_policy("no-public-ip-on-launch", "NET-03")
def no_public_ip_on_launch(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No subnet or instance hands out public addresses: public entries are explicit (ALB, Elastic IP)."""
    if resource_type == SUBNET and props.get("mapPublicIpOnLaunch") in (True, "true"):
        return ["subnet maps a public IP on launch: set map_public_ip_on_launch=False"]
    if resource_type == INSTANCE and props.get("associatePublicIpAddress") in (True, "true"):
        return ["instance gets a public IP: use an Elastic IP behind Shield, or none"]
    if resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        interfaces = mapping_list(props.get("networkInterfaces"), "networkInterfaces")
        if any(i.get("associatePublicIpAddress") in (True, "true") for i in interfaces):
            return ["launch template gives instances a public IP"]
    return []


@stack_policy("flow-logs-on-every-vpc", "NET-05")
def flow_logs_on_every_vpc(stack: StackView) -> list[str]:
    """Every VPC has a flow log of ALL traffic (accepted and rejected)."""
    problems = []
    for vpc in stack.of(VPC):
        logs = [log for log in stack.of("aws:ec2/flowLog:FlowLog") if stack.refers(log, "vpcId", vpc)]
        if not logs:
            problems.append(f"VPC {vpc.name} has no flow log")
        elif not any(log.props.get("trafficType") == "ALL" for log in logs):
            problems.append(f"VPC {vpc.name} logs only some traffic: set traffic_type='ALL'")
    return problems
