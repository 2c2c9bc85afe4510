"""EdgeProtection: the tenant's internet edge (EDGE-01..04).

An internet-facing ALB that speaks HTTPS only (TLS 1.3/1.2 policy from an allow-list, an RSA-2048 ACM
certificate, HTTP answered with a redirect), a WAF web ACL in front of it, and Shield Advanced around every
public address of the tenant (the ALB and the bastions' Elastic IPs) with DDoS alarms to the alert topic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.baseline import INTERNET
from infra.concerns import terraform_types
from infra.config import TenantConfig
from infra.edge.config import EdgeConfig
from infra.logs import encrypted_log_group
from infra.naming import Naming

# The Terraform type of each resource type this component creates, for the checkov export of the stack
# (review/terraform_plan.py refuses a type no concern declares).
TERRAFORM_TYPES = terraform_types(
    "aws:acm/certificate:Certificate",
    "aws:acm/certificateValidation:CertificateValidation",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:lb/listener:Listener",
    "aws:lb/targetGroup:TargetGroup",
    "aws:route53/record:Record",
    "aws:shield/protection:Protection",
    "aws:shield/protectionGroup:ProtectionGroup",
    "aws:wafv2/webAcl:WebAcl",
    "aws:wafv2/webAclAssociation:WebAclAssociation",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
    irregular={
        "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
    },
)

# Rejected on the source address alone, before anything else is evaluated.
SOURCE_RULE_GROUPS = ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList")
# Inspection of what is requested; after the rate limit so a flood does not pay for deep inspection.
REQUEST_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesLinuxRuleSet",
)

MANAGED_RULE_GROUPS = SOURCE_RULE_GROUPS + REQUEST_RULE_GROUPS
# Credentials and sessions never reach the WAF log.
REDACTED_HEADERS = ("authorization", "cookie")
CERTIFICATE_KEY_ALGORITHM = "RSA_2048"  # EDGE-04; ACM signs it with sha256WithRSAEncryption


@dataclass(frozen=True)
class EdgeProtectionArgs:
    naming: Naming
    config: TenantConfig
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    logs_key_arn: pulumi.Input[str]
    alert_topic_arn: pulumi.Input[str]
    # The log archive's access log bucket, when the stack has one (ELB delivers only into SSE-S3 buckets); pass
    # it through its bucket policy's output so the ALB waits until ELB may write.
    access_logs_bucket: pulumi.Input[str] | None = None
    # Other public resources Shield Advanced protects, by purpose (e.g. the bastions' Elastic IPs).
    shielded_resources: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def _visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _managed_group(name: str) -> tuple[str, aws.wafv2.WebAclRuleStatementArgs]:
    return name, aws.wafv2.WebAclRuleStatementArgs(
        managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
            name=name, vendor_name="AWS"
        )
    )


def waf_rules(edge: EdgeConfig) -> list[aws.wafv2.WebAclRuleArgs]:
    """The web ACL's rules in evaluation order; priorities follow the order, so they are unique."""
    statements: list[tuple[str, aws.wafv2.WebAclRuleStatementArgs]] = []
    if edge.allowed_countries:
        statements.append(
            (
                "block-countries-not-allowed",
                aws.wafv2.WebAclRuleStatementArgs(
                    not_statement=aws.wafv2.WebAclRuleStatementNotStatementArgs(
                        statement=aws.wafv2.WebAclRuleStatementArgs(
                            geo_match_statement=aws.wafv2.WebAclRuleStatementGeoMatchStatementArgs(
                                country_codes=list(edge.allowed_countries)
                            )
                        )
                    )
                ),
            )
        )
    statements.extend(_managed_group(name) for name in SOURCE_RULE_GROUPS)
    statements.append(
        (
            "rate-limit-per-source-ip",
            aws.wafv2.WebAclRuleStatementArgs(
                rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                    aggregate_key_type="IP", limit=edge.rate_limit, evaluation_window_sec=300
                )
            ),
        )
    )
    statements.extend(_managed_group(name) for name in REQUEST_RULE_GROUPS)

    block = aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs())
    # A managed group's own actions (block) apply; "none" means no override, not "no action".
    keep_group_actions = aws.wafv2.WebAclRuleOverrideActionArgs(
        none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()  # type: ignore[no-untyped-call]  # generated, no args
    )
    return [
        aws.wafv2.WebAclRuleArgs(
            name=name,
            priority=priority,
            statement=statement,
            action=None if statement.managed_rule_group_statement else block,
            override_action=keep_group_actions if statement.managed_rule_group_statement else None,
            visibility_config=_visibility(name),
        )
        for priority, (name, statement) in enumerate(statements)
    ]


class EdgeProtection(pulumi.ComponentResource):
    """ALB + certificate + WAF for the tenant's web application (when it has a domain), and Shield Advanced."""

    load_balancer: aws.lb.LoadBalancer | None
    certificate: aws.acm.Certificate | None
    web_acl: aws.wafv2.WebAcl | None
    protections: list[aws.shield.Protection]

    def __init__(
        self, name: str, args: EdgeProtectionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("secure-tenant:edge:EdgeProtection", name, None, opts)
        naming, config = args.naming, args.config
        self.load_balancer = self.certificate = self.web_acl = None
        shielded: dict[str, pulumi.Input[str]] = {}
        if config.edge.domain_name is not None:
            self.load_balancer = self._load_balancer(naming, config, args)
            self.web_acl = self._web_acl(naming, config, args.logs_key_arn, self.load_balancer)
            shielded["alb"] = self.load_balancer.arn
        shielded.update(args.shielded_resources)
        self.protections = (
            self._shield(naming, shielded, args.alert_topic_arn) if config.shield_advanced else []
        )
        self.register_outputs(
            {
                "loadBalancerArn": self.load_balancer.arn if self.load_balancer else None,
                "webAclArn": self.web_acl.arn if self.web_acl else None,
                "shieldProtectionArns": [protection.arn for protection in self.protections],
            }
        )

    @property
    def certificate_validation_records(self) -> pulumi.Output[list[dict[str, str]]] | None:
        """The DNS records that prove control of the domain, for whoever serves its zone."""
        if self.certificate is None:
            return None
        return self.certificate.domain_validation_options.apply(
            lambda options: [
                {
                    "name": option.resource_record_name or "",
                    "type": option.resource_record_type or "",
                    "value": option.resource_record_value or "",
                }
                for option in options
            ]
        )

    def _load_balancer(
        self, naming: Naming, config: TenantConfig, args: EdgeProtectionArgs
    ) -> aws.lb.LoadBalancer:
        edge = config.edge
        app_cidrs = [str(config.subnet_cidr("private", zone)) for zone in config.availability_zones]
        security_group = aws.ec2.SecurityGroup(
            naming.name("alb-sg"),
            vpc_id=args.vpc_id,
            description="Internet-facing ALB: HTTPS and HTTP in, the app port of the private subnets out",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=port, to_port=port, cidr_blocks=[INTERNET], description=purpose
                )
                for port, purpose in ((443, "HTTPS from the internet"), (80, "HTTP, answered by a redirect"))
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=edge.app_port,
                    to_port=edge.app_port,
                    cidr_blocks=app_cidrs,
                    description="HTTPS to the app targets in the private subnets",
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        load_balancer = aws.lb.LoadBalancer(
            naming.name("alb"),
            load_balancer_type="application",
            internal=False,
            ip_address_type="ipv4",
            subnets=list(args.public_subnet_ids),
            security_groups=[security_group.id],
            enable_deletion_protection=True,
            drop_invalid_header_fields=True,
            access_logs=None
            if args.access_logs_bucket is None
            else aws.lb.LoadBalancerAccessLogsArgs(bucket=args.access_logs_bucket, enabled=True),
            opts=pulumi.ResourceOptions(parent=self),
        )
        target_group = aws.lb.TargetGroup(
            naming.name("app"),
            vpc_id=args.vpc_id,
            target_type="ip",
            protocol="HTTPS",
            port=edge.app_port,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTPS",
                port="traffic-port",
                path=edge.health_check_path,
                matcher="200-399",
                interval=30,
                timeout=5,
                healthy_threshold=3,
                unhealthy_threshold=3,
            ),
            opts=pulumi.ResourceOptions(parent=load_balancer),
        )
        certificate_arn = self._certificate(naming, edge, load_balancer)
        aws.lb.Listener(
            naming.name("https"),
            load_balancer_arn=load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=edge.tls_policy,
            certificate_arn=certificate_arn,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
            ],
            opts=pulumi.ResourceOptions(parent=load_balancer),
        )
        aws.lb.Listener(
            naming.name("http-redirect"),
            load_balancer_arn=load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=load_balancer),
        )
        return load_balancer

    def _certificate(
        self, naming: Naming, edge: EdgeConfig, load_balancer: aws.lb.LoadBalancer
    ) -> pulumi.Output[str]:
        """An RSA-2048 ACM certificate, DNS-validated; the HTTPS listener waits until it is issued."""
        self.certificate = aws.acm.Certificate(
            naming.name("certificate"),
            domain_name=edge.domain_name,
            validation_method="DNS",
            key_algorithm=CERTIFICATE_KEY_ALGORITHM,
            opts=pulumi.ResourceOptions(parent=self),
        )
        validation_fqdns: list[pulumi.Input[str]] | None = None
        if edge.hosted_zone_id is not None:
            option = self.certificate.domain_validation_options[0]
            record = aws.route53.Record(
                naming.name("certificate-validation-record"),
                zone_id=edge.hosted_zone_id,
                name=option.resource_record_name.apply(str),
                type=option.resource_record_type.apply(str),
                records=[option.resource_record_value.apply(str)],
                ttl=300,
                allow_overwrite=True,
                opts=pulumi.ResourceOptions(parent=self.certificate),
            )
            validation_fqdns = [record.fqdn]
            aws.route53.Record(
                naming.name("domain"),
                zone_id=edge.hosted_zone_id,
                name=edge.domain_name,
                type="A",
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=load_balancer.dns_name,
                        zone_id=load_balancer.zone_id,
                        evaluate_target_health=True,
                    )
                ],
                opts=pulumi.ResourceOptions(parent=load_balancer),
            )
        # Without a Route 53 zone, the validation records are a stack output for the domain's DNS operator.
        validation = aws.acm.CertificateValidation(
            naming.name("certificate-validation"),
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=validation_fqdns,
            opts=pulumi.ResourceOptions(parent=self.certificate),
        )
        return validation.certificate_arn

    def _web_acl(
        self,
        naming: Naming,
        config: TenantConfig,
        logs_key_arn: pulumi.Input[str],
        load_balancer: aws.lb.LoadBalancer,
    ) -> aws.wafv2.WebAcl:
        web_acl = aws.wafv2.WebAcl(
            naming.name("waf"),
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=waf_rules(config.edge),
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=naming.name("waf"), sampled_requests_enabled=True
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.wafv2.WebAclAssociation(
            naming.name("waf-alb"),
            resource_arn=load_balancer.arn,
            web_acl_arn=web_acl.arn,
            opts=pulumi.ResourceOptions(parent=web_acl),
        )
        # WAF only logs to groups named aws-waf-logs-*; the logs key admits exactly this tenant's.
        log_group = encrypted_log_group(
            naming.name("waf-logs"),
            log_group_name=f"aws-waf-logs-{naming.prefix}",
            kms_key_arn=logs_key_arn,
            retention_days=config.log_retention_days,
            parent=web_acl,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            naming.name("waf-logging"),
            resource_arn=web_acl.arn,
            log_destination_configs=[log_group.arn],
            redacted_fields=[
                aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                        name=header
                    )
                )
                for header in REDACTED_HEADERS
            ],
            opts=pulumi.ResourceOptions(parent=web_acl),
        )
        return web_acl

    def _shield(
        self, naming: Naming, shielded: Mapping[str, pulumi.Input[str]], alert_topic_arn: pulumi.Input[str]
    ) -> list[aws.shield.Protection]:
        """Shield Advanced for each public resource, one protection group, a DDoS alarm per resource.

        The account's Shield Advanced subscription (a 12-month commitment, per account) is not a stack resource:
        it is subscribed once, deliberately, before the first prod `pulumi up`.
        """
        protections = []
        for purpose, resource_arn in shielded.items():
            protection = aws.shield.Protection(
                naming.name(f"shield-{purpose}"),
                name=naming.name(purpose),
                resource_arn=resource_arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            alarm_name = naming.name(f"ddos-detected-{purpose}")
            aws.cloudwatch.MetricAlarm(
                alarm_name,
                name=alarm_name,  # fixed, so the alert topic's policy can name this tenant's alarms
                alarm_description=f"Shield Advanced detected a DDoS attack on {naming.name(purpose)}",
                namespace="AWS/DDoSProtection",
                metric_name="DDoSDetected",
                dimensions={"ResourceArn": resource_arn},
                statistic="Maximum",
                period=60,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[alert_topic_arn],
                ok_actions=[alert_topic_arn],
                opts=pulumi.ResourceOptions(parent=protection),
            )
            protections.append(protection)
        aws.shield.ProtectionGroup(
            naming.name("shield-group"),
            protection_group_id=naming.prefix,
            # Mixed resource types: a spike on any one of them is the tenant's event.
            aggregation="MAX",
            pattern="ARBITRARY",
            members=[protection.resource_arn for protection in protections],
            opts=pulumi.ResourceOptions(parent=self, depends_on=protections),
        )
        return protections
