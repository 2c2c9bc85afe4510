"""LogArchive: the tenant's S3 log archive, private, TLS-only, encrypted with the tenant's logs key, kept 12 months.

CloudTrail and AWS Config deliver into it. ELB access logs cannot: ELB delivers only into buckets encrypted with
S3-managed keys (SSE-S3), so they get a bucket of their own, with the same controls except the key, and only
when the stack accepts that with the named exception `loadBalancerLogsSseS3` (see infra/log_archive/config.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.baseline import ELB_LOG_ACCOUNTS, ELB_LOG_DELIVERY_SERVICE
from infra.concerns import terraform_types
from infra.iam import service_allow
from infra.keys.component import trail_arn
from infra.naming import Naming

# The Terraform type of each resource type this component creates, for the checkov export of the stack
# (review/terraform_plan.py refuses a type no concern declares).
TERRAFORM_TYPES = terraform_types(
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
)

# Cheaper storage as logs age; both classes keep millisecond access for an investigation.
LIFECYCLE_TRANSITIONS = (("STANDARD_IA", 30), ("GLACIER_IR", 90))
ABORT_INCOMPLETE_UPLOADS_DAYS = 7
MIN_TLS_VERSION = 1.2


@dataclass(frozen=True)
class LogArchiveArgs:
    naming: Naming
    region: str
    logs_key_arn: pulumi.Input[str]
    trail_name: str
    retention_days: int
    object_lock: bool
    load_balancer_access_logs: bool = False


@dataclass(frozen=True)
class BucketPolicyContext:
    """What a bucket policy is built from once the bucket, the account and the key are known."""

    bucket_arn: str
    account_id: str
    region: str


def tls_only_statements(bucket_arn: str) -> list[dict[str, Any]]:
    """Deny every request without TLS, and every request below TLS 1.2."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return [
        {
            "Sid": "DenyWithoutTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyTlsBelow12",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": MIN_TLS_VERSION}},
        },
    ]


def archive_policy(context: BucketPolicyContext, key_arn: str, trail: str) -> dict[str, Any]:
    """TLS only, objects only under the tenant key, and writes only by this account's trail and AWS Config."""
    bucket, account = context.bucket_arn, context.account_id
    owner_full_control = {"s3:x-amz-acl": "bucket-owner-full-control"}
    from_trail = {"aws:SourceAccount": account, "aws:SourceArn": trail}
    from_account = {"aws:SourceAccount": account}
    return {
        "Version": "2012-10-17",
        "Statement": [
            *tls_only_statements(bucket),
            {
                "Sid": "DenyObjectsNotEncryptedWithTheTenantLogsKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket}/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}},
            },
            service_allow(
                "CloudTrailChecksAcl",
                "cloudtrail.amazonaws.com",
                "s3:GetBucketAcl",
                bucket,
                {"StringEquals": from_trail},
            ),
            service_allow(
                "CloudTrailWritesThisAccountsTrail",
                "cloudtrail.amazonaws.com",
                "s3:PutObject",
                f"{bucket}/AWSLogs/{account}/*",
                {"StringEquals": {**from_trail, **owner_full_control}},
            ),
            service_allow(
                "ConfigChecksAcl",
                "config.amazonaws.com",
                "s3:GetBucketAcl",
                bucket,
                {"StringEquals": from_account},
            ),
            service_allow(
                "ConfigChecksBucketExists",
                "config.amazonaws.com",
                "s3:ListBucket",
                bucket,
                {"StringEquals": from_account},
            ),
            service_allow(
                "ConfigWritesThisAccountsSnapshots",
                "config.amazonaws.com",
                "s3:PutObject",
                f"{bucket}/AWSLogs/{account}/Config/*",
                {"StringEquals": {**from_account, **owner_full_control}},
            ),
        ],
    }


def elb_log_principal(region: str) -> dict[str, str]:
    """Who delivers ELB access logs in a region: the regional ELB account, or the service in newer regions."""
    account = ELB_LOG_ACCOUNTS.get(region)
    return {"AWS": f"arn:aws:iam::{account}:root"} if account else {"Service": ELB_LOG_DELIVERY_SERVICE}


def access_log_policy(context: BucketPolicyContext) -> dict[str, Any]:
    """TLS only, and ELB writes only this account's access logs."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            *tls_only_statements(context.bucket_arn),
            {
                # The regional ELB account signs the request itself, so no aws:SourceAccount can be required;
                # the key prefix confines it to this account's logs.
                "Sid": "ElbWritesThisAccountsAccessLogs",
                "Effect": "Allow",
                "Principal": elb_log_principal(context.region),
                "Action": "s3:PutObject",
                "Resource": f"{context.bucket_arn}/AWSLogs/{context.account_id}/*",
            },
        ],
    }


def lifecycle_rule(retention_days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """Cheaper storage as logs age, deletion after the retention, for current and overwritten versions alike."""
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="age-then-expire-after-retention",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        transitions=[
            aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(storage_class=storage_class, days=days)
            for storage_class, days in LIFECYCLE_TRANSITIONS
            if days < retention_days
        ],
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=retention_days
        ),
        abort_incomplete_multipart_upload=(
            aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
            )
        ),
    )


class LogArchive(pulumi.ComponentResource):
    """A private, versioned, TLS-only S3 archive for the tenant's logs, object-locked where enabled.

    `bucket` is the archive (SSE-KMS with the tenant logs key, bucket keys on); `policy` its bucket policy, which
    deliveries into it must wait for. `access_log_bucket` exists only with load balancer access logs on.
    """

    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    access_log_bucket: aws.s3.Bucket | None
    access_log_policy: aws.s3.BucketPolicy | None

    def __init__(self, name: str, args: LogArchiveArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-tenant:log_archive:LogArchive", name, None, opts)
        self._args = args
        self._account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).account_id

        self.bucket, archive_block = self._hardened_bucket(
            "log-archive",
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=(
                    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.logs_key_arn
                    )
                ),
                bucket_key_enabled=True,
            ),
        )
        self.policy = self._bucket_policy(
            "log-archive",
            self.bucket,
            archive_block,
            pulumi.Output.all(self.bucket.arn, self._account_id, args.logs_key_arn).apply(
                lambda values: archive_policy(
                    self._context(values[0], values[1]),
                    key_arn=values[2],
                    trail=trail_arn(args.region, values[1], args.trail_name),
                )
            ),
        )

        self.access_log_bucket = self.access_log_policy = None
        if args.load_balancer_access_logs:
            self.access_log_bucket, access_log_block = self._hardened_bucket(
                "lb-access-logs",
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    ),
                ),
            )
            self.access_log_policy = self._bucket_policy(
                "lb-access-logs",
                self.access_log_bucket,
                access_log_block,
                pulumi.Output.all(self.access_log_bucket.arn, self._account_id).apply(
                    lambda values: access_log_policy(self._context(values[0], values[1]))
                ),
            )
        self.register_outputs(
            {
                "bucketName": self.bucket.bucket,
                "accessLogBucketName": self.access_log_bucket.bucket if self.access_log_bucket else None,
            }
        )

    def _context(self, bucket_arn: str, account_id: str) -> BucketPolicyContext:
        return BucketPolicyContext(bucket_arn=bucket_arn, account_id=account_id, region=self._args.region)

    def _hardened_bucket(
        self, purpose: str, encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleArgs
    ) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock]:
        """A private, owner-enforced, versioned, encrypted bucket, locked and aged as configured."""
        args = self._args
        name = args.naming.name(purpose)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            # Bucket names are global: the account id makes the tenant's name its own.
            bucket=self._account_id.apply(lambda account: f"{name}-{account}"),
            object_lock_enabled=args.object_lock,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=bucket)
        public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id, rules=[encryption], opts=child
        )
        # Object lock and expiring noncurrent versions both need versioning on first.
        after_versioning = pulumi.ResourceOptions(parent=bucket, depends_on=[versioning])
        if args.object_lock:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode="GOVERNANCE", days=args.retention_days
                    )
                ),
                opts=after_versioning,
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[lifecycle_rule(args.retention_days)],
            opts=after_versioning,
        )
        return bucket, public_access_block

    def _bucket_policy(
        self,
        purpose: str,
        bucket: aws.s3.Bucket,
        public_access_block: aws.s3.BucketPublicAccessBlock,
        document: pulumi.Output[dict[str, Any]],
    ) -> aws.s3.BucketPolicy:
        return aws.s3.BucketPolicy(
            f"{self._args.naming.name(purpose)}-policy",
            bucket=bucket.id,
            policy=document.apply(json.dumps),
            # S3 refuses a bucket policy while the public access block is still being written.
            opts=pulumi.ResourceOptions(parent=bucket, depends_on=[public_access_block]),
        )
