"""ZoneFirewall's policies: an endpoint in every zone with every public subnet routed through its own zone's
endpoint (public by its routes, not its tag), no route around it, strict order, logging, encryption with a key
of this stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from infra.keys.policies import Place, encryption_policy
from infra.policy_registry import resource_policy, stack_policy
from infra.policy_view import (
    FIREWALL,
    FIREWALL_POLICY,
    RULE_GROUP,
    SUBNET,
    StackResource,
    StackView,
    as_list,
    describe_ranges,
    dig,
    has_routable,
    is_world,
    known,
    mapping_list,
    to_network,
)


def _firewall_encryption(_stack: StackView, resource: StackResource) -> list[Place]:
    config = resource.props.get("encryptionConfiguration")
    if not isinstance(config, Mapping) or config.get("type") != "CUSTOMER_KMS":
        kind = config.get("type") if isinstance(config, Mapping) else "AWS_OWNED_KMS_KEY"
        return [
            (
                resource,
                "encryptionConfiguration",
                None,
                f"encryption {kind} is not CUSTOMER_KMS with a tenant key",
            )
        ]
    return [(resource, "encryptionConfiguration", config.get("keyId"), None)]


network_firewall_encrypted = encryption_policy(
    "network-firewall-encrypted-with-stack-key",
    "Network firewalls, their policies and rule groups are encrypted with a key of this stack.",
    (FIREWALL, FIREWALL_POLICY, RULE_GROUP),
    _firewall_encryption,
)


@dataclass(frozen=True)
class Route:
    destination: IPv4Network | IPv6Network
    resource: StackResource
    prop: str  # the property naming the target
    target: Any


_ROUTE_TARGETS = ("gatewayId", "vpcEndpointId", "natGatewayId", "networkInterfaceId", "transitGatewayId")


def _routes_by_table(stack: StackView) -> dict[str, list[Route]]:
    """Routes (standalone and inline) by route table URN."""
    tables: dict[str, list[Route]] = {t.urn: [] for t in stack.of("aws:ec2/routeTable:RouteTable")}
    for table in stack.of("aws:ec2/routeTable:RouteTable"):
        for inline in mapping_list(table.props.get("routes"), "routes"):
            destination = inline.get("cidrBlock") or inline.get("ipv6CidrBlock")
            if not known(destination):  # a prefix list, or not known in a preview
                continue
            prop = next((p for p in _ROUTE_TARGETS if inline.get(p)), "gatewayId")
            tables[table.urn].append(
                Route(to_network(destination, "route"), table, "routes", inline.get(prop))
            )
    for route in stack.of("aws:ec2/route:Route"):
        destination = route.props.get("destinationCidrBlock") or route.props.get("destinationIpv6CidrBlock")
        if not known(destination):
            continue
        prop = next((p for p in _ROUTE_TARGETS if p in route.props or p in route.property_dependencies), "")
        for table in stack.targets(route, "routeTableId"):
            tables.setdefault(table.urn, []).append(
                Route(
                    to_network(destination, f"{route.name} destination"), route, prop, route.props.get(prop)
                )
            )
    return tables


def _subnet_routes(stack: StackView) -> dict[str, list[Route]]:
    """The routes each subnet uses: its associated table's, or its VPC's main table's."""
    tables = _routes_by_table(stack)
    main: dict[str, str] = {}
    for association in stack.of("aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation"):
        for vpc in stack.targets(association, "vpcId"):
            for table in stack.targets(association, "routeTableId"):
                main[vpc.urn] = table.urn
    associations = stack.of("aws:ec2/routeTableAssociation:RouteTableAssociation")
    routes: dict[str, list[Route]] = {}
    for subnet in stack.of(SUBNET):
        table_urns = [
            t.urn
            for a in associations
            if stack.refers(a, "subnetId", subnet)
            for t in stack.targets(a, "routeTableId")
        ]
        if not table_urns:
            table_urns = [main[v.urn] for v in stack.targets(subnet, "vpcId") if v.urn in main]
        routes[subnet.urn] = [route for urn in table_urns for route in tables.get(urn, [])]
    return routes


def _goes_to(stack: StackView, route: Route, types: tuple[str, ...]) -> bool:
    if route.resource.type == "aws:ec2/route:Route":
        return any(t.type in types for t in stack.targets(route.resource, route.prop))
    return any(t.type in types for t in stack.targets(route.resource, route.prop, route.target))


def _to_internet_gateway(stack: StackView, route: Route) -> bool:
    literal = isinstance(route.target, str) and route.target.startswith("igw-")
    return literal or _goes_to(stack, route, ("aws:ec2/internetGateway:InternetGateway",))


def _to_firewall(stack: StackView, route: Route) -> bool:
    """The route's target is a firewall endpoint (by id once known, by dependency on the firewall before)."""
    endpoints = {e for fw in stack.of(FIREWALL) for e in _endpoint_by_zone(fw).values()}
    return route.target in endpoints or _goes_to(stack, route, (FIREWALL,))


def _firewall_subnets(stack: StackView) -> set[str]:
    subnets = set()
    for firewall in stack.of(FIREWALL):
        for mapping in mapping_list(firewall.props.get("subnetMappings"), "subnetMappings"):
            subnets |= {s.urn for s in stack.targets(firewall, "subnetMappings", mapping.get("subnetId"))}
    return subnets


def public_subnets(stack: StackView) -> list[StackResource]:
    """Subnets the internet reaches: tagged public, or routing routable destinations to an internet gateway or
    a firewall endpoint (whatever their tags say)."""
    routes = _subnet_routes(stack)
    firewall_subnets = _firewall_subnets(stack)
    public = []
    for subnet in stack.of(SUBNET):
        if subnet.urn in firewall_subnets:
            continue
        internet = [
            r
            for r in routes.get(subnet.urn, [])
            if has_routable([r.destination]) and (_to_internet_gateway(stack, r) or _to_firewall(stack, r))
        ]
        if subnet.tag("tier") == "public" or internet:
            public.append(subnet)
    return public


@stack_policy("no-direct-internet-route", "NET-03")
def no_direct_internet_route(stack: StackView) -> list[str]:
    """Only the firewall's own subnets route to the internet gateway: any other subnet sending routable traffic
    straight to it (0.0.0.0/0, its halves, or any public range) bypasses the network firewall."""
    firewall_subnets = _firewall_subnets(stack)
    problems = []
    for subnet_urn, routes in _subnet_routes(stack).items():
        if subnet_urn in firewall_subnets:
            continue
        direct = [
            r.destination for r in routes if has_routable([r.destination]) and _to_internet_gateway(stack, r)
        ]
        if direct:
            name = next(s.name for s in stack.of(SUBNET) if s.urn == subnet_urn)
            problems.append(
                f"subnet {name} routes {describe_ranges(direct)} straight to an internet gateway, past the firewall"
            )
    return problems


def _endpoint_by_zone(firewall: StackResource) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    for status in mapping_list(firewall.props.get("firewallStatuses"), "firewallStatuses"):
        for state in mapping_list(status.get("syncStates"), "syncStates"):
            endpoint = dig(state, "attachments", "endpointId")
            if state.get("availabilityZone") and endpoint:
                endpoints[state["availabilityZone"]] = endpoint
    return endpoints


@stack_policy("firewall-in-every-zone", "NET-03")
def firewall_in_every_zone(stack: StackView) -> list[str]:
    """A network firewall endpoint in every zone of the VPC, and every public subnet (by its routes or its tag)
    sends all its internet traffic through its own zone's endpoint."""
    public = public_subnets(stack)
    if not public:
        return []
    firewalls = stack.of(FIREWALL)
    if not firewalls:
        return ["public subnets exist but no network firewall does"]
    firewall = firewalls[0]
    subnets = stack.of(SUBNET)
    fw_subnets = _firewall_subnets(stack)
    firewall_zones = {s.props.get("availabilityZone") for s in subnets if s.urn in fw_subnets}
    zones = sorted({str(s.props.get("availabilityZone")) for s in subnets if s.props.get("availabilityZone")})
    violations = [f"zone {zone} has no firewall endpoint" for zone in zones if zone not in firewall_zones]
    endpoints = _endpoint_by_zone(firewall)
    routes = _subnet_routes(stack)
    for subnet in public:
        zone = subnet.props.get("availabilityZone")
        internet = [r for r in routes.get(subnet.urn, []) if has_routable([r.destination])]
        if not internet or not is_world(r.destination for r in internet):
            violations.append(f"public subnet {subnet.name} has no default route through the firewall")
            continue
        for route in internet:
            if endpoints:
                if route.target != endpoints.get(str(zone)):
                    violations.append(
                        f"public subnet {subnet.name} in {zone} is routed to {route.target}, not its zone's endpoint"
                    )
            elif not _to_firewall(stack, route):
                violations.append(
                    f"public subnet {subnet.name} default route does not go through the firewall"
                )
    return violations


@resource_policy("network-firewall-protected", "NET-03")
def network_firewall_protected(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Network firewalls cannot be deleted or moved out of their subnets by accident."""
    if resource_type != FIREWALL:
        return []
    return [
        f"{flag} is off"
        for flag in ("deleteProtection", "subnetChangeProtection")
        if props.get(flag) is not True
    ]


@resource_policy("network-firewall-strict-order", "NET-04")
def network_firewall_strict_order(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Firewall policies and stateful rule groups evaluate in strict order, default drop, and stateless traffic
    is all handed to the stateful engine."""
    problems = []
    if resource_type == FIREWALL_POLICY:
        policy = props.get("firewallPolicy") or {}
        if dig(policy, "statefulEngineOptions", "ruleOrder") != "STRICT_ORDER":
            problems.append("stateful rule order is not STRICT_ORDER")
        defaults = as_list(dig(policy, "statefulDefaultActions"))
        if not {"aws:drop_established", "aws:drop_strict"} & set(defaults):
            problems.append("no stateful default drop (aws:drop_established or aws:drop_strict)")
        for key in ("statelessDefaultActions", "statelessFragmentDefaultActions"):
            if as_list(dig(policy, key)) != ["aws:forward_to_sfe"]:
                problems.append(f"{key} is not [aws:forward_to_sfe]: traffic would skip inspection")
    elif (
        resource_type == RULE_GROUP
        and props.get("type") == "STATEFUL"
        and dig(props, "ruleGroup", "statefulRuleOptions", "ruleOrder") != "STRICT_ORDER"
    ):
        problems.append("stateful rule group order is not STRICT_ORDER")
    return problems


@stack_policy("network-firewall-uses-stack-policy", "NET-04")
def network_firewall_uses_stack_policy(stack: StackView) -> list[str]:
    """Every firewall runs a firewall policy declared (and so checked) in this stack."""
    return [
        f"firewall {fw.name} runs a firewall policy that is not declared in this stack"
        for fw in stack.of(FIREWALL)
        if not any(t.type == FIREWALL_POLICY for t in stack.targets(fw, "firewallPolicyArn"))
    ]


@stack_policy("network-firewall-logging", "NET-04")
def network_firewall_logging(stack: StackView) -> list[str]:
    """Every firewall logs its alerts and its flows."""
    problems = []
    configs = stack.of("aws:networkfirewall/loggingConfiguration:LoggingConfiguration")
    for firewall in stack.of(FIREWALL):
        types = {
            d.get("logType")
            for c in configs
            if stack.refers(c, "firewallArn", firewall)
            for d in mapping_list(
                dig(c.props, "loggingConfiguration", "logDestinationConfigs"), "logDestinationConfigs"
            )
        }
        missing = {"ALERT", "FLOW"} - types
        if missing:
            problems.append(f"firewall {firewall.name} does not log {', '.join(sorted(missing))}")
    return problems
