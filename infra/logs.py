"""CloudWatch log groups as the policy wants every one of them: tenant-key encrypted, kept 12 full months."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def encrypted_log_group(
    resource_name: str,
    *,
    log_group_name: str,
    kms_key_arn: pulumi.Input[str],
    retention_days: int,
    parent: pulumi.Resource,
) -> aws.cloudwatch.LogGroup:
    """A log group encrypted with a tenant key; retention_days was validated (>= 400 or a named exception)."""
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=log_group_name,
        kms_key_id=kms_key_arn,
        retention_in_days=retention_days,
        opts=pulumi.ResourceOptions(parent=parent),
    )
