"""ZoneFirewall: AWS Network Firewall with an endpoint in every zone, and each zone's internet path through it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.baseline import INTERNET
from infra.concerns import terraform_types
from infra.firewall.limits import reserved_capacity
from infra.firewall.rules import FirewallPolicyRules, RuleGroup
from infra.logs import encrypted_log_group
from infra.naming import Naming
from infra.network.config import Zone

# The Terraform type of each resource type this component creates, for the checkov export of the stack
# (review/terraform_plan.py refuses a type no concern declares).
TERRAFORM_TYPES = terraform_types(
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:ec2/route:Route",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:networkfirewall/firewall:Firewall",
    "aws:networkfirewall/firewallPolicy:FirewallPolicy",
    "aws:networkfirewall/loggingConfiguration:LoggingConfiguration",
    "aws:networkfirewall/ruleGroup:RuleGroup",
)

# Every packet goes to the stateful (Suricata) engine: no stateless rule may pass or drop anything on its own.
STATELESS_DEFAULT_ACTIONS = ("aws:forward_to_sfe",)
# Default deny that still lets TCP handshakes through, so application-layer pass rules (SNI, Host) can match;
# and an alert for what the default drops, so denied traffic shows in the alert log.
STATEFUL_DEFAULT_ACTIONS = ("aws:drop_established", "aws:alert_established")
RULE_ORDER = "STRICT_ORDER"
LOG_TYPES = ("ALERT", "FLOW")


@dataclass(frozen=True)
class FirewallZone:
    """What the firewall needs of one zone: its firewall subnet and the public subnet it protects."""

    zone: Zone
    firewall_subnet_id: pulumi.Input[str]
    firewall_route_table_id: pulumi.Input[str]
    public_cidr: str
    public_route_table_id: pulumi.Input[str]


@dataclass(frozen=True)
class ZoneFirewallArgs:
    naming: Naming
    vpc_id: pulumi.Input[str]
    internet_gateway_id: pulumi.Input[str]
    zones: Sequence[FirewallZone]
    rules: FirewallPolicyRules
    encryption_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    log_retention_days: int


def endpoint_in_zone(firewall_statuses: Sequence[Any], zone_name: str) -> str:
    """The firewall endpoint AWS created in this zone, from the firewall's sync states (in no defined order)."""
    for status in firewall_statuses:
        for sync_state in status.sync_states or ():
            if sync_state.availability_zone == zone_name:
                for attachment in sync_state.attachments or ():
                    if attachment.endpoint_id:
                        return str(attachment.endpoint_id)
    raise ValueError(f"the firewall has no endpoint in {zone_name}: check its subnet mappings")


class ZoneFirewall(pulumi.ComponentResource):
    """Network Firewall in every zone; internet traffic of each zone passes its own zone's endpoint both ways.

    The IGW's edge route table sends traffic for a zone's public subnet to that zone's endpoint; the public
    subnet's default route goes to the same endpoint; the firewall subnet routes to the IGW. Private subnets
    leave through their zone's NAT gateway, which sits in the public subnet and so behind the firewall.
    """

    firewall: aws.networkfirewall.Firewall
    policy: aws.networkfirewall.FirewallPolicy
    rule_groups: dict[str, aws.networkfirewall.RuleGroup]
    endpoint_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ZoneFirewallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-tenant:firewall:ZoneFirewall", name, None, opts)
        naming = args.naming
        child = pulumi.ResourceOptions(parent=self)
        encryption = {"type": "CUSTOMER_KMS", "key_id": args.encryption_key_arn}

        self.rule_groups = {
            group.key: self._rule_group(naming.name(f"nfw-{group.key}-rules"), group, encryption)
            for group in args.rules.groups
        }
        self.policy = aws.networkfirewall.FirewallPolicy(
            naming.name("nfw-policy"),
            description="Stateful inspection of all traffic, strict rule order, default drop",
            encryption_configuration=aws.networkfirewall.FirewallPolicyEncryptionConfigurationArgs(
                **encryption
            ),
            firewall_policy=aws.networkfirewall.FirewallPolicyFirewallPolicyArgs(
                stateless_default_actions=list(STATELESS_DEFAULT_ACTIONS),
                stateless_fragment_default_actions=list(STATELESS_DEFAULT_ACTIONS),
                stateful_default_actions=list(STATEFUL_DEFAULT_ACTIONS),
                stateful_engine_options=aws.networkfirewall.FirewallPolicyFirewallPolicyStatefulEngineOptionsArgs(
                    rule_order=RULE_ORDER, stream_exception_policy="DROP"
                ),
                policy_variables=aws.networkfirewall.FirewallPolicyFirewallPolicyPolicyVariablesArgs(
                    rule_variables=[
                        aws.networkfirewall.FirewallPolicyFirewallPolicyPolicyVariablesRuleVariableArgs(
                            key="HOME_NET",
                            ip_set=aws.networkfirewall.FirewallPolicyFirewallPolicyPolicyVariablesRuleVariableIpSetArgs(
                                definitions=list(args.rules.home_net)
                            ),
                        )
                    ]
                ),
                stateful_rule_group_references=[
                    aws.networkfirewall.FirewallPolicyFirewallPolicyStatefulRuleGroupReferenceArgs(
                        resource_arn=self.rule_groups[group.key].arn, priority=group.priority
                    )
                    for group in args.rules.groups
                ],
            ),
            opts=child,
        )
        self.firewall = aws.networkfirewall.Firewall(
            naming.name("nfw"),
            name=naming.name("nfw"),
            description="Inspection of all internet traffic of the tenant, one endpoint per zone",
            vpc_id=args.vpc_id,
            firewall_policy_arn=self.policy.arn,
            subnet_mappings=[
                aws.networkfirewall.FirewallSubnetMappingArgs(subnet_id=zone.firewall_subnet_id)
                for zone in args.zones
            ],
            delete_protection=True,
            subnet_change_protection=True,
            encryption_configuration=aws.networkfirewall.FirewallEncryptionConfigurationArgs(**encryption),
            opts=child,
        )
        self._logging(naming, args)
        self.endpoint_ids = {
            zone.zone.suffix: self.firewall.firewall_statuses.apply(
                functools.partial(endpoint_in_zone, zone_name=zone.zone.name)
            )
            for zone in args.zones
        }
        self._routes(naming, args)
        self.register_outputs(
            {
                "firewallArn": self.firewall.arn,
                "policyArn": self.policy.arn,
                "endpointIds": self.endpoint_ids,
            }
        )

    def _rule_group(
        self, resource_name: str, group: RuleGroup, encryption: dict[str, Any]
    ) -> aws.networkfirewall.RuleGroup:
        return aws.networkfirewall.RuleGroup(
            resource_name,
            type="STATEFUL",
            description=group.description,
            capacity=reserved_capacity(group),
            encryption_configuration=aws.networkfirewall.RuleGroupEncryptionConfigurationArgs(**encryption),
            rule_group=aws.networkfirewall.RuleGroupRuleGroupArgs(
                rules_source=aws.networkfirewall.RuleGroupRuleGroupRulesSourceArgs(
                    rules_string=group.rules_string
                ),
                rule_variables=aws.networkfirewall.RuleGroupRuleGroupRuleVariablesArgs(
                    ip_sets=[
                        aws.networkfirewall.RuleGroupRuleGroupRuleVariablesIpSetArgs(
                            key=key,
                            ip_set=aws.networkfirewall.RuleGroupRuleGroupRuleVariablesIpSetIpSetArgs(
                                definitions=list(definitions)
                            ),
                        )
                        for key, definitions in group.ip_sets.items()
                    ]
                ),
                stateful_rule_options=aws.networkfirewall.RuleGroupRuleGroupStatefulRuleOptionsArgs(
                    rule_order=RULE_ORDER
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _logging(self, naming: Naming, args: ZoneFirewallArgs) -> None:
        groups = {
            log_type: encrypted_log_group(
                naming.name(f"nfw-{log_type.lower()}-logs-group"),
                log_group_name=f"/{naming.prefix}/network-firewall/{log_type.lower()}",
                kms_key_arn=args.logs_key_arn,
                retention_days=args.log_retention_days,
                parent=self,
            )
            for log_type in LOG_TYPES
        }
        aws.networkfirewall.LoggingConfiguration(
            naming.name("nfw-logging"),
            firewall_arn=self.firewall.arn,
            logging_configuration=aws.networkfirewall.LoggingConfigurationLoggingConfigurationArgs(
                log_destination_configs=[
                    aws.networkfirewall.LoggingConfigurationLoggingConfigurationLogDestinationConfigArgs(
                        log_type=log_type,
                        log_destination_type="CloudWatchLogs",
                        log_destination={"logGroup": group.name},
                    )
                    for log_type, group in groups.items()
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self.firewall),
        )

    def _routes(self, naming: Naming, args: ZoneFirewallArgs) -> None:
        edge = aws.ec2.RouteTable(
            naming.name("igw-edge-rt"),
            vpc_id=args.vpc_id,
            tags={"tier": "edge"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ec2.RouteTableAssociation(
            naming.name("igw-edge-rta"),
            gateway_id=args.internet_gateway_id,
            route_table_id=edge.id,
            opts=pulumi.ResourceOptions(parent=edge),
        )
        for zone in args.zones:
            endpoint_id = self.endpoint_ids[zone.zone.suffix]
            aws.ec2.Route(
                naming.name("igw-to-public", zone.zone),
                route_table_id=edge.id,
                destination_cidr_block=zone.public_cidr,
                vpc_endpoint_id=endpoint_id,
                opts=pulumi.ResourceOptions(parent=edge),
            )
            aws.ec2.Route(
                naming.name("public-default", zone.zone),
                route_table_id=zone.public_route_table_id,
                destination_cidr_block=INTERNET,
                vpc_endpoint_id=endpoint_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.ec2.Route(
                naming.name("firewall-default", zone.zone),
                route_table_id=zone.firewall_route_table_id,
                destination_cidr_block=INTERNET,
                gateway_id=args.internet_gateway_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
