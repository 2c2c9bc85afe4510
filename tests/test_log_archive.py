"""LogArchive, evaluated through the real program under mocks: a private, TLS-only, tenant-key encrypted archive."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError
from infra.fakes import MOCK_ACCOUNT_ID
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack
from tests.stacks import approved, evaluate_waived, prefix

LB_LOGS_EXCEPTION = {"loadBalancerLogsSseS3": "ALB access logs are required by the tenant's SOC"}


@pytest.fixture(scope="module")
def access_log_stack() -> StackSnapshot:
    """acme-prod with load balancer access logs accepted by their named exception."""
    return evaluate_waived(
        "acme-prod", {"secure-tenant:logArchive": {"loadBalancerAccessLogs": True}}, LB_LOGS_EXCEPTION
    )


def archive(stack: StackSnapshot) -> DeclaredResource:
    return stack.named(f"{prefix(stack)}-log-archive-bucket")


def of_bucket(stack: StackSnapshot, resource_type: str, bucket: DeclaredResource) -> list[DeclaredResource]:
    return [r for r in stack.of_type(resource_type) if r.inputs["bucket"] == bucket.outputs["id"]]


def policy_of(stack: StackSnapshot, bucket: DeclaredResource) -> dict[str, dict[str, Any]]:
    (policy,) = of_bucket(stack, "aws:s3/bucketPolicy:BucketPolicy", bucket)
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_the_archive_bucket_is_named_for_the_tenant_and_account(example_stack: StackSnapshot) -> None:
    bucket = archive(example_stack)
    assert bucket.inputs["bucket"] == f"{prefix(example_stack)}-log-archive-{MOCK_ACCOUNT_ID}"
    assert example_stack.outputs["logArchiveBucket"] == bucket.inputs["bucket"]


def test_public_access_is_blocked_with_all_four_flags(example_stack: StackSnapshot) -> None:
    (block,) = of_bucket(
        example_stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", archive(example_stack)
    )
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block.inputs[flag] is True, flag


def test_the_bucket_owner_owns_every_object_and_acls_are_off(example_stack: StackSnapshot) -> None:
    (ownership,) = of_bucket(
        example_stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", archive(example_stack)
    )
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"


def test_versioning_is_on(example_stack: StackSnapshot) -> None:
    (versioning,) = of_bucket(
        example_stack, "aws:s3/bucketVersioning:BucketVersioning", archive(example_stack)
    )
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"


def test_objects_are_encrypted_with_the_tenant_logs_key_and_bucket_keys(example_stack: StackSnapshot) -> None:
    (encryption,) = of_bucket(
        example_stack,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        archive(example_stack),
    )
    (rule,) = encryption.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": example_stack.named(f"{prefix(example_stack)}-logs-key").outputs["arn"],
    }
    assert rule["bucketKeyEnabled"] is True


def test_prod_locks_objects_in_governance_mode_for_the_retention(prod_stack: StackSnapshot) -> None:
    bucket = archive(prod_stack)
    assert bucket.inputs["objectLockEnabled"] is True
    (lock,) = of_bucket(
        prod_stack, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", bucket
    )
    retention = lock.inputs["rule"]["defaultRetention"]
    assert retention["mode"] == "GOVERNANCE" and retention["days"] >= 400
    assert prod_stack.outputs["logArchiveObjectLock"] is True


def test_preprod_has_no_object_lock_by_default(preprod_stack: StackSnapshot) -> None:
    assert archive(preprod_stack).inputs["objectLockEnabled"] is False
    assert not preprod_stack.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")


def test_logs_age_into_cheaper_storage_and_expire_after_the_retention(example_stack: StackSnapshot) -> None:
    (lifecycle,) = of_bucket(
        example_stack,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        archive(example_stack),
    )
    (rule,) = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""}
    assert [(t["storageClass"], t["days"]) for t in rule["transitions"]] == [
        ("STANDARD_IA", 30),
        ("GLACIER_IR", 90),
    ]
    assert rule["expiration"]["days"] >= 400
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == rule["expiration"]["days"]


def test_policy_denies_requests_without_tls_or_below_tls_1_2(example_stack: StackSnapshot) -> None:
    bucket_arn = archive(example_stack).outputs["arn"]
    policy = policy_of(example_stack, archive(example_stack))
    no_tls, old_tls = policy["DenyWithoutTls"], policy["DenyTlsBelow12"]
    for statement in (no_tls, old_tls):
        assert (
            statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
        )
        assert statement["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert no_tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert old_tls["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}}


def test_policy_denies_objects_not_encrypted_with_the_tenant_logs_key(example_stack: StackSnapshot) -> None:
    statement = policy_of(example_stack, archive(example_stack))[
        "DenyObjectsNotEncryptedWithTheTenantLogsKey"
    ]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "s3:PutObject"
    assert statement["Condition"] == {
        "StringNotEquals": {
            "s3:x-amz-server-side-encryption-aws-kms-key-id": example_stack.named(
                f"{prefix(example_stack)}-logs-key"
            ).outputs["arn"]
        }
    }


def test_only_the_tenant_trail_writes_cloudtrail_logs(example_stack: StackSnapshot) -> None:
    bucket_arn = archive(example_stack).outputs["arn"]
    (trail,) = example_stack.of_type("aws:cloudtrail/trail:Trail")
    policy = policy_of(example_stack, archive(example_stack))
    write, acl = policy["CloudTrailWritesThisAccountsTrail"], policy["CloudTrailChecksAcl"]
    assert write["Principal"] == acl["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert (write["Action"], write["Resource"]) == (
        "s3:PutObject",
        f"{bucket_arn}/AWSLogs/{MOCK_ACCOUNT_ID}/*",
    )
    assert (acl["Action"], acl["Resource"]) == ("s3:GetBucketAcl", bucket_arn)
    source = {"aws:SourceAccount": MOCK_ACCOUNT_ID, "aws:SourceArn": trail.outputs["arn"]}
    assert acl["Condition"] == {"StringEquals": source}
    assert write["Condition"] == {"StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"}}


def test_aws_config_of_this_account_delivers_into_its_prefix_only(example_stack: StackSnapshot) -> None:
    bucket_arn = archive(example_stack).outputs["arn"]
    policy = policy_of(example_stack, archive(example_stack))
    config = [s for s in policy.values() if s["Principal"] == {"Service": "config.amazonaws.com"}]
    assert {(s["Action"], s["Resource"]) for s in config} == {
        ("s3:GetBucketAcl", bucket_arn),
        ("s3:ListBucket", bucket_arn),
        ("s3:PutObject", f"{bucket_arn}/AWSLogs/{MOCK_ACCOUNT_ID}/Config/*"),
    }
    assert all(s["Condition"]["StringEquals"]["aws:SourceAccount"] == MOCK_ACCOUNT_ID for s in config)


def test_nothing_else_is_allowed_by_the_archive_policy(example_stack: StackSnapshot) -> None:
    allowed = {
        s["Principal"]["Service"]
        for s in policy_of(example_stack, archive(example_stack)).values()
        if s["Effect"] == "Allow"
    }
    assert allowed == {"cloudtrail.amazonaws.com", "config.amazonaws.com"}


def test_no_load_balancer_log_bucket_unless_asked() -> None:
    stack = evaluate_stack("acme-preprod", {"secure-tenant:logArchive": {"loadBalancerAccessLogs": False}})
    assert [b.name for b in stack.of_type("aws:s3/bucket:Bucket")] == [archive(stack).name]
    assert "loadBalancerAccessLogBucket" not in stack.outputs


def test_the_example_stacks_keep_alb_access_logs_under_the_tenants_waiver(
    example_stack: StackSnapshot,
) -> None:
    bucket = example_stack.named(f"{prefix(example_stack)}-lb-access-logs-bucket")
    assert example_stack.outputs["loadBalancerAccessLogBucket"] == bucket.inputs["bucket"]
    # Shown with the approver and expiry of tenants/acme/waivers.yaml.
    assert example_stack.exceptions == approved({}, example_stack.outputs["environment"])
    assert "Head of Security" in example_stack.exceptions["loadBalancerLogsSseS3"]


def test_load_balancer_access_logs_need_their_named_exception() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate_waived(
            "acme-prod", {"secure-tenant:logArchive": {"loadBalancerAccessLogs": True}}, {}, own=False
        )
    message = str(raised.value)
    assert (
        "tenants/acme/waivers.yaml: " in message and "waive loadBalancerLogsSseS3 (control CRY-01)" in message
    )
    assert "SSE-S3" in message


def test_load_balancer_logs_get_their_own_hardened_sse_s3_bucket(access_log_stack: StackSnapshot) -> None:
    bucket = access_log_stack.named(f"{prefix(access_log_stack)}-lb-access-logs-bucket")
    assert access_log_stack.outputs["loadBalancerAccessLogBucket"] == bucket.inputs["bucket"]
    assert access_log_stack.outputs["exceptions"] == approved(LB_LOGS_EXCEPTION, "prod")
    (encryption,) = of_bucket(
        access_log_stack,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        bucket,
    )
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    (block,) = of_bucket(access_log_stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
    assert all(block.inputs[flag] is True for flag in ("blockPublicAcls", "blockPublicPolicy"))
    (lock,) = of_bucket(
        access_log_stack, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", bucket
    )
    assert lock.inputs["rule"]["defaultRetention"]["days"] >= 400
    policy = policy_of(access_log_stack, bucket)
    assert {"DenyWithoutTls", "DenyTlsBelow12"} <= set(policy)


@pytest.mark.parametrize(
    ("region", "principal"),
    [
        ("eu-west-1", {"AWS": "arn:aws:iam::156460612806:root"}),
        ("eu-central-1", {"AWS": "arn:aws:iam::054676820928:root"}),
        ("eu-south-2", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    ],
)
def test_elb_delivers_this_accounts_access_logs_as_its_region_requires(
    region: str, principal: dict[str, str]
) -> None:
    stack = evaluate_waived(
        "acme-preprod",
        {"aws:region": region, "secure-tenant:logArchive": {"loadBalancerAccessLogs": True}},
        LB_LOGS_EXCEPTION,
    )
    bucket = stack.named(f"{prefix(stack)}-lb-access-logs-bucket")
    statement = policy_of(stack, bucket)["ElbWritesThisAccountsAccessLogs"]
    assert statement["Principal"] == principal
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == f"{bucket.outputs['arn']}/AWSLogs/{MOCK_ACCOUNT_ID}/*"


def test_prod_without_object_lock_is_refused_without_a_named_exception() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate_stack("acme-prod", {"secure-tenant:logArchive": {"objectLock": False}})
    message = str(raised.value)
    assert (
        "logArchive.objectLock is off for prod" in message
        and "waive logArchiveWithoutObjectLock (control LOG-02) for prod" in message
    )


def test_prod_without_object_lock_is_built_and_shown_with_its_exception() -> None:
    exception = {"logArchiveWithoutObjectLock": "archive replicated to the SOC's locked bucket"}
    stack = evaluate_waived("acme-prod", {"secure-tenant:logArchive": {"objectLock": False}}, exception)
    assert archive(stack).inputs["objectLockEnabled"] is False
    assert not stack.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert stack.outputs["exceptions"] == approved(exception, "prod")


def test_short_archive_retention_needs_a_named_exception() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate_stack("acme-preprod", {"secure-tenant:logArchive": {"retentionDays": 90}})
    assert "logArchive.retentionDays 90 is below 400" in str(raised.value)
    assert "waive shortLogArchiveRetention " in str(raised.value)
    stack = evaluate_waived(
        "acme-preprod",
        {"secure-tenant:logArchive": {"retentionDays": 60}},
        {"shortLogArchiveRetention": "test environment, synthetic traffic only"},
    )
    (lifecycle,) = stack.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (rule,) = lifecycle.inputs["rules"]
    # No transition may come after the expiry.
    assert rule["expiration"]["days"] == 60
    assert [t["days"] for t in rule["transitions"]] == [30]
