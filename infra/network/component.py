"""TenantNetwork: the tenant's own VPC, four subnet tiers in every zone, flow logs and private AWS endpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.baseline import INTERNET
from infra.concerns import terraform_types
from infra.config import TenantConfig
from infra.iam import assume_role_policy
from infra.logs import encrypted_log_group
from infra.naming import Naming
from infra.network.config import SUBNET_TIERS, Tier, Zone

# The Terraform type of each resource type this component creates, for the checkov export of the stack
# (review/terraform_plan.py refuses a type no concern declares).
TERRAFORM_TYPES = terraform_types(
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    "aws:ec2/eip:Eip",
    "aws:ec2/flowLog:FlowLog",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/route:Route",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/vpc:Vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
)

# Reached privately so that admin tooling (SSM), key use and log delivery never leave the VPC.
INTERFACE_ENDPOINT_SERVICES = ("ssm", "ssmmessages", "ec2messages", "kms", "logs")


@dataclass(frozen=True)
class TenantNetworkArgs:
    naming: Naming
    config: TenantConfig
    flow_log_key_arn: pulumi.Input[str]
    interface_endpoint_services: tuple[str, ...] = field(default=INTERFACE_ENDPOINT_SERVICES)


@dataclass(frozen=True)
class ZoneSubnet:
    """One subnet and the route table that belongs to it alone."""

    zone: Zone
    tier: Tier
    subnet: aws.ec2.Subnet
    route_table: aws.ec2.RouteTable


class TenantNetwork(pulumi.ComponentResource):
    """VPC per tenant: public, firewall, private and data subnets in every zone, each with its own route table.

    Private subnets leave through their own zone's NAT gateway; data subnets have no route out at all.
    Internet-facing routes of the public and firewall tiers belong to ZoneFirewall, which puts the zone's
    firewall endpoint in the path.
    """

    vpc: aws.ec2.Vpc
    internet_gateway: aws.ec2.InternetGateway
    subnets: dict[tuple[Tier, str], ZoneSubnet]
    nat_gateways: dict[str, aws.ec2.NatGateway]

    def __init__(
        self, name: str, args: TenantNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("secure-tenant:network:TenantNetwork", name, None, opts)
        naming, config = args.naming, args.config
        child = pulumi.ResourceOptions(parent=self)

        self.vpc = aws.ec2.Vpc(
            naming.name("vpc"),
            cidr_block=str(config.vpc_cidr),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            opts=child,
        )
        vpc_child = pulumi.ResourceOptions(parent=self.vpc)
        # Taking over the default security group with no rules: nothing can be attached to it and talk.
        aws.ec2.DefaultSecurityGroup(naming.name("default-sg"), vpc_id=self.vpc.id, opts=vpc_child)
        self.internet_gateway = aws.ec2.InternetGateway(
            naming.name("igw"), vpc_id=self.vpc.id, opts=vpc_child
        )

        self.subnets = {}
        for zone in config.availability_zones:
            for tier in SUBNET_TIERS:
                self.subnets[(tier, zone.suffix)] = self._zone_subnet(naming, config, zone, tier)

        self.nat_gateways = {}
        for zone in config.availability_zones:
            public = self.subnets[("public", zone.suffix)]
            nat_ip = aws.ec2.Eip(
                naming.name("nat-ip", zone), domain="vpc", opts=pulumi.ResourceOptions(parent=public.subnet)
            )
            nat = aws.ec2.NatGateway(
                naming.name("nat", zone),
                subnet_id=public.subnet.id,
                allocation_id=nat_ip.id,
                opts=pulumi.ResourceOptions(parent=public.subnet, depends_on=[self.internet_gateway]),
            )
            self.nat_gateways[zone.suffix] = nat
            private = self.subnets[("private", zone.suffix)]
            aws.ec2.Route(
                naming.name("private-default", zone),
                route_table_id=private.route_table.id,
                destination_cidr_block=INTERNET,
                nat_gateway_id=nat.id,
                opts=pulumi.ResourceOptions(parent=private.route_table),
            )

        self._flow_logs(naming, config, args.flow_log_key_arn)
        self._endpoints(naming, config, args.interface_endpoint_services)
        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "subnetIds": {f"{tier}-{suffix}": s.subnet.id for (tier, suffix), s in self.subnets.items()},
            }
        )

    def tier(self, tier: Tier) -> list[ZoneSubnet]:
        """The subnets of one tier, in zone order."""
        return [subnet for (subnet_tier, _), subnet in self.subnets.items() if subnet_tier == tier]

    def _zone_subnet(self, naming: Naming, config: TenantConfig, zone: Zone, tier: Tier) -> ZoneSubnet:
        subnet = aws.ec2.Subnet(
            naming.name(tier, zone),
            vpc_id=self.vpc.id,
            availability_zone=zone.name,
            cidr_block=str(config.subnet_cidr(tier, zone)),
            map_public_ip_on_launch=False,
            tags={"tier": tier, "zone": zone.name},
            opts=pulumi.ResourceOptions(parent=self.vpc),
        )
        route_table = aws.ec2.RouteTable(
            naming.name(f"{tier}-rt", zone),
            vpc_id=self.vpc.id,
            tags={"tier": tier, "zone": zone.name},
            opts=pulumi.ResourceOptions(parent=subnet),
        )
        aws.ec2.RouteTableAssociation(
            naming.name(f"{tier}-rta", zone),
            subnet_id=subnet.id,
            route_table_id=route_table.id,
            opts=pulumi.ResourceOptions(parent=route_table),
        )
        return ZoneSubnet(zone, tier, subnet, route_table)

    def _flow_logs(self, naming: Naming, config: TenantConfig, key_arn: pulumi.Input[str]) -> None:
        log_group = encrypted_log_group(
            naming.name("flow-logs-group"),
            log_group_name=f"/{naming.prefix}/vpc-flow-logs",
            kms_key_arn=key_arn,
            retention_days=config.log_retention_days,
            parent=self,
        )
        role = aws.iam.Role(
            naming.name("flow-logs-role"),
            assume_role_policy=assume_role_policy("vpc-flow-logs.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            naming.name("flow-logs-write"),
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.ec2.FlowLog(
            naming.name("flow-logs"),
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _endpoints(self, naming: Naming, config: TenantConfig, services: tuple[str, ...]) -> None:
        inner_tiers = [s.route_table.id for s in self.subnets.values() if s.tier in ("private", "data")]
        aws.ec2.VpcEndpoint(
            naming.name("s3-endpoint"),
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{config.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=inner_tiers,
            opts=pulumi.ResourceOptions(parent=self),
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            naming.name("endpoints-sg"),
            vpc_id=self.vpc.id,
            description="HTTPS from inside the tenant VPC to AWS interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[str(config.vpc_cidr)],
                    description="HTTPS from the tenant VPC",
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        private_subnet_ids = [s.subnet.id for s in self.tier("private")]
        for service in services:
            aws.ec2.VpcEndpoint(
                naming.name(f"{service}-endpoint"),
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{config.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=private_subnet_ids,
                security_group_ids=[endpoint_sg.id],
                opts=pulumi.ResourceOptions(parent=self),
            )
