"""TenantKeys: one customer-managed KMS key per data class, owned by this tenant alone."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from infra.naming import Naming

KeyClass = Literal["logs", "data", "backups", "ebs", "secrets"]
KEY_CLASSES: tuple[KeyClass, ...] = ("logs", "data", "backups", "ebs", "secrets")


@dataclass(frozen=True)
class TenantKeysArgs:
    naming: Naming
    region: str


def log_group_name_patterns(naming: Naming) -> list[str]:
    """The only log groups the logs key may encrypt: this tenant's (WAF insists on its own name prefix)."""
    return [f"/{naming.prefix}/*", f"aws-waf-logs-{naming.prefix}*"]


def key_policy(account_id: str, region: str, key_class: KeyClass, log_groups: list[str]) -> dict[str, Any]:
    """The key policy: the account root administers; AWS services get only what their data class needs."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountRootAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if key_class == "logs":
        statements.append(
            {
                "Sid": "CloudWatchLogsOfThisTenantOnly",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": [
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            f"arn:aws:logs:{region}:{account_id}:log-group:{pattern}"
                            for pattern in log_groups
                        ]
                    }
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _key_policy_json(args: TenantKeysArgs, key_class: KeyClass, account_id: str) -> str:
    return json.dumps(key_policy(account_id, args.region, key_class, log_group_name_patterns(args.naming)))


class TenantKeys(pulumi.ComponentResource):
    """Customer-managed, rotating KMS keys, one per data class, each with an alias `alias/<tenant>-<env>-<class>`."""

    keys: dict[KeyClass, aws.kms.Key]

    def __init__(self, name: str, args: TenantKeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-tenant:keys:TenantKeys", name, None, opts)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.keys = {}
        for key_class in KEY_CLASSES:
            key_name = args.naming.name(key_class)
            key = aws.kms.Key(
                f"{key_name}-key",
                description=f"{args.naming.prefix} {key_class} data",
                enable_key_rotation=True,
                rotation_period_in_days=365,
                deletion_window_in_days=30,
                policy=account_id.apply(functools.partial(_key_policy_json, args, key_class)),
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.kms.Alias(
                f"{key_name}-alias",
                name=f"alias/{key_name}",
                target_key_id=key.key_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.keys[key_class] = key
        self.register_outputs({f"{key_class}KeyArn": key.arn for key_class, key in self.keys.items()})
