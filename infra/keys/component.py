"""TenantKeys: one customer-managed KMS key per data class, owned by this tenant alone, and the EBS key as the
region's default for new volumes.

Each key policy grants the account root (so IAM policies of the account can be used, and the key can never become
unmanageable), the named key administrator roles (management only, no use of the key) and, per data class, only
the AWS services that need the key, each narrowed by a condition to this tenant's resources or this account.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from infra.concerns import terraform_types
from infra.config import ConfigError
from infra.iam import service_allow
from infra.naming import Naming

# The Terraform type of each resource type this component creates, for the checkov export of the stack
# (review/terraform_plan.py refuses a type no concern declares).
TERRAFORM_TYPES = terraform_types(
    "aws:ebs/defaultKmsKey:DefaultKmsKey",
    "aws:ebs/encryptionByDefault:EncryptionByDefault",
    "aws:kms/alias:Alias",
    "aws:kms/externalKey:ExternalKey",
    "aws:kms/key:Key",
)

KeyClass = Literal["logs", "data", "backups", "ebs", "secrets"]
KEY_CLASSES: tuple[KeyClass, ...] = ("logs", "data", "backups", "ebs", "secrets")
ROTATION_PERIOD_DAYS = 365
DELETION_WINDOW_DAYS = 30

# Services through which principals of this account may use a class's key (kms:ViaService): EBS volumes are
# created by EC2 itself and by Auto Scaling's service-linked role, backups by AWS Backup, secrets by Secrets
# Manager and SSM Parameter Store, tenant data lives in S3. Logs are written by service principals (see below).
VIA_SERVICES: dict[KeyClass, tuple[str, ...]] = {
    "logs": (),
    "data": ("s3",),
    "backups": ("backup",),
    "ebs": ("ec2", "autoscaling"),
    "secrets": ("secretsmanager", "ssm"),
}
USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
# Everything needed to manage a key, including importing BYOK material, and nothing that encrypts or decrypts.
ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:ImportKeyMaterial",
    "kms:RotateKeyOnDemand",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
BYOK_ROTATION = "none automatic (imported key material): rotate on demand with new material, see docs/byok.md"


@dataclass(frozen=True)
class TenantKeysArgs:
    naming: Naming
    region: str
    trail_name: str
    admin_role_arns: tuple[str, ...] = ()
    byok: bool = False


@dataclass(frozen=True)
class KeyPolicyContext:
    """What the key policies are built from once the account is known."""

    account_id: str
    region: str
    log_groups: list[str]
    trail_arn: str
    admin_role_arns: tuple[str, ...] = ()


def log_group_name_patterns(naming: Naming) -> list[str]:
    """The only log groups the logs key may encrypt: this tenant's (WAF insists on its own name prefix)."""
    return [f"/{naming.prefix}/*", f"aws-waf-logs-{naming.prefix}*"]


def trail_arn(region: str, account_id: str, trail_name: str) -> str:
    """The ARN CloudTrail gives the tenant's trail (a multi-region trail keeps its home region in the ARN)."""
    return f"arn:aws:cloudtrail:{region}:{account_id}:trail/{trail_name}"


def _log_service_statements(context: KeyPolicyContext) -> list[dict[str, Any]]:
    account, region = context.account_id, context.region
    return [
        service_allow(
            "CloudWatchLogsOfThisTenantOnly",
            f"logs.{region}.amazonaws.com",
            ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "*",
            {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": [
                        f"arn:aws:logs:{region}:{account}:log-group:{pattern}"
                        for pattern in context.log_groups
                    ]
                }
            },
        ),
        service_allow(
            "CloudTrailEncryptsThisTrailOnly",
            "cloudtrail.amazonaws.com",
            ["kms:GenerateDataKey*"],
            "*",
            {
                "StringEquals": {
                    "aws:SourceArn": context.trail_arn,
                    "kms:EncryptionContext:aws:cloudtrail:arn": context.trail_arn,
                }
            },
        ),
        service_allow(
            "CloudTrailDescribesKeyForThisTrail",
            "cloudtrail.amazonaws.com",
            ["kms:DescribeKey"],
            "*",
            {"StringEquals": {"aws:SourceArn": context.trail_arn}},
        ),
        service_allow(
            "ConfigDeliversSnapshotsOfThisAccount",
            "config.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            "*",
            {"StringEquals": {"aws:SourceAccount": account}},
        ),
        # EventBridge (GuardDuty, Security Hub findings) and CloudWatch alarms (Shield's DDoS alarms) publish to the
        # alerts topic encrypted with this key.
        service_allow(
            "EventBridgePublishesAlertsOfThisAccount",
            "events.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            "*",
            {"StringEquals": {"aws:SourceAccount": account}},
        ),
        service_allow(
            "CloudWatchAlarmsPublishAlertsOfThisAccount",
            "cloudwatch.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            "*",
            {"StringEquals": {"aws:SourceAccount": account}},
        ),
    ]


def _via_service_statements(context: KeyPolicyContext, services: tuple[str, ...]) -> list[dict[str, Any]]:
    only_through = {
        "kms:CallerAccount": context.account_id,
        "kms:ViaService": [f"{service}.{context.region}.amazonaws.com" for service in services],
    }
    return [
        {
            "Sid": "UseThroughTheServicesOfThisDataClass",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": USE_ACTIONS,
            "Resource": "*",
            "Condition": {"StringEquals": only_through},
        },
        {
            "Sid": "GrantsOnlyForAwsResourcesOfTheseServices",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": GRANT_ACTIONS,
            "Resource": "*",
            "Condition": {"StringEquals": only_through, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


def key_policy(context: KeyPolicyContext, key_class: KeyClass) -> dict[str, Any]:
    """The key policy: the account root administers; AWS services get only what their data class needs."""
    foreign = [arn for arn in context.admin_role_arns if arn.split(":")[4] != context.account_id]
    if foreign:
        # Only known once the account id is: raised inside an apply, reported as a config error by the engine.
        raise ConfigError(
            f"secure-tenant:keys.adminRoleArns: {', '.join(foreign)} not in account {context.account_id}, "
            "where the keys are created: list roles of that account"
        )
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountRootAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{context.account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if context.admin_role_arns:
        statements.append(
            {
                "Sid": "NamedKeyAdministratorsManageButCannotUse",
                "Effect": "Allow",
                "Principal": {"AWS": list(context.admin_role_arns)},
                "Action": ADMIN_ACTIONS,
                "Resource": "*",
            }
        )
    if key_class == "logs":
        statements.extend(_log_service_statements(context))
    if VIA_SERVICES[key_class]:
        statements.extend(_via_service_statements(context, VIA_SERVICES[key_class]))
    return {"Version": "2012-10-17", "Statement": statements}


def _key_policy_json(args: TenantKeysArgs, key_class: KeyClass, account_id: str) -> str:
    context = KeyPolicyContext(
        account_id=account_id,
        region=args.region,
        log_groups=log_group_name_patterns(args.naming),
        trail_arn=trail_arn(args.region, account_id, args.trail_name),
        admin_role_arns=args.admin_role_arns,
    )
    return json.dumps(key_policy(context, key_class))


class TenantKeys(pulumi.ComponentResource):
    """Customer-managed KMS keys, one per data class, each with an alias `alias/<tenant>-<env>-<class>`.

    Keys rotate automatically every year. With `byok` the keys are created without material (origin EXTERNAL)
    for the tenant to import its own; KMS cannot rotate imported material automatically, which `rotation` says
    so the preview shows it (docs/byok.md describes the import and the rotation on demand).
    """

    keys: dict[KeyClass, aws.kms.Key | aws.kms.ExternalKey]
    rotation: dict[KeyClass, str]

    def __init__(self, name: str, args: TenantKeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-tenant:keys:TenantKeys", name, None, opts)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        child = pulumi.ResourceOptions(parent=self)
        self.keys = {}
        self.rotation = {}
        for key_class in KEY_CLASSES:
            key_name = args.naming.name(key_class)
            description = f"{args.naming.prefix} {key_class} data"
            policy = account_id.apply(functools.partial(_key_policy_json, args, key_class))
            key: aws.kms.Key | aws.kms.ExternalKey
            if args.byok:
                key = aws.kms.ExternalKey(
                    f"{key_name}-key",
                    description=f"{description} (BYOK: imported key material)",
                    deletion_window_in_days=DELETION_WINDOW_DAYS,
                    policy=policy,
                    opts=child,
                )
                target_key_id = key.id
                self.rotation[key_class] = BYOK_ROTATION
            else:
                key = aws.kms.Key(
                    f"{key_name}-key",
                    description=description,
                    enable_key_rotation=True,
                    rotation_period_in_days=ROTATION_PERIOD_DAYS,
                    deletion_window_in_days=DELETION_WINDOW_DAYS,
                    policy=policy,
                    opts=child,
                )
                target_key_id = key.key_id
                self.rotation[key_class] = f"automatic every {ROTATION_PERIOD_DAYS} days"
            aws.kms.Alias(
                f"{key_name}-alias",
                name=f"alias/{key_name}",
                target_key_id=target_key_id,
                opts=pulumi.ResourceOptions(parent=key),
            )
            self.keys[key_class] = key
        # CRY-06: the region encrypts every new volume with the tenant's EBS key, also those this program does not
        # declare (made by hand, by a service, from an unencrypted snapshot), instead of leaving them plain or on
        # the AWS-managed aws/ebs key. Both settings are the account's, per region, as the tenant's account is.
        ebs_default = pulumi.ResourceOptions(parent=self.keys["ebs"])
        aws.ebs.EncryptionByDefault(
            args.naming.name("ebs-encryption-by-default"), enabled=True, opts=ebs_default
        )
        aws.ebs.DefaultKmsKey(
            args.naming.name("ebs-default-key"), key_arn=self.keys["ebs"].arn, opts=ebs_default
        )
        self.register_outputs(
            {
                **{f"{key_class}KeyArn": key.arn for key_class, key in self.keys.items()},
                "rotation": self.rotation,
            }
        )
