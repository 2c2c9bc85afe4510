"""TenantNetwork, evaluated through the real program under mocks, for 2 and 3 zones."""

from __future__ import annotations

import json

from infra.network.config import SUBNET_TIERS
from infra.network.policies import is_taggable
from review.offline import DeclaredResource, StackSnapshot
from tests.stacks import named, prefix


def zones_of(stack: StackSnapshot) -> list[str]:
    return list(stack.outputs["zones"])


def subnet(stack: StackSnapshot, tier: str, zone: str) -> DeclaredResource:
    return named(stack, tier, zone)


def test_one_vpc_per_tenant_with_dns(example_stack: StackSnapshot) -> None:
    (vpc,) = example_stack.of_type("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == example_stack.outputs["vpcCidr"]
    assert vpc.inputs["enableDnsSupport"] and vpc.inputs["enableDnsHostnames"]


def test_every_zone_has_a_subnet_of_every_tier_in_that_zone(example_stack: StackSnapshot) -> None:
    zones = zones_of(example_stack)
    assert len(example_stack.of_type("aws:ec2/subnet:Subnet")) == len(SUBNET_TIERS) * len(zones)
    for zone in zones:
        for tier in SUBNET_TIERS:
            declared = subnet(example_stack, tier, zone)
            assert declared.inputs["availabilityZone"] == zone
            assert declared.inputs["tags"]["tier"] == tier
            assert declared.inputs["mapPublicIpOnLaunch"] is False


def test_each_subnet_has_its_own_route_table(example_stack: StackSnapshot) -> None:
    associations = [
        # The IGW's edge route table (issue 3) is associated with the gateway, not with a subnet.
        a
        for a in example_stack.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if "subnetId" in a.inputs
    ]
    subnet_ids = [a.inputs["subnetId"] for a in associations]
    table_ids = [a.inputs["routeTableId"] for a in associations]
    assert len(set(subnet_ids)) == len(subnet_ids) == len(example_stack.of_type("aws:ec2/subnet:Subnet"))
    assert len(set(table_ids)) == len(table_ids), "a route table is shared between subnets"


def test_private_subnets_leave_through_their_own_zones_nat(example_stack: StackSnapshot) -> None:
    for zone in zones_of(example_stack):
        suffix = zone[-1]
        route = example_stack.named(f"{prefix(example_stack)}-private-default-{suffix}")
        nat = example_stack.named(f"{prefix(example_stack)}-nat-{suffix}")
        assert (
            route.inputs["routeTableId"]
            == example_stack.named(f"{prefix(example_stack)}-private-rt-{suffix}").outputs["id"]
        )
        assert route.inputs["natGatewayId"] == nat.outputs["id"]
        assert nat.inputs["subnetId"] == subnet(example_stack, "public", zone).outputs["id"]


def test_data_subnets_have_no_route_out(example_stack: StackSnapshot) -> None:
    data_tables = {
        r.outputs["id"]
        for r in example_stack.of_type("aws:ec2/routeTable:RouteTable")
        if "-data-rt-" in r.name
    }
    routes_out = [
        r for r in example_stack.of_type("aws:ec2/route:Route") if r.inputs["routeTableId"] in data_tables
    ]
    assert data_tables and not routes_out


def test_default_security_group_has_no_rules(example_stack: StackSnapshot) -> None:
    (default_sg,) = example_stack.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not default_sg.inputs.get("ingress") and not default_sg.inputs.get("egress")


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_kept_twelve_months(
    example_stack: StackSnapshot,
) -> None:
    (flow_log,) = example_stack.of_type("aws:ec2/flowLog:FlowLog")
    (vpc,) = example_stack.of_type("aws:ec2/vpc:Vpc")
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["vpcId"] == vpc.outputs["id"]
    group = next(
        g
        for g in example_stack.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.outputs["arn"] == flow_log.inputs["logDestination"]
    )
    assert group.inputs["retentionInDays"] >= 400
    logs_key = named(example_stack, "logs-key")
    assert group.inputs["kmsKeyId"] == logs_key.outputs["arn"]


def test_logs_key_lets_cloudwatch_use_it_only_for_this_tenants_log_groups(
    example_stack: StackSnapshot,
) -> None:
    own = prefix(example_stack)
    policy = json.loads(named(example_stack, "logs-key").inputs["policy"])
    (logs,) = [s for s in policy["Statement"] if s["Principal"].get("Service", "").startswith("logs.")]
    patterns = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert all(f":log-group:/{own}/" in p or f":log-group:aws-waf-logs-{own}" in p for p in patterns)


def test_s3_is_reached_through_a_gateway_endpoint_from_private_and_data_tiers(
    example_stack: StackSnapshot,
) -> None:
    (s3,) = [
        e
        for e in example_stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs["serviceName"].endswith(".s3")
    ]
    inner_tables = {
        r.outputs["id"]
        for r in example_stack.of_type("aws:ec2/routeTable:RouteTable")
        if r.inputs["tags"]["tier"] in ("private", "data")
    }
    assert s3.inputs["vpcEndpointType"] == "Gateway"
    assert set(s3.inputs["routeTableIds"]) == inner_tables


def test_interface_endpoints_with_private_dns_in_every_zone(example_stack: StackSnapshot) -> None:
    region = example_stack.outputs["region"]
    interface = {
        e.inputs["serviceName"]: e
        for e in example_stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs["vpcEndpointType"] == "Interface"
    }
    assert set(interface) == {
        f"com.amazonaws.{region}.{s}" for s in ("ssm", "ssmmessages", "ec2messages", "kms", "logs")
    }
    private_ids = {subnet(example_stack, "private", zone).outputs["id"] for zone in zones_of(example_stack)}
    for endpoint in interface.values():
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert set(endpoint.inputs["subnetIds"]) == private_ids


def test_every_resource_name_and_tag_carries_tenant_and_environment(example_stack: StackSnapshot) -> None:
    # Taggable as the program and the pack see it: the AWS resource takes tags (pulumi_aws generates tags_all).
    own = f"{prefix(example_stack)}-"
    types = {r.type for r in example_stack.resources if r.custom}
    assert {"aws:ec2/vpc:Vpc", "aws:ec2/route:Route"} <= types and not is_taggable("aws:ec2/route:Route")
    for resource in example_stack.resources:
        assert resource.name.startswith(own), resource.name
        if resource.custom and is_taggable(resource.type):
            tags = resource.inputs.get("tags")
            assert tags, f"{resource.type} {resource.name} has no tags"
            assert tags["tenant"] == example_stack.outputs["tenant"]
            assert tags["environment"] == example_stack.outputs["environment"]
            assert tags["Name"] == resource.name


def test_every_resource_belongs_to_a_component(example_stack: StackSnapshot) -> None:
    orphans = [r.name for r in example_stack.resources if r.custom and example_stack.component_of(r) is None]
    assert orphans == []
