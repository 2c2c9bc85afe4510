"""The policy pack: every policy passes a compliant stack, flags a violating one and a bypass attempt; then the
pack on whole stacks evaluated through the real program (example stacks pass, a broken program fails)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, cast

import pytest
from pulumi_policy import PolicyResource, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from infra import policy_view as view
from infra.audit.policies import log_groups_encrypted
from infra.baseline import WAIVED_POLICIES, ExceptionName
from infra.concerns import concern_modules
from infra.firewall.policies import public_subnets
from infra.policy_pack import all_policies, sdk_policies
from infra.policy_registry import ResourceCheck, StackCheck
from infra.policy_view import StackResource, StackView
from review.offline import StackSnapshot, evaluate, evaluate_stack, stack_config
from review.pack_runner import enforcement_levels, mandatory, policy_pack_config, run_pack
from tests.fixtures.broken_stack import broken_program
from tests.stacks import evaluate_waived

TAGS = {"tenant": "acme", "environment": "prod"}
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/key-1"
FOREIGN_KEY = "arn:aws:kms:eu-west-1:999999999999:key/not-ours"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
TLS_DENY = json.dumps(
    {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::bucket-1", "arn:aws:s3:::bucket-1/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
)
ENCRYPTED = {"type": "CUSTOMER_KMS", "keyId": KEY_ARN}
DEFAULT_DROP = {
    "statefulEngineOptions": {"ruleOrder": "STRICT_ORDER"},
    "statefulDefaultActions": ["aws:drop_established", "aws:alert_established"],
    "statelessDefaultActions": ["aws:forward_to_sfe"],
    "statelessFragmentDefaultActions": ["aws:forward_to_sfe"],
}
WAF_RULES = [
    {
        "name": group,
        "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": group}},
        "overrideAction": {"none": {}},
    }
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
] + [{"name": "rate", "statement": {"rateBasedStatement": {"limit": 2000.0}}, "action": {"block": {}}}]


def world(protocol: str, port: int, *cidrs: str) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "fromPort": port,
        "toPort": port,
        "cidrBlocks": list(cidrs or ["0.0.0.0/0"]),
    }


def res(type_: str, name: str, /, **props: Any) -> StackResource:
    """A resource as CrossGuard hands it over: values resolved, the tenant's tags on it."""
    return StackResource(type_, name, f"urn:{name}", {"tags": dict(TAGS), **props})


def compliant() -> list[StackResource]:
    """A small prod tenant (one zone) that satisfies every policy of the pack."""
    bucket = {"bucket": "bucket-1"}
    return [
        res("aws:kms/key:Key", "key", id="key-1", keyId="key-1", arn=KEY_ARN, enableKeyRotation=True),
        res("aws:kms/alias:Alias", "alias", name="alias/acme", arn="arn:alias", targetKeyId="key-1"),
        res("aws:s3/bucket:Bucket", "bucket", id="bucket-1", bucket="bucket-1", arn="arn:aws:s3:::bucket-1"),
        res(
            view.SSE_TYPES[0],
            "sse",
            rules=[
                {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}}
            ],
            **bucket,
        ),
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "pab",
            **dict.fromkeys(
                ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
            ),
            **bucket,
        ),
        res("aws:s3/bucketPolicy:BucketPolicy", "bucket-policy", policy=TLS_DENY, **bucket),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            "versioning",
            versioningConfiguration={"status": "Enabled"},
            **bucket,
        ),
        res(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "ownership",
            rule={"objectOwnership": "BucketOwnerEnforced"},
            **bucket,
        ),
        res(
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            "object-lock",
            rule={"defaultRetention": {"mode": "GOVERNANCE", "days": 400.0}},
            **bucket,
        ),
        res(view.LOG_GROUP, "logs", kmsKeyId=KEY_ARN, retentionInDays=400.0),
        res("aws:sns/topic:Topic", "alerts", kmsMasterKeyId="alias/acme"),
        res(view.VAULT, "vault", id="vault", name="vault", arn="arn:vault", kmsKeyArn=KEY_ARN),
        res(
            "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
            "vault-lock",
            backupVaultName="vault",
            minRetentionDays=35.0,
        ),
        res(
            "aws:backup/plan:Plan",
            "plan",
            rules=[{"lifecycle": {"deleteAfter": 35.0}}, {"lifecycle": {"deleteAfter": 403.0}}],
        ),
        res(
            "aws:backup/restoreTestingPlan:RestoreTestingPlan",
            "restore-test",
            scheduleExpression="cron(0 6 15 1/3 ? *)",
            recoveryPointSelection={"includeVaults": ["arn:vault"]},
        ),
        res(view.VPC, "vpc", id="vpc-1"),
        res("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "default-sg", vpcId="vpc-1"),
        res("aws:ec2/flowLog:FlowLog", "flow-log", vpcId="vpc-1", trafficType="ALL"),
        res("aws:ec2/internetGateway:InternetGateway", "igw", id="igw-1", vpcId="vpc-1"),
        *[
            res(
                view.SUBNET,
                f"{tier}-a",
                id=f"subnet-{tier}",
                vpcId="vpc-1",
                availabilityZone="eu-west-1a",
                mapPublicIpOnLaunch=False,
                tags={**TAGS, "tier": tier},
            )
            for tier in ("public", "firewall", "private")
        ],
        *[
            res("aws:ec2/routeTable:RouteTable", f"{tier}-rt", id=f"rt-{tier}")
            for tier in ("public", "firewall")
        ],
        *[
            res(
                "aws:ec2/routeTableAssociation:RouteTableAssociation",
                f"{tier}-rta",
                subnetId=f"subnet-{tier}",
                routeTableId=f"rt-{tier}",
            )
            for tier in ("public", "firewall")
        ],
        res(
            "aws:ec2/route:Route",
            "public-default",
            routeTableId="rt-public",
            destinationCidrBlock="0.0.0.0/0",
            vpcEndpointId="vpce-a",
        ),
        res(
            "aws:ec2/route:Route",
            "firewall-default",
            routeTableId="rt-firewall",
            destinationCidrBlock="0.0.0.0/0",
            gatewayId="igw-1",
        ),
        res(
            view.FIREWALL,
            "firewall",
            id="fw",
            arn="arn:fw",
            firewallPolicyArn="arn:fw-policy",
            subnetMappings=[{"subnetId": "subnet-firewall"}],
            deleteProtection=True,
            subnetChangeProtection=True,
            encryptionConfiguration=ENCRYPTED,
            firewallStatuses=[
                {
                    "syncStates": [
                        {"availabilityZone": "eu-west-1a", "attachments": [{"endpointId": "vpce-a"}]}
                    ]
                }
            ],
        ),
        res(
            view.FIREWALL_POLICY,
            "firewall-policy",
            arn="arn:fw-policy",
            firewallPolicy=DEFAULT_DROP,
            encryptionConfiguration=ENCRYPTED,
        ),
        res(
            view.RULE_GROUP,
            "rules",
            type="STATEFUL",
            ruleGroup={"statefulRuleOptions": {"ruleOrder": "STRICT_ORDER"}},
            encryptionConfiguration=ENCRYPTED,
        ),
        res(
            "aws:networkfirewall/loggingConfiguration:LoggingConfiguration",
            "firewall-logging",
            firewallArn="arn:fw",
            loggingConfiguration={"logDestinationConfigs": [{"logType": "ALERT"}, {"logType": "FLOW"}]},
        ),
        res(view.SECURITY_GROUP, "alb-sg", id="sg-alb", ingress=[world("tcp", 443), world("tcp", 80)]),
        res(
            "aws:lb/loadBalancer:LoadBalancer",
            "alb",
            arn="arn:alb",
            internal=False,
            loadBalancerType="application",
            securityGroups=["sg-alb"],
        ),
        res(
            "aws:acm/certificate:Certificate",
            "certificate",
            arn="arn:certificate",
            domainName="app.acme.example.com",
            keyAlgorithm="RSA_2048",
            validationMethod="DNS",
        ),
        res(
            "aws:lb/listener:Listener",
            "https",
            protocol="HTTPS",
            sslPolicy=TLS_POLICY,
            certificateArn="arn:certificate",
            defaultActions=[{"type": "forward"}],
        ),
        res(
            "aws:lb/listener:Listener",
            "http",
            protocol="HTTP",
            defaultActions=[
                {"type": "redirect", "redirect": {"protocol": "HTTPS", "statusCode": "HTTP_301"}}
            ],
        ),
        res(view.WEB_ACL, "waf", arn="arn:waf", rules=WAF_RULES),
        res(
            "aws:wafv2/webAclAssociation:WebAclAssociation",
            "waf-alb",
            resourceArn="arn:alb",
            webAclArn="arn:waf",
        ),
        res(
            "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
            "waf-logging",
            resourceArn="arn:waf",
            logDestinationConfigs=["arn:waf-logs"],
        ),
        res(
            view.SECURITY_GROUP,
            "bastion-sg",
            id="sg-bastion",
            ingress=[world("udp", 1194), world("tcp", 22, "10.250.0.0/24")],
        ),
        res(
            view.INSTANCE,
            "bastion",
            id="i-1",
            vpcSecurityGroupIds=["sg-bastion"],
            associatePublicIpAddress=False,
            metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 1.0},
            rootBlockDevice={"encrypted": True, "kmsKeyId": KEY_ARN},
        ),
        res("aws:ec2/eip:Eip", "bastion-ip", id="eipalloc-1", allocationId="eipalloc-1", instance="i-1"),
        res("aws:ebs/volume:Volume", "data", encrypted=True, kmsKeyId=KEY_ARN, availabilityZone="eu-west-1a"),
        res("aws:ebs/encryptionByDefault:EncryptionByDefault", "ebs-default", enabled=True),
        res("aws:ebs/defaultKmsKey:DefaultKmsKey", "ebs-default-key", keyArn=KEY_ARN),
        res("aws:shield/protection:Protection", "shield-alb", resourceArn="arn:alb"),
        res(
            "aws:shield/protection:Protection",
            "shield-bastion",
            resourceArn="arn:aws:ec2:eu-west-1:123456789012:eip-allocation/eipalloc-1",
        ),
        res(
            view.TRAIL,
            "trail",
            kmsKeyId=KEY_ARN,
            isMultiRegionTrail=True,
            enableLogFileValidation=True,
            includeGlobalServiceEvents=True,
        ),
        res("aws:guardduty/detector:Detector", "detector", id="detector-1", enable=True),
        *[
            res(
                "aws:guardduty/detectorFeature:DetectorFeature",
                feature.lower(),
                detectorId="detector-1",
                name=feature,
                status="ENABLED",
            )
            for feature in ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION")
        ],
        res(view.RECORDER, "recorder", name="recorder", recordingGroup={"allSupported": True}),
        res("aws:cfg/recorderStatus:RecorderStatus", "recorder-status", name="recorder", isEnabled=True),
        res("aws:cfg/deliveryChannel:DeliveryChannel", "delivery", s3KmsKeyArn=KEY_ARN),
        res("aws:securityhub/account:Account", "security-hub"),
        res("aws:securityhub/standardsSubscription:StandardsSubscription", "cis", standardsArn="arn:cis"),
        res("pulumi:providers:aws", "eu-provider", region="eu-west-1"),
    ]


def judge(resources: list[StackResource], config: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """Every policy on these resources, as the pack applies them: the violations, by policy."""
    view = StackView(resources, config or {})
    found: dict[str, list[str]] = {}
    for spec in all_policies():
        if spec.stack:
            messages = cast(StackCheck, spec.check)(view)
        else:
            messages = [m for r in resources for m in cast(ResourceCheck, spec.check)(r.type, r.props)]
        if messages:
            found[spec.name] = messages
    return found


Mutation = Callable[[list[StackResource]], list[StackResource]]


def changed(name: str, **props: Any) -> Mutation:
    """The resource `name` with some properties set (None removes one)."""

    def mutate(resources: list[StackResource]) -> list[StackResource]:
        out = []
        for r in resources:
            if r.name == name:
                merged = {**r.props, **props}
                r = StackResource(r.type, r.name, r.urn, {k: v for k, v in merged.items() if v is not None})
            out.append(r)
        return out

    return mutate


def without(*names: str) -> Mutation:
    return lambda resources: [r for r in resources if r.name not in names]


def plus(*extra: StackResource) -> Mutation:
    return lambda resources: [*resources, *extra]


def both(*mutations: Mutation) -> Mutation:
    def mutate(resources: list[StackResource]) -> list[StackResource]:
        for mutation in mutations:
            resources = mutation(resources)
        return resources

    return mutate


def sg_rule(name: str, group: str, cidr: str, port: int = 22, protocol: str = "tcp") -> StackResource:
    return res(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name,
        securityGroupId=group,
        ipProtocol=protocol,
        fromPort=port,
        toPort=port,
        cidrIpv4=cidr,
    )


HALVES = ["0.0.0.0/1", "128.0.0.0/1"]
# (policy, violating or bypass, mutation of the compliant stack, expected words of the violation)
CASES: list[tuple[str, str, Mutation, str]] = [
    (
        "eu-region-only",
        "violating",
        changed("logs", region="us-east-1"),
        "region us-east-1 is outside the EU",
    ),
    (
        "eu-region-only",
        "bypass",
        changed("data", availabilityZone="eu-west-2a"),
        "eu-west-2a is outside the EU",
    ),
    ("eu-region-only", "bypass", changed("private-a", availabilityZoneId="use1-az1"), "zone id use1-az1"),
    ("eu-providers-only", "violating", changed("eu-provider", region="us-east-1"), "outside the EU"),
    ("eu-providers-only", "bypass", changed("eu-provider", region=None), "AWS provider without a region"),
    ("tenant-tags", "violating", changed("vpc", tags={"tenant": "acme"}), "missing tag(s) environment"),
    ("tenant-tags", "bypass", changed("vpc", tags={"tenant": "acme", "environment": ""}), "environment"),
    (
        "single-tenant",
        "violating",
        changed("vpc", tags={**TAGS, "tenant": "globex"}),
        "tenant = acme, globex",
    ),
    ("single-tenant", "bypass", changed("logs", tags={**TAGS, "environment": "preprod"}), "environment ="),
    ("kms-key-rotation", "violating", changed("key", enableKeyRotation=False), "key rotation is off"),
    ("kms-key-rotation", "bypass", changed("key", enableKeyRotation="true"), "key rotation is off"),
    (
        "kms-keys-of-this-stack",
        "violating",
        changed("delivery", s3KmsKeyArn=FOREIGN_KEY),
        "is not a KMS key of this stack",
    ),
    ("kms-keys-of-this-stack", "bypass", changed("alerts", kmsMasterKeyId="alias/aws/sns"), "alias/aws/sns"),
    (
        "s3-buckets-encrypted-with-stack-key",
        "violating",
        changed("sse", rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]),
        "AES256 is not aws:kms",
    ),
    ("s3-buckets-encrypted-with-stack-key", "bypass", without("sse"), "bucket: not encrypted"),
    (
        "log-groups-encrypted-with-stack-key",
        "violating",
        changed("logs", kmsKeyId=None),
        "logs: not encrypted",
    ),
    ("log-groups-encrypted-with-stack-key", "bypass", changed("logs", kmsKeyId="any-string"), "'any-string'"),
    ("ebs-encrypted", "violating", changed("data", encrypted=False), "the volume is not encrypted"),
    ("ebs-encrypted", "bypass", changed("bastion", rootBlockDevice=None), "encryption is not declared"),
    ("ebs-encryption-by-default", "violating", changed("ebs-default", enabled=False), "by default is off"),
    ("ebs-encryption-by-default", "violating", without("ebs-default"), "by default is not declared"),
    ("ebs-encryption-by-default", "bypass", changed("ebs-default", enabled="true"), "enabled='true'"),
    ("ebs-encryption-by-default", "bypass", without("ebs-default-key"), "the AWS-managed aws/ebs key"),
    (
        "ebs-encryption-by-default",
        "bypass",
        changed("ebs-default-key", keyArn="alias/aws/ebs"),
        "keyArn 'alias/aws/ebs' is not a KMS key of this stack",
    ),
    (
        "sns-topics-encrypted-with-stack-key",
        "violating",
        changed("alerts", kmsMasterKeyId=None),
        "alerts: not",
    ),
    (
        "sns-topics-encrypted-with-stack-key",
        "bypass",
        changed("alerts", kmsMasterKeyId="alias/aws/sns"),
        "'alias/aws/sns' is not a KMS key of this stack",
    ),
    ("backup-vaults-encrypted-with-stack-key", "violating", changed("vault", kmsKeyArn=None), "vault: not"),
    (
        "backup-vaults-encrypted-with-stack-key",
        "bypass",
        changed("vault", kmsKeyArn=FOREIGN_KEY),
        "not a KMS key of this stack",
    ),
    (
        "network-firewall-encrypted-with-stack-key",
        "violating",
        changed("firewall", encryptionConfiguration=None),
        "AWS_OWNED_KMS_KEY is not CUSTOMER_KMS",
    ),
    (
        "network-firewall-encrypted-with-stack-key",
        "bypass",
        changed("rules", encryptionConfiguration={"type": "CUSTOMER_KMS", "keyId": "1234"}),
        "'1234' is not a KMS key of this stack",
    ),
    ("cloudtrail-encrypted-with-stack-key", "violating", changed("trail", kmsKeyId=None), "trail: not"),
    ("cloudtrail-encrypted-with-stack-key", "bypass", changed("trail", kmsKeyId=""), "names no KMS key"),
    ("s3-public-access-blocked", "violating", changed("pab", restrictPublicBuckets=False), "restrictPublic"),
    ("s3-public-access-blocked", "bypass", without("pab"), "has no public access block"),
    (
        "s3-tls-only",
        "violating",
        changed("bucket-policy", policy=json.dumps({"Statement": []})),
        "does not deny s3:* to *",
    ),
    ("s3-tls-only", "bypass", without("bucket-policy"), "has no policy denying plain HTTP"),
    (
        "s3-versioning-enabled",
        "violating",
        changed("versioning", versioningConfiguration={"status": "Suspended"}),
        "Suspended",
    ),
    ("s3-versioning-enabled", "bypass", without("versioning"), "has no versioning"),
    (
        "s3-acls-disabled",
        "violating",
        changed("ownership", rule={"objectOwnership": "ObjectWriter"}),
        "ObjectWriter",
    ),
    ("s3-acls-disabled", "bypass", without("ownership"), "has no ownership controls"),
    (
        "s3-object-lock-in-prod",
        "violating",
        changed("object-lock", rule={"defaultRetention": {"mode": "GOVERNANCE", "days": 30.0}}),
        "locked 30 days",
    ),
    ("s3-object-lock-in-prod", "bypass", without("object-lock"), "has no object lock"),
    (
        "no-world-ingress",
        "violating",
        changed("bastion-sg", ingress=[world("udp", 1194), world("tcp", 8080)]),
        "tcp 8080 is open to the internet",
    ),
    (
        "no-world-ingress",
        "bypass",
        plus(*[sg_rule(f"half-{i}", "sg-alb", cidr, port=8443) for i, cidr in enumerate(HALVES)]),
        "tcp 8443 is open to the internet (0.0.0.0/1, 128.0.0.0/1)",
    ),
    (
        "admin-ports-only-from-private-ranges",
        "violating",
        changed("bastion-sg", ingress=[world("udp", 1194), world("tcp", 22, "203.0.113.7/32")]),
        "port 22 is open to routable addresses 203.0.113.7/32",
    ),
    (
        "admin-ports-only-from-private-ranges",
        "bypass",
        changed(
            "bastion-sg", ingress=[world("udp", 1194), {"protocol": "-1", "cidrBlocks": ["198.51.100.0/24"]}]
        ),
        "port 22 is open to routable addresses",
    ),
    (
        "nacl-no-world-admin-ports",
        "violating",
        plus(
            res(
                "aws:ec2/networkAcl:NetworkAcl",
                "acl",
                id="acl-1",
                ingress=[
                    {
                        "action": "allow",
                        "protocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "cidrBlock": "0.0.0.0/0",
                    }
                ],
            )
        ),
        "network ACL acl allows the internet to port 22",
    ),
    (
        "nacl-no-world-admin-ports",
        "bypass",
        plus(
            res("aws:ec2/networkAcl:NetworkAcl", "acl", id="acl-1"),
            *[
                res(
                    "aws:ec2/networkAclRule:NetworkAclRule",
                    f"acl-rule-{i}",
                    networkAclId="acl-1",
                    ruleAction="allow",
                    egress=False,
                    protocol="-1",
                    cidrBlock=cidr,
                )
                for i, cidr in enumerate(["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"])
            ],
        ),
        "allows the internet to port 22",
    ),
    (
        "default-security-group-closed",
        "violating",
        changed("default-sg", ingress=[world("tcp", 443, "10.0.0.0/8")]),
        "default security group default-sg has rules",
    ),
    ("default-security-group-closed", "bypass", without("default-sg"), "default security group is left open"),
    (
        "no-public-ip-on-launch",
        "violating",
        changed("private-a", mapPublicIpOnLaunch=True),
        "maps a public IP",
    ),
    (
        "no-public-ip-on-launch",
        "bypass",
        changed("bastion", associatePublicIpAddress="true"),
        "gets a public IP",
    ),
    (
        "no-direct-internet-route",
        "violating",
        changed("public-default", vpcEndpointId=None, gatewayId="igw-1"),
        "subnet public-a routes 0.0.0.0/0 straight to an internet gateway",
    ),
    (
        "no-direct-internet-route",
        "bypass",
        plus(
            res("aws:ec2/routeTable:RouteTable", "sneaky-rt", id="rt-sneaky"),
            res(
                "aws:ec2/routeTableAssociation:RouteTableAssociation",
                "sneaky-rta",
                subnetId="subnet-private",
                routeTableId="rt-sneaky",
            ),
            *[
                res(
                    "aws:ec2/route:Route",
                    f"sneaky-{i}",
                    routeTableId="rt-sneaky",
                    destinationCidrBlock=cidr,
                    gatewayId="igw-1",
                )
                for i, cidr in enumerate(HALVES)
            ],
        ),
        "subnet private-a routes 0.0.0.0/1, 128.0.0.0/1 straight to an internet gateway",
    ),
    (
        "firewall-in-every-zone",
        "violating",
        changed("firewall", subnetMappings=[]),
        "zone eu-west-1a has no firewall endpoint",
    ),
    (
        "firewall-in-every-zone",
        "bypass",
        both(
            changed("private-a", tags={**TAGS, "tier": "private"}),
            plus(
                res(
                    "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation",
                    "main",
                    vpcId="vpc-1",
                    routeTableId="rt-public-nat",
                ),
                res("aws:ec2/routeTable:RouteTable", "nat-rt", id="rt-public-nat"),
                res(
                    "aws:ec2/route:Route",
                    "nat-igw",
                    routeTableId="rt-public-nat",
                    destinationCidrBlock="0.0.0.0/0",
                    gatewayId="igw-1",
                ),
            ),
        ),
        "public subnet private-a in eu-west-1a is routed to igw-1, not its zone's endpoint",
    ),
    (
        "network-firewall-protected",
        "violating",
        changed("firewall", deleteProtection=False),
        "deleteProtection",
    ),
    (
        "network-firewall-protected",
        "bypass",
        changed("firewall", subnetChangeProtection="true"),
        "subnetChange",
    ),
    (
        "network-firewall-strict-order",
        "violating",
        changed("firewall-policy", firewallPolicy={**DEFAULT_DROP, "statefulEngineOptions": {}}),
        "rule order is not STRICT_ORDER",
    ),
    (
        "network-firewall-strict-order",
        "bypass",
        changed("firewall-policy", firewallPolicy={**DEFAULT_DROP, "statelessDefaultActions": ["aws:pass"]}),
        "traffic would skip inspection",
    ),
    (
        "network-firewall-uses-stack-policy",
        "violating",
        without("firewall-policy"),
        "firewall firewall runs a firewall policy that is not declared",
    ),
    (
        "network-firewall-uses-stack-policy",
        "bypass",
        changed(
            "firewall", firewallPolicyArn="arn:aws:network-firewall:eu-west-1:1:firewall-policy/allow-all"
        ),
        "not declared in this stack",
    ),
    ("network-firewall-logging", "violating", without("firewall-logging"), "does not log ALERT, FLOW"),
    (
        "network-firewall-logging",
        "bypass",
        changed("firewall-logging", loggingConfiguration={"logDestinationConfigs": [{"logType": "FLOW"}]}),
        "does not log ALERT",
    ),
    ("flow-logs-on-every-vpc", "violating", without("flow-log"), "VPC vpc has no flow log"),
    ("flow-logs-on-every-vpc", "bypass", changed("flow-log", trafficType="REJECT"), "logs only some traffic"),
    (
        "tls-1-2-on-every-listener",
        "violating",
        changed("https", sslPolicy="ELBSecurityPolicy-TLS-1-1-2017-01"),
        "allows TLS below 1.2",
    ),
    (
        "tls-1-2-on-every-listener",
        "bypass",
        plus(
            res(
                "aws:alb/listener:Listener",
                "nlb-tls",
                protocol="TLS",
                sslPolicy="ELBSecurityPolicy-2016-08",
                port=443,
            )
        ),
        "TLS listener policy ELBSecurityPolicy-2016-08 allows TLS below 1.2",
    ),
    (
        "http-only-redirects-to-https",
        "violating",
        changed("http", defaultActions=[{"type": "forward"}]),
        "something other than redirect",
    ),
    (
        "http-only-redirects-to-https",
        "bypass",
        changed(
            "http", protocol="http", defaultActions=[{"type": "redirect", "redirect": {"protocol": "HTTP"}}]
        ),
        "something other than redirect",
    ),
    (
        "certificates-rsa-2048-of-this-stack",
        "violating",
        changed("certificate", keyAlgorithm="EC_prime256v1"),
        "key EC_prime256v1 is not RSA",
    ),
    (
        "certificates-rsa-2048-of-this-stack",
        "bypass",
        changed("https", certificateArn="arn:aws:acm:eu-west-1:1:certificate/imported-elsewhere"),
        "listener https presents a certificate not declared in this stack",
    ),
    (
        "waf-on-every-public-alb",
        "violating",
        without("waf-alb"),
        "public load balancer alb has no WAF web ACL",
    ),
    (
        "waf-on-every-public-alb",
        "bypass",
        changed("waf-alb", webAclArn="arn:aws:wafv2:eu-west-1:1:regional/webacl/empty/1"),
        "associated with a web ACL not declared in this stack",
    ),
    (
        "waf-managed-rule-groups",
        "violating",
        changed("waf", rules=WAF_RULES[2:]),
        "AWSManagedRulesCommonRuleSet",
    ),
    (
        "waf-managed-rule-groups",
        "bypass",
        changed("waf", rules=[{**WAF_RULES[0], "overrideAction": {"count": {}}}, *WAF_RULES[1:]]),
        "does not block with AWSManagedRulesCommonRuleSet",
    ),
    ("waf-rate-limit", "violating", changed("waf", rules=WAF_RULES[:2]), "no blocking rate-based rule"),
    (
        "waf-rate-limit",
        "bypass",
        changed("waf", rules=[*WAF_RULES[:2], {**WAF_RULES[2], "action": {"count": {}}}]),
        "no blocking rate-based rule",
    ),
    ("waf-logging", "violating", without("waf-logging"), "web ACL waf does not log"),
    ("waf-logging", "bypass", changed("waf-logging", logDestinationConfigs=[]), "web ACL waf does not log"),
    (
        "shield-on-public-entries-in-prod",
        "violating",
        without("shield-alb"),
        "public entry alb has no Shield",
    ),
    (
        "shield-on-public-entries-in-prod",
        "bypass",
        both(without("shield-bastion"), changed("bastion-ip", tags={"tenant": "acme"})),
        "public entry bastion-ip has no Shield",
    ),
    (
        "cloudtrail-validated",
        "violating",
        changed("trail", enableLogFileValidation=False),
        "enableLogFileValid",
    ),
    ("cloudtrail-validated", "bypass", changed("trail", enableLogging=False), "enableLogging is off"),
    ("cloudtrail-enabled", "violating", without("trail"), "no multi-region CloudTrail trail"),
    (
        "cloudtrail-enabled",
        "bypass",
        changed("trail", isMultiRegionTrail=None),
        "no multi-region CloudTrail trail",
    ),
    ("guardduty-enabled", "violating", without("detector"), "no enabled GuardDuty detector"),
    (
        "guardduty-enabled",
        "bypass",
        changed("s3_data_events", status="DISABLED"),
        "S3_DATA_EVENTS is DISABLED",
    ),
    ("config-recorder-on", "violating", without("recorder"), "no AWS Config recorder"),
    ("config-recorder-on", "bypass", changed("recorder-status", isEnabled=False), "is not switched on"),
    ("security-hub-enabled", "violating", without("security-hub"), "Security Hub is not enabled"),
    ("security-hub-enabled", "bypass", without("cis"), "Security Hub runs no standard"),
    ("log-retention-12-months", "violating", changed("logs", retentionInDays=365), "retention 365 days"),
    ("log-retention-12-months", "bypass", changed("logs", retentionInDays="30"), "retention 30 days"),
    ("backup-vault-locked", "violating", without("vault-lock"), "backup vault vault is not locked"),
    ("backup-vault-locked", "bypass", changed("vault-lock", minRetentionDays=1), "lock keeps 1 days"),
    (
        "backup-plan-retention",
        "violating",
        changed("plan", rules=[{"lifecycle": {"deleteAfter": 7}}, {"lifecycle": {"deleteAfter": 403}}]),
        "keeps recovery points 7 days",
    ),
    (
        "backup-plan-retention",
        "bypass",
        changed("plan", rules=[{"lifecycle": {"deleteAfter": 35}}]),
        "no rule keeps recovery points 403 days",
    ),
    ("backup-restore-tested", "violating", without("restore-test"), "never test-restored"),
    (
        "backup-restore-tested",
        "violating",
        changed("restore-test", recoveryPointSelection={"includeVaults": ["*"]}),
        "tests no backup vault of this stack",
    ),
    (
        "backup-restore-tested",
        "bypass",
        changed("restore-test", scheduleExpression="cron(0 6 15 1 ? *)"),
        "runs every 12 months",
    ),
    (
        "imdsv2-required",
        "violating",
        changed("bastion", metadataOptions={"httpTokens": "optional"}),
        "IMDSv2 is not required",
    ),
    (
        "imdsv2-required",
        "bypass",
        changed("bastion", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2}),
        "tokens reach 2 hops",
    ),
]


def test_the_compliant_stack_passes_every_policy() -> None:
    assert judge(compliant()) == {}


@pytest.mark.parametrize(
    ("policy", "kind", "mutation", "expected"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_each_policy_flags_its_violating_case_and_its_bypass_attempt(
    policy: str, kind: str, mutation: Mutation, expected: str
) -> None:
    assert_flags(policy, mutation, expected)


def assert_flags(policy: str, mutation: Mutation, expected: str) -> None:
    """`policy` flags the compliant stack changed by `mutation`, with `expected` in its message."""
    messages = judge(mutation(compliant())).get(policy, [])
    assert any(expected in message for message in messages), messages


def concern_tests() -> list[ModuleType]:
    """The test module of each concern with policies (tests/test_<concern>.py): a policy added with its concern
    declares its cases there (`POLICY_CASES`, run by that module with `assert_flags`), like those of `CASES`."""
    return [
        importlib.import_module(f"tests.test_{m.__name__.split('.')[1]}") for m in concern_modules("policies")
    ]


def test_every_policy_has_a_violating_case_and_a_bypass_case() -> None:
    policies = all_policies()
    names = {spec.name for spec in policies}
    assert len(names) == len(policies) >= 40
    cases = CASES + [case for module in concern_tests() for case in getattr(module, "POLICY_CASES", [])]
    for kind in ("violating", "bypass"):
        assert {policy for policy, k, _, _ in cases if k == kind} == names


@pytest.mark.parametrize(
    ("mutation", "policy", "expected"),
    [
        (changed("alb-sg", ingress=[world("tcp", 443, "0.0.0.0/0 ")]), None, None),
        (
            changed("alb-sg", ingress=[world("tcp", 443, "300.0.0.0/8")]),
            "no-world-ingress",
            "'300.0.0.0/8' is not a CIDR",
        ),
        (
            changed("alb-sg", ingress=[{"protocol": "tcp", "fromPort": "https", "toPort": 443}]),
            "no-world-ingress",
            "fromPort 'https' is not a number",
        ),
        (
            changed("alb-sg", ingress="0.0.0.0/0"),
            "no-world-ingress",
            "ingress holds '0.0.0.0/0', not an object",
        ),
        (changed("bucket-policy", policy="{not json"), "s3-tls-only", "policy is not JSON"),
        (changed("logs", retentionInDays=[400]), "log-retention-12-months", "is not a number"),
        (changed("logs", region=["eu-west-1"]), "eu-region-only", "is not a region name"),
        (changed("logs", kmsKeyId=12), "kms-keys-of-this-stack", "12 is not a KMS key ARN"),
        (
            changed("public-default", destinationCidrBlock="default"),
            "firewall-in-every-zone",
            "'default' is not a CIDR",
        ),
        (
            changed("restore-test", scheduleExpression="every month"),
            "backup-restore-tested",
            "not cron(...) or rate",
        ),
    ],
    ids=[
        "whitespace",
        "cidr",
        "port",
        "rules-type",
        "json",
        "number",
        "region",
        "key-type",
        "route",
        "schedule",
    ],
)
def test_a_malformed_value_is_a_violation_with_a_message_never_a_crash(
    mutation: Mutation, policy: str | None, expected: str | None
) -> None:
    violations = judge(mutation(compliant()))
    if policy is None:
        assert "no-world-ingress" not in violations
    else:
        assert any(expected in message and "malformed value" in message for message in violations[policy])


def nacl(*entries: tuple[int, str, str]) -> Mutation:
    return plus(
        res(
            "aws:ec2/networkAcl:NetworkAcl",
            "acl",
            id="acl-1",
            ingress=[
                {"ruleNo": number, "action": action, "protocol": "-1", "cidrBlock": cidr}
                for number, action, cidr in entries
            ],
        )
    )


def test_a_network_acl_is_judged_in_rule_number_order() -> None:
    deny_first = nacl((100, "allow", "0.0.0.0/0"), (90, "deny", "0.0.0.0/0"))
    deny_half_first = nacl((90, "deny", "0.0.0.0/1"), (100, "allow", "0.0.0.0/0"))
    deny_too_late = nacl((100, "allow", "0.0.0.0/0"), (110, "deny", "0.0.0.0/0"))
    assert "nacl-no-world-admin-ports" not in judge(deny_first(compliant()))
    assert judge(deny_half_first(compliant()))["nacl-no-world-admin-ports"] == [
        "network ACL acl allows the internet to port 22",
        "network ACL acl allows the internet to port 3389",
    ]
    assert "nacl-no-world-admin-ports" in judge(deny_too_late(compliant()))


def test_a_grant_on_a_key_of_another_account_is_flagged() -> None:
    grant = plus(res("aws:kms/grant:Grant", "grant", keyId=FOREIGN_KEY, granteePrincipal="arn:role"))
    own = plus(res("aws:kms/grant:Grant", "grant", keyId="key-1", granteePrincipal="arn:role"))
    assert judge(grant(compliant()))["kms-keys-of-this-stack"] == [
        (
            f"grant: keyId {FOREIGN_KEY!r} is not a KMS key of this stack: use one of the stack's keys "
            "(or name it in the policy config trustedKeyArns)"
        )
    ]
    assert "kms-keys-of-this-stack" not in judge(own(compliant()))


def test_stack_policies_run_in_a_preview_where_ids_are_unknown() -> None:
    def preview_resource(type_: str, name: str, props: dict[str, Any], deps: dict[str, list[Any]]) -> Any:
        return PolicyResource(
            type_, unknown_checking_proxy(props), f"urn:{name}", name, None, None, None, [], deps
        )

    key = preview_resource("aws:kms/key:Key", "key", {"arn": view.UNKNOWN, "id": view.UNKNOWN}, {})
    bucket = preview_resource("aws:s3/bucket:Bucket", "bucket", {"id": view.UNKNOWN}, {})
    good = preview_resource(view.LOG_GROUP, "good", {"kmsKeyId": view.UNKNOWN}, {"kmsKeyId": [key]})
    odd = preview_resource(view.LOG_GROUP, "odd", {"kmsKeyId": view.UNKNOWN}, {"kmsKeyId": [bucket]})
    policy = next(p for p in sdk_policies() if p.name == "log-groups-encrypted-with-stack-key")
    reported: list[str] = []
    policy.validate(
        StackValidationArgs([key, bucket, good, odd]), lambda message, urn=None: reported.append(message)
    )
    assert reported == ["odd: kmsKeyId is not known to come from a KMS key of this stack"]


def test_firewall_routing_is_judged_by_dependencies_while_endpoint_ids_are_unknown() -> None:
    from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE

    def preview(target_urn: str) -> list[StackResource]:
        resources = changed("firewall", firewallStatuses=UNKNOWN_ARRAY_VALUE)(compliant())
        return [
            StackResource(
                r.type,
                r.name,
                r.urn,
                {**r.props, "vpcEndpointId": view.UNKNOWN},
                {"vpcEndpointId": [target_urn]},
            )
            if r.name == "public-default"
            else r
            for r in resources
        ]

    assert judge(preview("urn:firewall")) == {}
    assert judge(preview("urn:igw"))["firewall-in-every-zone"] == [
        "public subnet public-a default route does not go through the firewall"
    ]


def test_a_key_named_in_the_policy_config_is_trusted_and_no_other_string() -> None:
    foreign = changed("trail", kmsKeyId=FOREIGN_KEY)
    assert "kms-keys-of-this-stack" in judge(foreign(compliant()))
    assert "kms-keys-of-this-stack" not in judge(foreign(compliant()), {"trustedKeyArns": [FOREIGN_KEY]})


def test_a_key_reference_unknown_in_a_preview_is_judged_by_its_dependency() -> None:
    unknown = view.UNKNOWN
    resources = [
        *compliant()[:2],
        StackResource(
            view.LOG_GROUP,
            "new-logs",
            "urn:new-logs",
            {"tags": TAGS, "kmsKeyId": unknown},
            {"kmsKeyId": ["urn:key"]},
        ),
        StackResource(
            view.LOG_GROUP,
            "odd-logs",
            "urn:odd-logs",
            {"tags": TAGS, "kmsKeyId": unknown},
            {"kmsKeyId": ["urn:bucket"]},
        ),
    ]
    assert log_groups_encrypted(StackView(resources)) == [
        "odd-logs: kmsKeyId is not known to come from a KMS key of this stack"
    ]


@pytest.mark.parametrize("port", [("udp", 1194), ("udp", 51820), ("tcp", 443)], ids=str)
def test_the_vpn_port_is_read_from_the_bastion_in_the_stack_not_hard_coded(port: tuple[str, int]) -> None:
    stack = changed("bastion-sg", ingress=[world(*port), world("tcp", 22, "10.250.0.0/24")])(compliant())
    assert "no-world-ingress" not in judge(stack)


def test_only_one_world_port_on_the_bastion_and_never_ssh() -> None:
    two = changed("bastion-sg", ingress=[world("udp", 1194), world("tcp", 443)])(compliant())
    ssh = changed("bastion-sg", ingress=[world("tcp", 22)])(compliant())
    assert len(judge(two)["no-world-ingress"]) == 2
    assert judge(ssh)["no-world-ingress"] == [
        "security group bastion-sg: tcp 22 is open to the internet (0.0.0.0/0): admit specific ranges"
    ]


def test_a_world_port_on_a_group_the_stack_does_not_show_as_a_public_entry_is_flagged() -> None:
    unused = plus(res(view.SECURITY_GROUP, "spare-sg", id="sg-spare", ingress=[world("udp", 1194)]))
    assert judge(unused(compliant()))["no-world-ingress"] == [
        "security group spare-sg: udp 1194 is open to the internet (0.0.0.0/0): admit specific ranges"
    ]


@pytest.mark.parametrize(
    ("cidrs", "is_world"),
    [
        (["0.0.0.0/0"], True),
        (HALVES, True),
        (["128.0.0.0/1"], True),
        ([f"{octet}.0.0.0/8" for octet in (1, 2)], True),
        (["::/1", "8000::/1"], True),
        (["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"], False),
        (["203.0.113.0/24", "198.51.100.0/24"], False),
        (["2001:db8::/32"], False),
    ],
    ids=["all", "halves", "half", "two-slash-8", "ipv6-halves", "private", "offices", "ipv6-office"],
)
def test_ranges_are_judged_as_a_set(cidrs: list[str], is_world: bool) -> None:
    from ipaddress import ip_network

    assert view.is_world(ip_network(c) for c in cidrs) is is_world


def test_a_subnet_is_public_by_its_routes_whatever_its_tags() -> None:
    untagged = changed("public-a", tags=TAGS)(compliant())
    assert [s.name for s in public_subnets(StackView(untagged))] == ["public-a"]


def test_stack_policy_shield_names_an_elastic_ip_by_its_allocation() -> None:
    by_elastic_ip_arn = changed(
        "shield-bastion", resourceArn="arn:aws:ec2:eu-west-1:1:elastic-ip/eipalloc-1"
    )(compliant())
    assert judge(by_elastic_ip_arn)["shield-on-public-entries-in-prod"] == [
        "public entry bastion-ip has no Shield protection"
    ]


def test_shield_is_not_demanded_of_a_preprod_stack() -> None:
    preprod = [
        StackResource(r.type, r.name, r.urn, {**r.props, "tags": {**TAGS, "environment": "preprod"}})
        for r in without("shield-alb", "shield-bastion", "object-lock")(compliant())
    ]
    assert judge(preprod) == {}


def test_stack_policy_public_subnet_routed_to_another_zones_endpoint_is_flagged() -> None:
    def zone_b(resources: list[StackResource]) -> list[StackResource]:
        extra = [
            res(
                view.SUBNET,
                "public-b",
                id="subnet-public-b",
                vpcId="vpc-1",
                availabilityZone="eu-west-1b",
                tags={**TAGS, "tier": "public"},
            ),
            res(
                view.SUBNET,
                "firewall-b",
                id="subnet-firewall-b",
                vpcId="vpc-1",
                availabilityZone="eu-west-1b",
            ),
            res("aws:ec2/routeTable:RouteTable", "public-b-rt", id="rt-public-b"),
            res(
                "aws:ec2/routeTableAssociation:RouteTableAssociation",
                "public-b-rta",
                subnetId="subnet-public-b",
                routeTableId="rt-public-b",
            ),
            res(
                "aws:ec2/route:Route",
                "public-b-default",
                routeTableId="rt-public-b",
                destinationCidrBlock="0.0.0.0/0",
                vpcEndpointId="vpce-a",
            ),
        ]
        firewall = next(r for r in resources if r.name == "firewall")
        statuses = [
            {
                "syncStates": [
                    {"availabilityZone": f"eu-west-1{z}", "attachments": [{"endpointId": f"vpce-{z}"}]}
                    for z in "ab"
                ]
            }
        ]
        return changed(
            "firewall",
            subnetMappings=[*firewall.props["subnetMappings"], {"subnetId": "subnet-firewall-b"}],
            firewallStatuses=statuses,
        )([*resources, *extra])

    assert judge(zone_b(compliant()))["firewall-in-every-zone"] == [
        "public subnet public-b in eu-west-1b is routed to vpce-a, not its zone's endpoint"
    ]


def test_every_infrastructure_control_is_checked_by_a_policy() -> None:
    # That every policy is a check of the control it declares is the matrix's own check (tests/test_controls.py).
    from evidence.controls import load

    infra_controls = [c for c in load().controls if any(ref.kind == "infra" for ref in c.implemented_by)]
    unchecked = [c.id for c in infra_controls if not any(ref.kind == "policy" for ref in c.checks)]
    assert unchecked == []


def test_example_stacks_pass_every_mandatory_policy(example_stack: StackSnapshot) -> None:
    assert mandatory(run_pack(example_stack)) == []


@pytest.fixture(scope="module")
def broken_stack() -> StackSnapshot:
    return evaluate(stack_config("acme-prod"), stack="broken", program=broken_program)


def test_broken_stack_fails_with_the_expected_violations(broken_stack: StackSnapshot) -> None:
    # Policies about what the broken program does not declare at all (no firewall, web ACL or backups): the
    # policies demanding those things report their absence instead.
    not_declared = {
        "single-tenant",
        "network-firewall-protected",
        "network-firewall-strict-order",
        "network-firewall-encrypted-with-stack-key",
        "network-firewall-uses-stack-policy",
        "network-firewall-logging",
        "waf-managed-rule-groups",
        "waf-rate-limit",
        "waf-logging",
        "backup-vault-locked",
        "backup-plan-retention",
        "backup-restore-tested",
        "backup-vaults-encrypted-with-stack-key",
        "sns-topics-encrypted-with-stack-key",
    }
    # A concern's test module names its policies the broken program passes, each with the reason.
    not_declared |= {
        name for module in concern_tests() for name in getattr(module, "PASSED_BY_BROKEN_STACK", {})
    }
    violated = {v.policy for v in mandatory(run_pack(broken_stack))}
    assert violated == {spec.name for spec in all_policies()} - not_declared


def test_the_bypasses_of_the_review_are_caught_on_a_real_program(broken_stack: StackSnapshot) -> None:
    messages = {(v.policy, v.message) for v in mandatory(run_pack(broken_stack))}

    def caught(policy: str, words: str) -> bool:
        return any(p == policy and words in m for p, m in messages)

    assert caught("s3-buckets-encrypted-with-stack-key", "broken-bucket: not encrypted")
    assert caught("no-world-ingress", "tcp 3389 is open to the internet (0.0.0.0/1, 128.0.0.0/1)")
    assert caught("tls-1-2-on-every-listener", "TLS listener policy ELBSecurityPolicy-2016-08")
    assert caught("log-groups-encrypted-with-stack-key", "'any-string-at-all' is not a KMS key of this stack")
    assert caught(
        "no-direct-internet-route", "subnet broken-untagged routes 0.0.0.0/0 straight to an internet"
    )
    assert caught("eu-providers-only", "provider region us-east-1 is outside the EU")
    assert caught("nacl-no-world-admin-ports", "malformed value")


JUSTIFIED = "accepted by the tenant's risk owner for this test"
# Each named exception of the config, the settings it allows, and the only policies those settings violate (the
# ones a justified exception waives for its stack).
EXCEPTIONS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("shortLogRetention", {"logRetentionDays": 365}, {"log-retention-12-months"}),
    (
        "noShieldAdvanced",
        {"edge": {"domainName": "app.acme.example.com", "shieldAdvanced": False}},
        {"shield-on-public-entries-in-prod"},
    ),
    ("logArchiveWithoutObjectLock", {"logArchive": {"objectLock": False}}, {"s3-object-lock-in-prod"}),
    ("shortLogArchiveRetention", {"logArchive": {"retentionDays": 90}}, {"s3-object-lock-in-prod"}),
    # The pack accepts SSE-S3 on the access-log bucket by effect (only ELB log delivery writes there).
    ("loadBalancerLogsSseS3", {"logArchive": {"loadBalancerAccessLogs": True}}, set()),
    (
        "shortBackupRetention",
        {"backups": {"dailyRetentionDays": 7}},
        {"backup-plan-retention", "backup-vault-locked"},
    ),
    ("shortMonthlyBackupRetention", {"backups": {"monthlyRetentionMonths": 3}}, {"backup-plan-retention"}),
    ("backupVaultWithoutLock", {"backups": {"vaultLock": "none"}}, {"backup-vault-locked"}),
    # Together more than a /16, none of it the internet: the config asks for the exception, the pack has no quarrel.
    ("wideAdminRanges", {"adminCidrs": ["172.16.0.0/14"]}, set()),
]


@pytest.mark.parametrize(("exception", "settings", "policies"), EXCEPTIONS, ids=[e[0] for e in EXCEPTIONS])
def test_each_exception_of_the_config_touches_exactly_its_policies(
    exception: str, settings: dict[str, Any], policies: set[str]
) -> None:
    overrides = {f"secure-tenant:{key}": value for key, value in settings.items()}
    stack = evaluate_waived("acme-prod", overrides, {exception: JUSTIFIED})
    # Only its policies fail, and with the stack's own enforcement they are advisory, marked as waived by it.
    assert {v.policy for v in run_pack(stack, {"all": "mandatory"})} == policies
    assert {(v.policy, v.enforcement, v.waived_by) for v in run_pack(stack)} == {
        (policy, "advisory", exception) for policy in policies
    }
    assert WAIVED_POLICIES[ExceptionName(exception)] == policies
    assert policy_pack_config({exception: JUSTIFIED}) == {
        "all": "mandatory",
        **dict.fromkeys(policies, "advisory"),
    }


def test_every_exception_name_is_walked() -> None:
    assert {name for name, _, _ in EXCEPTIONS} == set(ExceptionName) == set(WAIVED_POLICIES)


def test_an_exception_waives_nothing_but_its_own_policies(broken_stack: StackSnapshot) -> None:
    # The broken stack violates many policies; a stack exception named for log retention leaves the others mandatory.
    config = policy_pack_config({"shortLogRetention": JUSTIFIED})
    levels = {v.policy: v.enforcement for v in run_pack(broken_stack, config)}
    assert levels.pop("log-retention-12-months", "advisory") == "advisory"
    assert levels and set(levels.values()) == {"mandatory"}


@pytest.mark.parametrize(("port", "protocol"), [(443, "tcp"), (51820, "udp")])
def test_a_valid_non_default_vpn_port_open_to_the_internet_passes_the_pack(port: int, protocol: str) -> None:
    stack = evaluate_stack(
        "acme-prod",
        {"secure-tenant:bastion": {"vpnPort": port, "vpnProtocol": protocol}, "secure-tenant:adminCidrs": []},
    )
    assert run_pack(stack) == []


def test_enforcement_levels_are_configurable_per_policy(broken_stack: StackSnapshot) -> None:
    violations = run_pack(
        broken_stack,
        {"all": "mandatory", "kms-key-rotation": "advisory", "s3-tls-only": {"enforcementLevel": "disabled"}},
    )
    assert {v.enforcement for v in violations if v.policy == "kms-key-rotation"} == {"advisory"}
    assert not [v for v in violations if v.policy == "s3-tls-only"]
    with pytest.raises(ValueError, match="tenant-tags: 'blocking' is not mandatory, advisory or disabled"):
        enforcement_levels({"tenant-tags": "blocking"})


def test_a_policys_own_settings_reach_it_as_the_cli_passes_them(broken_stack: StackSnapshot) -> None:
    def kms_messages(config: Mapping[str, Any]) -> list[str]:
        return [v.message for v in run_pack(broken_stack, config) if v.policy == "kms-keys-of-this-stack"]

    untrusted = kms_messages({"all": "mandatory"})
    assert any("'any-string-at-all' is not a KMS key of this stack" in m for m in untrusted)
    trusted = kms_messages(
        {"kms-keys-of-this-stack": {"enforcementLevel": "mandatory", "trustedKeyArns": ["any-string-at-all"]}}
    )
    assert not any("any-string-at-all" in m for m in trusted)
    assert len(trusted) == len(untrusted) - sum("any-string-at-all" in m for m in untrusted)


# --- SSE-S3 only where ELB access logs must go --------------------------------------------------------------------
ELB_WRITES = {
    "Sid": "ElbWritesThisAccountsAccessLogs",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::156460612806:root"},
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::bucket-1/AWSLogs/123456789012/*",
}
SSE_S3 = changed("sse", rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}])
DELIVERS_ACCESS_LOGS = changed("alb", accessLogs={"bucket": "bucket-1", "enabled": True})


def access_log_policy(*allows: dict[str, Any]) -> Mutation:
    document = json.loads(TLS_DENY)
    return changed("bucket-policy", policy=json.dumps({"Statement": [*document["Statement"], *allows]}))


def encryption_problems(*mutations: Mutation) -> list[str]:
    return judge(both(*mutations)(compliant())).get("s3-buckets-encrypted-with-stack-key", [])


def test_sse_s3_is_accepted_on_a_bucket_that_only_elb_access_log_delivery_writes_into() -> None:
    assert encryption_problems(SSE_S3, DELIVERS_ACCESS_LOGS, access_log_policy(ELB_WRITES)) == []
    newer_region = {**ELB_WRITES, "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}}
    assert encryption_problems(SSE_S3, DELIVERS_ACCESS_LOGS, access_log_policy(newer_region)) == []


def test_a_normal_data_bucket_with_sse_s3_is_still_refused() -> None:
    assert encryption_problems(SSE_S3) == [
        "bucket: server-side encryption AES256 is not aws:kms with a tenant key"
    ]


@pytest.mark.parametrize(
    "mutations",
    [
        pytest.param((access_log_policy(ELB_WRITES),), id="elb-may-write-but-no-load-balancer-logs-there"),
        pytest.param(
            (
                changed("alb", accessLogs={"bucket": "bucket-1", "enabled": False}),
                access_log_policy(ELB_WRITES),
            ),
            id="access-logs-switched-off",
        ),
        pytest.param((DELIVERS_ACCESS_LOGS,), id="no-elb-statement-at-all"),
        pytest.param(
            (
                DELIVERS_ACCESS_LOGS,
                access_log_policy(
                    ELB_WRITES,
                    {
                        **ELB_WRITES,
                        "Sid": "AppWrites",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:role/app"},
                    },
                ),
            ),
            id="another-writer-next-to-elb",
        ),
        pytest.param(
            (
                DELIVERS_ACCESS_LOGS,
                access_log_policy({**ELB_WRITES, "Action": ["s3:PutObject", "s3:GetObject"]}),
            ),
            id="elb-may-do-more-than-put",
        ),
        pytest.param(
            (DELIVERS_ACCESS_LOGS, access_log_policy({**ELB_WRITES, "Principal": "*"})),
            id="anyone-may-put",
        ),
        pytest.param(
            (
                DELIVERS_ACCESS_LOGS,
                access_log_policy({**ELB_WRITES, "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}),
            ),
            id="an-account-that-is-not-elb",
        ),
        pytest.param(
            (
                DELIVERS_ACCESS_LOGS,
                access_log_policy(
                    {k: v for k, v in ELB_WRITES.items() if k != "Action"} | {"NotAction": "s3:Get*"}
                ),
            ),
            id="not-action",
        ),
    ],
)
def test_sse_s3_is_refused_unless_the_bucket_is_an_elb_access_log_bucket_by_effect(
    mutations: tuple[Mutation, ...],
) -> None:
    assert encryption_problems(SSE_S3, *mutations) == [
        "bucket: server-side encryption AES256 is not aws:kms with a tenant key"
    ]
