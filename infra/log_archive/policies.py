"""LogArchive's policies: every bucket is encrypted with a key of this stack (the ELB access-log bucket as
well as ELB allows), public access blocked, TLS only, no ACLs, versioned, and object-locked in prod."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infra.baseline import (
    ELB_LOG_ACCOUNTS,
    ELB_LOG_DELIVERY_SERVICE,
    MIN_LOG_RETENTION_DAYS,
)
from infra.keys.policies import NO_KEY_NEEDED, Place, encryption_policy
from infra.policy_registry import stack_policy
from infra.policy_view import (
    BUCKET_TYPES,
    LOAD_BALANCER_TYPES,
    SSE_TYPES,
    StackResource,
    StackView,
    as_list,
    dig,
    mapping_list,
    parse_json,
    to_number,
)

# ELB delivers access logs only into buckets encrypted with S3-managed keys (SSE-S3, AES256), never SSE-KMS: a
# bucket that is an access-log bucket by effect is encrypted as well as it can be without a tenant key.
ELB_LOG_PRINCIPALS = frozenset(
    {f"arn:aws:iam::{account}:root" for account in ELB_LOG_ACCOUNTS.values()} | {ELB_LOG_DELIVERY_SERVICE}
)


def _only_elb_writes(policy: Mapping[str, Any]) -> bool:
    """Every Allow of the bucket policy lets ELB log delivery put objects, and nothing else; there is one."""
    allows = [
        s for s in mapping_list(policy.get("Statement"), "policy Statement") if s.get("Effect") == "Allow"
    ]

    def elb_put(statement: Mapping[str, Any]) -> bool:
        principal = statement.get("Principal")
        if (
            not isinstance(principal, Mapping)
            or set(principal) - {"AWS", "Service"}
            or "NotAction" in statement
        ):
            return False
        principals = [p for key in ("AWS", "Service") for p in as_list(principal.get(key))]
        actions = as_list(statement.get("Action"))
        return bool(principals) and set(principals) <= ELB_LOG_PRINCIPALS and actions == ["s3:PutObject"]

    return bool(allows) and all(elb_put(statement) for statement in allows)


def elb_access_log_bucket(stack: StackView, bucket: StackResource) -> bool:
    """The bucket is an ELB access-log bucket by effect: a load balancer of the stack delivers its access logs
    there, and the bucket's policies let ELB log delivery write into it and grant nothing else to anyone."""
    delivering = [
        balancer
        for balancer in stack.of(*LOAD_BALANCER_TYPES)
        if dig(balancer.props, "accessLogs", "enabled") is True
        # While a preview does not know the name, the dependency may be on the bucket's policy, which names it.
        and any(
            target.urn == bucket.urn or stack.refers(target, "bucket", bucket)
            for target in stack.targets(balancer, "accessLogs", dig(balancer.props, "accessLogs", "bucket"))
        )
    ]
    policies = [p for p in stack.of("aws:s3/bucketPolicy:BucketPolicy") if stack.refers(p, "bucket", bucket)]
    return (
        bool(delivering)
        and bool(policies)
        and all(_only_elb_writes(parse_json(p.props.get("policy"), "policy")) for p in policies)
    )


def _bucket_encryption(stack: StackView, bucket: StackResource) -> list[Place]:
    rules: list[tuple[StackResource, str, Mapping[str, Any]]] = []
    for config in stack.of(*SSE_TYPES):
        if stack.refers(config, "bucket", bucket):
            rules += [(config, "rules", rule) for rule in mapping_list(config.props.get("rules"), "rules")]
    legacy = dig(bucket.props, "serverSideEncryptionConfiguration", "rule")
    if isinstance(legacy, Mapping):
        rules.append((bucket, "serverSideEncryptionConfiguration", legacy))
    places: list[Place] = []
    for owner, prop, rule in rules:
        default = dig(rule, "applyServerSideEncryptionByDefault") or {}
        algorithm = dig(default, "sseAlgorithm")
        if algorithm == "AES256" and elb_access_log_bucket(stack, bucket):
            places.append((owner, prop, NO_KEY_NEEDED, None))
        elif algorithm not in ("aws:kms", "aws:kms:dsse"):
            places.append(
                (owner, prop, None, f"server-side encryption {algorithm} is not aws:kms with a tenant key")
            )
        else:
            places.append((owner, prop, dig(default, "kmsMasterKeyId"), None))
    return places


s3_buckets_encrypted = encryption_policy(
    "s3-buckets-encrypted-with-stack-key",
    "Every bucket has server-side encryption aws:kms with a key of this stack (no configuration is no key).",
    BUCKET_TYPES,
    _bucket_encryption,
)


# --- S3 ---------------------------------------------------------------------------------------------------------


def _bucket_companions(
    stack: StackView, types: tuple[str, ...], accept: Callable[[StackResource], list[str]], missing: str
) -> list[str]:
    """Each bucket has a companion resource of `types` (public access block, policy...) that `accept`s."""
    problems = []
    for bucket in stack.of(*BUCKET_TYPES):
        companions = [c for c in stack.of(*types) if stack.refers(c, "bucket", bucket)]
        if not companions:
            problems.append(f"bucket {bucket.name} has no {missing}")
        for companion in companions:
            problems += [f"bucket {bucket.name}: {problem}" for problem in accept(companion)]
    return problems


@stack_policy("s3-public-access-blocked", "CRY-03")
def s3_public_access_blocked(stack: StackView) -> list[str]:
    """Every bucket has a public access block with all four flags set."""
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")

    def accept(block: StackResource) -> list[str]:
        off = [flag for flag in flags if block.props.get(flag) is not True]
        return [f"public access not blocked: {', '.join(off)}"] if off else []

    return _bucket_companions(
        stack, ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",), accept, "public access block"
    )


def _denies_insecure_transport(policy: Mapping[str, Any]) -> bool:
    """A Deny of every S3 action to everyone when aws:SecureTransport is false."""
    for statement in mapping_list(policy.get("Statement"), "policy Statement"):
        condition = dig(statement, "Condition", "Bool") or {}
        principal = statement.get("Principal")
        everyone = principal == "*" or (isinstance(principal, Mapping) and principal.get("AWS") == "*")
        actions = as_list(statement.get("Action"))
        if (
            statement.get("Effect") == "Deny"
            and everyone
            and ("s3:*" in actions or "*" in actions)
            and str(condition.get("aws:SecureTransport")).lower() == "false"
        ):
            return True
    return False


@stack_policy("s3-tls-only", "CRY-03")
def s3_tls_only(stack: StackView) -> list[str]:
    """Every bucket has a policy denying every request, by anyone, that does not use TLS."""

    def accept(policy: StackResource) -> list[str]:
        if _denies_insecure_transport(parse_json(policy.props.get("policy"), "policy")):
            return []
        return ["bucket policy does not deny s3:* to * when aws:SecureTransport is false"]

    return _bucket_companions(
        stack, ("aws:s3/bucketPolicy:BucketPolicy",), accept, "policy denying plain HTTP"
    )


@stack_policy("s3-versioning-enabled", "LOG-02")
def s3_versioning_enabled(stack: StackView) -> list[str]:
    """Every bucket keeps versions (an overwrite or delete can be undone)."""

    def accept(versioning: StackResource) -> list[str]:
        status = dig(versioning.props, "versioningConfiguration", "status")
        return [] if status == "Enabled" else [f"versioning is {status}"]

    types = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
    return _bucket_companions(stack, types, accept, "versioning")


@stack_policy("s3-acls-disabled", "CRY-03")
def s3_acls_disabled(stack: StackView) -> list[str]:
    """Every bucket enforces bucket-owner ownership: ACLs cannot grant access."""

    def accept(controls: StackResource) -> list[str]:
        ownership = dig(controls.props, "rule", "objectOwnership")
        return [] if ownership == "BucketOwnerEnforced" else [f"object ownership {ownership} allows ACLs"]

    return _bucket_companions(
        stack, ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",), accept, "ownership controls"
    )


@stack_policy("s3-object-lock-in-prod", "LOG-02")
def s3_object_lock_in_prod(stack: StackView) -> list[str]:
    """In prod, every bucket locks its objects for at least the log retention (12 full months)."""
    if stack.environment != "prod":
        return []

    def accept(lock: StackResource) -> list[str]:
        days = to_number(dig(lock.props, "rule", "defaultRetention", "days"), "defaultRetention.days", 0)
        years = to_number(dig(lock.props, "rule", "defaultRetention", "years"), "defaultRetention.years", 0)
        kept = max(days, years * 365)
        return (
            []
            if kept >= MIN_LOG_RETENTION_DAYS
            else [f"objects locked {kept:g} days, below {MIN_LOG_RETENTION_DAYS}"]
        )

    types = ("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",)
    return _bucket_companions(stack, types, accept, "object lock")
