"""What a stack makes reachable from the internet, and what a change adds to it or takes away.

Judged by effect, with the pack's own reading of security groups (ranges as sets, rules split across resources):
every port span a security group opens to the internet, with what the group fronts (an internet-facing load
balancer, the bastion's VPN port); every listener of an internet-facing load balancer; every public IP (Elastic
IPs, addresses given at launch) and what it lets in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from infra.network.policies import Rule, public_entry, security_group_rules, world_open
from infra.policy_view import (
    INSTANCE,
    LISTENER_TYPES,
    LOAD_BALANCER_TYPES,
    NON_ROUTABLE,
    SECURITY_GROUP,
    SUBNET,
    Malformed,
    StackResource,
    StackView,
    describe_ranges,
    is_world,
    subtract,
)
from review.saved import SavedResources

EIP = "aws:ec2/eip:Eip"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"


@dataclass(frozen=True, order=True)
class Exposure:
    """One way in from the internet: `protocol` `ports` from `source` reach `target` through `path`."""

    protocol: str
    ports: str
    source: str  # "internet", or the routable ranges admitted
    path: str  # what admits it: "security group acme-prod-alb-sg", "listener acme-prod-https"
    target: str  # what it reaches: "load balancer acme-prod-alb", "VPN on instance acme-prod-bastion-a"


INTERNET = "internet"
# A way in through a security group: (protocol, ports, source).
Opening = tuple[str, str, str]


def view(resources: SavedResources) -> StackView:
    """The pack's view of a saved preview: inputs, with the id and ARN other resources name a resource by."""
    return StackView(
        [
            StackResource(
                type=resource["type"],
                name=resource["name"],
                urn=urn,
                props={**resource["inputs"], **{k: resource[k] for k in ("id", "arn") if k in resource}},
            )
            for urn, resource in resources.items()
        ]
    )


def _ports(low: int, high: int) -> str:
    return "all" if (low, high) == (0, 65535) else str(low) if low == high else f"{low}-{high}"


def _names(resources: Iterable[StackResource], what: str) -> str:
    return ", ".join(f"{what} {r.name}" for r in sorted(resources, key=lambda r: r.name))


def _openings(rules: list[Rule]) -> list[Opening]:
    """What the rules admit from routable addresses: the internet (however split across rules), or ranges."""
    found = {(protocol, _ports(low, high), INTERNET) for protocol, low, high, _ in world_open(rules)}
    for rule in rules:
        routable = subtract(rule.sources, list(NON_ROUTABLE))
        if routable and not is_world(routable):
            found.add((rule.protocol, _ports(rule.low, rule.high), describe_ranges(routable)))
    return sorted(found)


def _security_groups(stack: StackView, openings: dict[str, list[Opening]]) -> list[Exposure]:
    found = []
    for key, (group, _rules) in security_group_rules(stack).items():
        path = f"security group {group.name if group else key}"
        balancers = stack.users(group, LOAD_BALANCER_TYPES, "securityGroups") if group else []
        instances = stack.users(group, (INSTANCE,), "vpcSecurityGroupIds") if group else []
        users = (_names(balancers, "load balancer"), _names(instances, "instance"))
        reached = ", ".join(u for u in users if u) or "no resource of this stack uses it"
        bastion = public_entry(stack, group) == "bastion"
        for protocol, ports, source in openings[key]:
            vpn = bastion and protocol in ("tcp", "udp") and ports.isdigit() and ports != "22"
            found.append(Exposure(protocol, ports, source, path, f"VPN on {reached}" if vpn else reached))
    return found


def _listeners(stack: StackView) -> list[Exposure]:
    found = []
    for listener in stack.of(*LISTENER_TYPES):
        for balancer in stack.targets(listener, "loadBalancerArn"):
            if balancer.type in LOAD_BALANCER_TYPES and balancer.props.get("internal") is not True:
                protocol = str(listener.props.get("protocol", "?")).lower()
                port = listener.props.get("port")
                ports = str(int(port)) if isinstance(port, (int, float)) else str(port)
                path, target = f"listener {listener.name}", f"load balancer {balancer.name}"
                found.append(Exposure(protocol, ports, INTERNET, path, target))
    return found


def _public_ips(stack: StackView, openings: dict[str, list[Opening]]) -> list[Exposure]:
    """Elastic IPs and launch-time public IPs, with what their instance's security groups admit."""
    found: list[Exposure] = []

    def instance_openings(instance: StackResource, path: str) -> None:
        groups = [g for g in stack.targets(instance, "vpcSecurityGroupIds") if g.type == SECURITY_GROUP]
        admitted = sorted({opening for g in groups for opening in openings.get(g.urn, [])})
        target = f"instance {instance.name}"
        found.extend(Exposure(*opening, path, target) for opening in admitted)
        if not admitted:
            found.append(Exposure("-", "none", "-", path, target))

    for eip in stack.of(EIP):
        instances = [t for t in stack.targets(eip, "instance") if t.type == INSTANCE]
        for instance in instances:
            instance_openings(instance, f"Elastic IP {eip.name}")
        if not instances:
            nat = [n for n in stack.of(NAT_GATEWAY) if stack.refers(n, "allocationId", eip)]
            target = _names(nat, "NAT gateway") + " (outbound only)" if nat else "nothing (unattached)"
            found.append(Exposure("-", "none", "-", f"Elastic IP {eip.name}", target))
    for instance in stack.of(INSTANCE):
        if instance.props.get("associatePublicIpAddress") is True:
            instance_openings(instance, "public IP at launch")
    for subnet in stack.of(SUBNET):
        if subnet.props.get("mapPublicIpOnLaunch") is True:
            path = "public IP on launch"
            found.append(Exposure("-", "what its instances open", INTERNET, path, f"subnet {subnet.name}"))
    return found


def exposures(resources: SavedResources) -> list[Exposure]:
    """Every way in from the internet the resources declare, sorted; a value no API would accept is named."""
    stack = view(resources)
    try:
        openings = {key: _openings(rules) for key, (_group, rules) in security_group_rules(stack).items()}
        return sorted({*_security_groups(stack, openings), *_listeners(stack), *_public_ips(stack, openings)})
    except Malformed as error:
        return [Exposure("?", "?", "?", "cannot be judged", str(error))]


@dataclass(frozen=True)
class ExposureDiff:
    now: list[Exposure]
    added: frozenset[Exposure]
    removed: list[Exposure]

    def status(self, exposure: Exposure) -> str:
        return "new" if exposure in self.added else ""


def diff(before: SavedResources, after: SavedResources) -> ExposureDiff:
    """The exposures now, which of them are new, and which are gone (a first preview: all new)."""
    old, new = exposures(before), exposures(after)
    return ExposureDiff(new, frozenset(new) - set(old), sorted(set(old) - set(new)))
