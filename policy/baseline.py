"""The security baseline as CrossGuard policies that judge effects, not names.

Each policy is a plain function that returns violation messages: a resource policy over (resource type, inputs),
a stack policy over a `StackView` of every resource (resolved values, property dependencies, policy config).
Encryption is proven by what protects the data (a key of this stack), ranges are judged as sets (two halves of
0.0.0.0/0 are the internet), a subnet is public when its routes make it so, and a malformed value is a violation
naming the property, never a crash of the pack. `resource_policy`/`stack_policy` register each function and wrap
it for the pulumi-policy SDK; the same objects serve `pulumi preview --policy-pack policy` and review/pack_runner.py.
Property names are the engine's (camelCase), as CrossGuard hands them over.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from ipaddress import IPv4Network, IPv6Network
from itertools import pairwise
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import serialize_properties

from infra.baseline import (
    ALB_TLS_POLICIES,
    ELB_LOG_ACCOUNTS,
    ELB_LOG_DELIVERY_SERVICE,
    MIN_BACKUP_DAILY_RETENTION_DAYS,
    MIN_BACKUP_MONTHLY_RETENTION_MONTHS,
    MIN_LOG_RETENTION_DAYS,
    WAF_RATE_LIMIT_RANGE,
)
from infra.baseline import EU_REGIONS as CONFIG_EU_REGIONS
from policy.view import (
    BUCKET_TYPES,
    CERTIFICATE,
    FIREWALL,
    FIREWALL_POLICY,
    INSTANCE,
    KMS_KEY_TYPES,
    LISTENER_TYPES,
    LOAD_BALANCER_TYPES,
    LOG_GROUP,
    POLICIES,
    RECORDER,
    RULE_GROUP,
    SECURITY_GROUP,
    SG_RULE_TYPES,
    SSE_TYPES,
    SUBNET,
    TRAIL,
    VAULT,
    VPC,
    WEB_ACL,
    Malformed,
    Network,
    ResourceCheck,
    StackCheck,
    StackResource,
    StackView,
    as_list,
    describe_ranges,
    dig,
    has_routable,
    is_world,
    known,
    mapping_list,
    parse_json,
    resource_policy,
    stack_policy,
    subtract,
    to_network,
    to_number,
)

__all__ = [
    "POLICIES",
    "Rule",
    "is_taggable",
    "public_entry",
    "sdk_policies",
    "security_group_rules",
    "world_open",
]

# One source of truth with the stack's own config validation: the pack judges by the same lists.
EU_REGIONS = CONFIG_EU_REGIONS
MIN_RETENTION_DAYS = MIN_LOG_RETENTION_DAYS
# Zone ids name the region in short: eu-west-1 zones are euw1-az1, euw1-az2...
EU_ZONE_ID_PREFIXES = frozenset(f"{a}{b[0]}{c}" for a, b, c in (r.split("-") for r in EU_REGIONS))
REQUIRED_TAGS = ("tenant", "environment")
# Listener policies that negotiate TLS 1.2 or 1.3 only, without the CBC "Ext" ciphers (ALB and NLB alike).
TLS12_PLUS_POLICIES = frozenset(ALB_TLS_POLICIES)
# Months of the longest backup rule, counted as the backup plan counts them (31 days a month).
MIN_BACKUP_LONGEST_DAYS = MIN_BACKUP_MONTHLY_RETENTION_MONTHS * 31
# A restore test at least every 6 months (BAK-01).
MAX_RESTORE_TEST_MONTHS = 6

# Ports that reach a host's administration: never from routable addresses, only through the VPN.
ADMIN_PORTS = (22, 3389)
# The managed rule groups every web ACL runs, blocking (not only counting).
WAF_MANAGED_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


# --- tags, regions and keys ------------------------------------------------------------------------------------


@cache
def is_taggable(resource_type: str) -> bool:
    """Whether the AWS resource takes tags: pulumi_aws generates `tags_all` exactly for those."""
    package, _, rest = resource_type.partition(":")
    if package != "aws" or "/" not in rest:
        return False
    module_path, _, class_name = rest.partition(":")
    try:
        module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    except ImportError:
        return False
    return hasattr(getattr(module, class_name, None), "tags_all")


def _region_problems(props: Mapping[str, Any], what: str) -> list[str]:
    problems = []
    region = props.get("region")
    if known(region) and region is not None:
        if not isinstance(region, str):
            raise Malformed(f"region {region!r} is not a region name")
        if region not in EU_REGIONS:
            problems.append(
                f"{what} region {region} is outside the EU: use one of {', '.join(sorted(EU_REGIONS))}"
            )
    zones = [*as_list(props.get("availabilityZone")), *as_list(props.get("availabilityZones"))]
    for zone in zones:
        if not known(zone):
            continue
        if not isinstance(zone, str) or not zone:
            raise Malformed(f"availability zone {zone!r} is not a zone name")
        if zone[:-1] not in EU_REGIONS:
            problems.append(f"availability zone {zone} is outside the EU")
    for zone_id in [*as_list(props.get("availabilityZoneId")), *as_list(props.get("availabilityZoneIds"))]:
        if known(zone_id) and str(zone_id).split("-az")[0] not in EU_ZONE_ID_PREFIXES:
            problems.append(f"availability zone id {zone_id} is outside the EU")
    return problems


@resource_policy("eu-region-only", "NET-02")
def eu_region_only(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every resource's own region (pulumi-aws per-resource `region`) and zones are in the EU."""
    if resource_type.startswith("pulumi:providers:"):
        return []
    return _region_problems(props, "resource")


@resource_policy("eu-providers-only", "NET-02")
def eu_providers_only(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every AWS provider names an EU region (a provider without one would follow the caller's environment)."""
    if resource_type != "pulumi:providers:aws":
        return []
    if props.get("region") is None:
        return ["AWS provider without a region: set region to an EU region"]
    return _region_problems(props, "provider")


@resource_policy("tenant-tags", "NET-01")
def tenant_tags(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every taggable resource carries the tenant and environment tags (single tenancy is visible)."""
    if not is_taggable(resource_type):
        return []
    tags = props.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise Malformed(f"tags {tags!r} is not a map")
    missing = [tag for tag in REQUIRED_TAGS if not tags.get(tag)]
    return [f"missing tag(s) {', '.join(missing)}"] if missing else []


@stack_policy("single-tenant", "NET-01")
def single_tenant(stack: StackView) -> list[str]:
    """One stack, one tenant and one environment: no resource is tagged for another."""
    problems = []
    for tag in REQUIRED_TAGS:
        values = {str(r.tag(tag)) for r in stack.resources if r.tag(tag)}
        if len(values) > 1:
            problems.append(f"resources are tagged {tag} = {', '.join(sorted(values))}: one stack serves one")
    return problems


@resource_policy("kms-key-rotation", "CRY-01")
def kms_key_rotation(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Customer-managed KMS keys rotate automatically."""
    if resource_type == "aws:kms/key:Key" and props.get("enableKeyRotation") is not True:
        return ["key rotation is off: set enable_key_rotation=True"]
    return []


_KMS_PROP = re.compile(r"(?i)^(kms\w*key\w*|targetKeyId|s3KmsKeyArn)$")


def _kms_references(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every property that names a KMS key, at any depth."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            in_encryption = path.split(".")[-1].split("[")[0] == "encryptionConfiguration"
            if _KMS_PROP.match(str(key)) or (key == "keyId" and in_encryption):
                yield where, item
            else:
                yield from _kms_references(item, where)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _kms_references(item, f"{path}[{position}]")


@stack_policy(
    "kms-keys-of-this-stack",
    "CRY-01",
    {"trustedKeyArns": {"type": "array", "items": {"type": "string"}, "default": []}},
)
def kms_keys_of_this_stack(stack: StackView) -> list[str]:
    """Every KMS key reference, in any property of any resource, is a key declared in this stack (or trusted
    by name in the policy config): any other string is not a tenant key."""
    problems = []
    for resource in stack.resources:
        if resource.type in KMS_KEY_TYPES:
            continue
        references = list(_kms_references(resource.props))
        if resource.type.startswith("aws:kms/") and "keyId" in resource.props:  # grants, key policies
            references.append(("keyId", resource.props["keyId"]))
        for path, value in references:
            problem = stack.key_problem(resource, path.split(".")[0].split("[")[0], value, path)
            if problem:
                problems.append(problem)
    return problems


# --- encryption at rest: what protects the data -------------------------------------------------------------


# Where a resource's data is encrypted: the resource holding the setting, the property, the key it names, and a
# problem when the setting leaves the data unprotected whatever the key.
Place = tuple[StackResource, str, Any, str | None]


def _encryption_policy(
    name: str,
    doc: str,
    types: tuple[str, ...],
    locate: Callable[[StackView, StackResource], list[Place]],
) -> StackCheck:
    """Register a stack policy: each resource of `types` is protected by a key of this stack.

    `locate` gives each `Place` the resource's data is encrypted; none at all is a violation.
    """

    def check(stack: StackView) -> list[str]:
        problems = []
        for resource in stack.of(*types):
            places = locate(stack, resource)
            if not places:
                problems.append(f"{resource.name}: not encrypted with a KMS key of this stack")
            for owner, prop, key, problem in places:
                if problem:
                    problems.append(f"{resource.name}: {problem}")
                    continue
                if key is NO_KEY_NEEDED:
                    continue
                key_problem = stack.key_problem(owner, prop, key, prop)
                if key_problem:
                    problems.append(key_problem)
        return problems

    check.__doc__ = doc
    return stack_policy(name, "CRY-01")(check)


def _prop_key(*props: str) -> Callable[[StackView, StackResource], list[Place]]:
    def locate(_stack: StackView, resource: StackResource) -> list[Place]:
        for prop in props:
            if resource.props.get(prop) is not None or prop in resource.property_dependencies:
                return [(resource, prop, resource.props.get(prop), None)]
        return []

    return locate


# ELB delivers access logs only into buckets encrypted with S3-managed keys (SSE-S3, AES256), never SSE-KMS: a
# bucket that is an access-log bucket by effect is encrypted as well as it can be without a tenant key.
NO_KEY_NEEDED = object()
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


def _ebs_encryption(stack: StackView, resource: StackResource) -> list[Place]:
    # (property holding the key, what to call the volume in a message, the volume's settings)
    if resource.type == INSTANCE:
        devices = [("rootBlockDevice", "root volume", resource.props.get("rootBlockDevice"))]
        devices += [
            ("ebsBlockDevices", "block device", d) for d in as_list(resource.props.get("ebsBlockDevices"))
        ]
    elif resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
        mappings = mapping_list(resource.props.get("blockDeviceMappings"), "blockDeviceMappings")
        devices = [("blockDeviceMappings", "template volume", m.get("ebs")) for m in mappings]
        if not devices:
            return [(resource, "blockDeviceMappings", None, "the root volume's encryption is not declared")]
    else:
        devices = [("kmsKeyId", "volume", resource.props)]
    places: list[Place] = []
    for prop, label, device in devices:
        if not isinstance(device, Mapping):
            problem = f"the {label}'s encryption is not declared (set encrypted and a key)"
            places.append((resource, prop, None, problem))
        elif device.get("encrypted") not in (True, "true"):
            places.append((resource, prop, None, f"the {label} is not encrypted"))
        else:
            places.append((resource, prop, device.get("kmsKeyId"), None))
    return places


def _firewall_encryption(_stack: StackView, resource: StackResource) -> list[Place]:
    config = resource.props.get("encryptionConfiguration")
    if not isinstance(config, Mapping) or config.get("type") != "CUSTOMER_KMS":
        kind = config.get("type") if isinstance(config, Mapping) else "AWS_OWNED_KMS_KEY"
        return [
            (
                resource,
                "encryptionConfiguration",
                None,
                f"encryption {kind} is not CUSTOMER_KMS with a tenant key",
            )
        ]
    return [(resource, "encryptionConfiguration", config.get("keyId"), None)]


s3_buckets_encrypted = _encryption_policy(
    "s3-buckets-encrypted-with-stack-key",
    "Every bucket has server-side encryption aws:kms with a key of this stack (no configuration is no key).",
    BUCKET_TYPES,
    _bucket_encryption,
)
log_groups_encrypted = _encryption_policy(
    "log-groups-encrypted-with-stack-key",
    "Every log group is encrypted with a key of this stack.",
    (LOG_GROUP,),
    _prop_key("kmsKeyId"),
)
ebs_encrypted = _encryption_policy(
    "ebs-encrypted",
    "Every EBS volume, instance block device and launch template volume is encrypted with a key of this stack.",
    ("aws:ebs/volume:Volume", "aws:ec2/volume:Volume", INSTANCE, "aws:ec2/launchTemplate:LaunchTemplate"),
    _ebs_encryption,
)
sns_topics_encrypted = _encryption_policy(
    "sns-topics-encrypted-with-stack-key",
    "Every SNS topic is encrypted with a key of this stack.",
    ("aws:sns/topic:Topic",),
    _prop_key("kmsMasterKeyId"),
)
backup_vaults_encrypted = _encryption_policy(
    "backup-vaults-encrypted-with-stack-key",
    "Every backup vault is encrypted with a key of this stack.",
    (VAULT,),
    _prop_key("kmsKeyArn"),
)
network_firewall_encrypted = _encryption_policy(
    "network-firewall-encrypted-with-stack-key",
    "Network firewalls, their policies and rule groups are encrypted with a key of this stack.",
    (FIREWALL, FIREWALL_POLICY, RULE_GROUP),
    _firewall_encryption,
)
cloudtrail_encrypted = _encryption_policy(
    "cloudtrail-encrypted-with-stack-key",
    "Every CloudTrail trail encrypts its log files with a key of this stack.",
    (TRAIL,),
    _prop_key("kmsKeyId"),
)


@stack_policy("ebs-encryption-by-default", "CRY-06")
def ebs_encryption_by_default(stack: StackView) -> list[str]:
    """The region encrypts every new EBS volume by default with a key of this stack, so a volume the stack does
    not declare (made by hand, by a service, from an unencrypted snapshot) is not left plain."""
    switches = stack.of("aws:ebs/encryptionByDefault:EncryptionByDefault")
    if not switches:
        return [
            "EBS encryption by default is not declared: volumes made outside the stack may be unencrypted"
        ]
    # The provider's default for `enabled` is true; anything but the boolean true (e.g. "true") is refused.
    problems = [
        f"{switch.name}: EBS encryption by default is off (enabled={switch.props['enabled']!r})"
        for switch in switches
        if switch.props.get("enabled", True) is not True
    ]
    defaults = stack.of("aws:ebs/defaultKmsKey:DefaultKmsKey")
    if not defaults:
        problems.append("no EBS default KMS key: new volumes would get the AWS-managed aws/ebs key")
    for default in defaults:
        if problem := stack.key_problem(default, "keyArn", default.props.get("keyArn"), "keyArn"):
            problems.append(problem)
    return problems


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
            if kept >= MIN_RETENTION_DAYS
            else [f"objects locked {kept:g} days, below {MIN_RETENTION_DAYS}"]
        )

    types = ("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",)
    return _bucket_companions(stack, types, accept, "object lock")


# --- network: who can reach what -----------------------------------------------------------------------------

_PROTOCOLS = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


@dataclass(frozen=True)
class Rule:
    """One ingress allowance, normalised: protocol, port range, source ranges."""

    protocol: str
    low: int
    high: int
    sources: tuple[IPv4Network | IPv6Network, ...]


def _rule(props: Mapping[str, Any], what: str) -> Rule:
    raw = props.get("protocol", props.get("ipProtocol", "-1"))
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise Malformed(f"{what} protocol {raw!r} is not a protocol")
    text = str(int(raw)) if isinstance(raw, (int, float)) else raw.strip().lower()
    protocol = _PROTOCOLS.get(text, text)
    if protocol == "all":
        low, high = 0, 65535
    else:
        low = int(to_number(props.get("fromPort"), f"{what} fromPort", 0))
        high = int(to_number(props.get("toPort"), f"{what} toPort", 65535))
        if protocol in ("icmp", "icmpv6") or low == -1:
            low, high = 0, 65535
    sources = [*as_list(props.get("cidrBlocks")), *as_list(props.get("ipv6CidrBlocks"))]
    sources += [
        props[key] for key in ("cidrIpv4", "cidrIpv6", "cidrBlock", "ipv6CidrBlock") if props.get(key)
    ]
    return Rule(protocol, low, high, tuple(to_network(s, f"{what} source") for s in sources if known(s)))


def world_open(rules: list[Rule]) -> list[tuple[str, int, int, tuple[IPv4Network | IPv6Network, ...]]]:
    """(protocol, low, high, sources) of every port span whose sources, across all the rules, are the internet."""
    spans: list[tuple[str, int, int, tuple[IPv4Network | IPv6Network, ...]]] = []
    for protocol in sorted({r.protocol for r in rules if r.protocol != "all"} | {"tcp", "udp", "all"}):
        relevant = [r for r in rules if r.protocol in (protocol, "all")]
        edges = sorted({r.low for r in relevant} | {r.high + 1 for r in relevant})
        for low, next_low in pairwise(edges):
            sources = tuple(s for r in relevant if r.low <= low and next_low - 1 <= r.high for s in r.sources)
            if sources and is_world(sources):
                if spans and spans[-1][0] == protocol and spans[-1][2] == low - 1 and spans[-1][3] == sources:
                    spans[-1] = (protocol, spans[-1][1], next_low - 1, sources)
                else:
                    spans.append((protocol, low, next_low - 1, sources))
    if any(protocol == "all" for protocol, *_ in spans):  # every protocol: say it once
        return [span for span in spans if span[0] == "all"]
    return spans


def security_group_rules(stack: StackView) -> dict[str, tuple[StackResource | None, list[Rule]]]:
    """Ingress rules by security group (inline and standalone rules together), keyed by the group's URN or id."""
    groups: dict[str, tuple[StackResource | None, list[Rule]]] = {}
    for group in stack.of(SECURITY_GROUP):
        rules = [
            _rule(r, f"{group.name} ingress") for r in mapping_list(group.props.get("ingress"), "ingress")
        ]
        groups[group.urn] = (group, rules)
    for rule in stack.of(*SG_RULE_TYPES):
        if rule.type == "aws:ec2/securityGroupRule:SecurityGroupRule" and rule.props.get("type") != "ingress":
            continue
        targets = [t for t in stack.targets(rule, "securityGroupId") if t.type == SECURITY_GROUP]
        key = targets[0].urn if targets else f"{rule.props.get('securityGroupId')}"
        owner, rules = groups.get(key, (None, []))
        groups[key] = (owner, [*rules, _rule(rule.props, rule.name)])
    return groups


def public_entry(stack: StackView, group: StackResource | None) -> str | None:
    """What a security group fronts: 'load balancer' when only internet-facing LBs use it, 'bastion' when only
    instances with an Elastic IP do, None otherwise (or when unused)."""
    if group is None:
        return None
    balancers = stack.users(group, LOAD_BALANCER_TYPES, "securityGroups")
    instances = stack.users(group, (INSTANCE,), "vpcSecurityGroupIds")
    if balancers and not instances and all(lb.props.get("internal") is not True for lb in balancers):
        return "load balancer"
    eips = stack.of("aws:ec2/eip:Eip")
    if (
        instances
        and not balancers
        and all(any(stack.refers(e, "instance", i) for e in eips) for i in instances)
    ):
        return "bastion"
    return None


@stack_policy("no-world-ingress", "NET-06")
def no_world_ingress(stack: StackView) -> list[str]:
    """Nothing is open to the internet (however the range is split across rules) except HTTP(S) on the security
    group of internet-facing load balancers and one VPN port on the security group of the Elastic-IP bastion.

    The VPN port is read from the stack, not configured in the pack: the one port its public instance opens.
    """
    problems = []
    for key, (group, rules) in security_group_rules(stack).items():
        name = group.name if group else key
        entry = public_entry(stack, group)
        open_spans = world_open(rules)
        allowed_vpn = [
            span for span in open_spans if span[0] in ("tcp", "udp") and span[1] == span[2] and span[1] != 22
        ]
        for protocol, low, high, sources in open_spans:
            single = low == high
            if entry == "load balancer" and protocol == "tcp" and single and low in (80, 443):
                continue
            if (
                entry == "bastion"
                and len(allowed_vpn) == 1
                and (protocol, low, high, sources) == allowed_vpn[0]
            ):
                continue
            ports = f"{low}" if single else f"{low}-{high}"
            problems.append(
                f"security group {name}: {protocol} {ports} is open to the internet ({describe_ranges(sources)}): "
                "admit specific ranges"
            )
    return problems


@stack_policy("admin-ports-only-from-private-ranges", "ACC-04")
def admin_ports_only_from_private_ranges(stack: StackView) -> list[str]:
    """SSH and RDP are reachable only from private ranges (the VPN clients), never from a routable address."""
    problems = []
    for key, (group, rules) in security_group_rules(stack).items():
        for rule in rules:
            ports = [p for p in ADMIN_PORTS if rule.low <= p <= rule.high and rule.protocol in ("tcp", "all")]
            routable = [s for s in rule.sources if has_routable([s])]
            if ports and routable:
                problems.append(
                    f"security group {group.name if group else key}: port {ports[0]} is open to routable "
                    f"addresses {describe_ranges(routable)}: admit the VPN client range only"
                )
    return problems


def _acl_entries(stack: StackView) -> dict[str, tuple[str, list[tuple[float, bool, Rule]]]]:
    """Ingress entries (rule number, allow?, rule) by network ACL, inline and standalone together."""
    acls: dict[str, tuple[str, list[tuple[float, bool, Rule]]]] = {}
    for acl in stack.of("aws:ec2/networkAcl:NetworkAcl", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"):
        entries = [
            (
                to_number(e.get("ruleNo"), "ruleNo", 0),
                e.get("action") == "allow",
                _rule(e, f"{acl.name} ingress"),
            )
            for e in mapping_list(acl.props.get("ingress"), "ingress")
        ]
        acls[acl.urn] = (acl.name, entries)
    for entry in stack.of("aws:ec2/networkAclRule:NetworkAclRule"):
        if entry.props.get("egress") is True:
            continue
        targets = stack.targets(entry, "networkAclId")
        key = targets[0].urn if targets else str(entry.props.get("networkAclId"))
        name, entries = acls.get(key, (targets[0].name if targets else key, []))
        number = to_number(entry.props.get("ruleNumber"), f"{entry.name} ruleNumber", 0)
        allow = entry.props.get("ruleAction") == "allow"
        acls[key] = (name, [*entries, (number, allow, _rule(entry.props, entry.name))])
    return acls


@stack_policy("nacl-no-world-admin-ports", "NET-06")
def nacl_no_world_admin_ports(stack: StackView) -> list[str]:
    """No network ACL lets the internet (however split) reach SSH or RDP, judged in rule-number order: a range
    denied by an earlier rule is not allowed by a later one."""
    problems = []
    for name, entries in _acl_entries(stack).values():
        for port in ADMIN_PORTS:
            denied: list[Network] = []
            allowed: list[Network] = []
            for _number_, allow, rule in sorted(entries, key=lambda entry: entry[0]):
                if rule.protocol not in ("tcp", "all") or not rule.low <= port <= rule.high:
                    continue
                if allow:
                    allowed += subtract(rule.sources, denied)
                else:
                    denied += rule.sources
            if is_world(allowed):
                problems.append(f"network ACL {name} allows the internet to port {port}")
    return problems


@stack_policy("default-security-group-closed", "NET-06")
def default_security_group_closed(stack: StackView) -> list[str]:
    """Every VPC's default security group is managed by the stack and admits nothing."""
    problems = []
    defaults = stack.of("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    for vpc in stack.of(VPC):
        managed = [d for d in defaults if stack.refers(d, "vpcId", vpc)]
        if not managed:
            problems.append(
                f"VPC {vpc.name}: its default security group is left open (declare it with no rules)"
            )
    for group in defaults:
        if as_list(group.props.get("ingress")) or as_list(group.props.get("egress")):
            problems.append(f"default security group {group.name} has rules: remove them")
    return problems


@resource_policy("no-public-ip-on-launch", "NET-03")
def no_public_ip_on_launch(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No subnet or instance hands out public addresses: public entries are explicit (ALB, Elastic IP)."""
    if resource_type == SUBNET and props.get("mapPublicIpOnLaunch") in (True, "true"):
        return ["subnet maps a public IP on launch: set map_public_ip_on_launch=False"]
    if resource_type == INSTANCE and props.get("associatePublicIpAddress") in (True, "true"):
        return ["instance gets a public IP: use an Elastic IP behind Shield, or none"]
    if resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        interfaces = mapping_list(props.get("networkInterfaces"), "networkInterfaces")
        if any(i.get("associatePublicIpAddress") in (True, "true") for i in interfaces):
            return ["launch template gives instances a public IP"]
    return []


@dataclass(frozen=True)
class Route:
    destination: IPv4Network | IPv6Network
    resource: StackResource
    prop: str  # the property naming the target
    target: Any


_ROUTE_TARGETS = ("gatewayId", "vpcEndpointId", "natGatewayId", "networkInterfaceId", "transitGatewayId")


def _routes_by_table(stack: StackView) -> dict[str, list[Route]]:
    """Routes (standalone and inline) by route table URN."""
    tables: dict[str, list[Route]] = {t.urn: [] for t in stack.of("aws:ec2/routeTable:RouteTable")}
    for table in stack.of("aws:ec2/routeTable:RouteTable"):
        for inline in mapping_list(table.props.get("routes"), "routes"):
            destination = inline.get("cidrBlock") or inline.get("ipv6CidrBlock")
            if not known(destination):  # a prefix list, or not known in a preview
                continue
            prop = next((p for p in _ROUTE_TARGETS if inline.get(p)), "gatewayId")
            tables[table.urn].append(
                Route(to_network(destination, "route"), table, "routes", inline.get(prop))
            )
    for route in stack.of("aws:ec2/route:Route"):
        destination = route.props.get("destinationCidrBlock") or route.props.get("destinationIpv6CidrBlock")
        if not known(destination):
            continue
        prop = next((p for p in _ROUTE_TARGETS if p in route.props or p in route.property_dependencies), "")
        for table in stack.targets(route, "routeTableId"):
            tables.setdefault(table.urn, []).append(
                Route(
                    to_network(destination, f"{route.name} destination"), route, prop, route.props.get(prop)
                )
            )
    return tables


def _subnet_routes(stack: StackView) -> dict[str, list[Route]]:
    """The routes each subnet uses: its associated table's, or its VPC's main table's."""
    tables = _routes_by_table(stack)
    main: dict[str, str] = {}
    for association in stack.of("aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation"):
        for vpc in stack.targets(association, "vpcId"):
            for table in stack.targets(association, "routeTableId"):
                main[vpc.urn] = table.urn
    associations = stack.of("aws:ec2/routeTableAssociation:RouteTableAssociation")
    routes: dict[str, list[Route]] = {}
    for subnet in stack.of(SUBNET):
        table_urns = [
            t.urn
            for a in associations
            if stack.refers(a, "subnetId", subnet)
            for t in stack.targets(a, "routeTableId")
        ]
        if not table_urns:
            table_urns = [main[v.urn] for v in stack.targets(subnet, "vpcId") if v.urn in main]
        routes[subnet.urn] = [route for urn in table_urns for route in tables.get(urn, [])]
    return routes


def _goes_to(stack: StackView, route: Route, types: tuple[str, ...]) -> bool:
    if route.resource.type == "aws:ec2/route:Route":
        return any(t.type in types for t in stack.targets(route.resource, route.prop))
    return any(t.type in types for t in stack.targets(route.resource, route.prop, route.target))


def _to_internet_gateway(stack: StackView, route: Route) -> bool:
    literal = isinstance(route.target, str) and route.target.startswith("igw-")
    return literal or _goes_to(stack, route, ("aws:ec2/internetGateway:InternetGateway",))


def _to_firewall(stack: StackView, route: Route) -> bool:
    """The route's target is a firewall endpoint (by id once known, by dependency on the firewall before)."""
    endpoints = {e for fw in stack.of(FIREWALL) for e in _endpoint_by_zone(fw).values()}
    return route.target in endpoints or _goes_to(stack, route, (FIREWALL,))


def _firewall_subnets(stack: StackView) -> set[str]:
    subnets = set()
    for firewall in stack.of(FIREWALL):
        for mapping in mapping_list(firewall.props.get("subnetMappings"), "subnetMappings"):
            subnets |= {s.urn for s in stack.targets(firewall, "subnetMappings", mapping.get("subnetId"))}
    return subnets


def public_subnets(stack: StackView) -> list[StackResource]:
    """Subnets the internet reaches: tagged public, or routing routable destinations to an internet gateway or
    a firewall endpoint (whatever their tags say)."""
    routes = _subnet_routes(stack)
    firewall_subnets = _firewall_subnets(stack)
    public = []
    for subnet in stack.of(SUBNET):
        if subnet.urn in firewall_subnets:
            continue
        internet = [
            r
            for r in routes.get(subnet.urn, [])
            if has_routable([r.destination]) and (_to_internet_gateway(stack, r) or _to_firewall(stack, r))
        ]
        if subnet.tag("tier") == "public" or internet:
            public.append(subnet)
    return public


@stack_policy("no-direct-internet-route", "NET-03")
def no_direct_internet_route(stack: StackView) -> list[str]:
    """Only the firewall's own subnets route to the internet gateway: any other subnet sending routable traffic
    straight to it (0.0.0.0/0, its halves, or any public range) bypasses the network firewall."""
    firewall_subnets = _firewall_subnets(stack)
    problems = []
    for subnet_urn, routes in _subnet_routes(stack).items():
        if subnet_urn in firewall_subnets:
            continue
        direct = [
            r.destination for r in routes if has_routable([r.destination]) and _to_internet_gateway(stack, r)
        ]
        if direct:
            name = next(s.name for s in stack.of(SUBNET) if s.urn == subnet_urn)
            problems.append(
                f"subnet {name} routes {describe_ranges(direct)} straight to an internet gateway, past the firewall"
            )
    return problems


def _endpoint_by_zone(firewall: StackResource) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    for status in mapping_list(firewall.props.get("firewallStatuses"), "firewallStatuses"):
        for state in mapping_list(status.get("syncStates"), "syncStates"):
            endpoint = dig(state, "attachments", "endpointId")
            if state.get("availabilityZone") and endpoint:
                endpoints[state["availabilityZone"]] = endpoint
    return endpoints


@stack_policy("firewall-in-every-zone", "NET-03")
def firewall_in_every_zone(stack: StackView) -> list[str]:
    """A network firewall endpoint in every zone of the VPC, and every public subnet (by its routes or its tag)
    sends all its internet traffic through its own zone's endpoint."""
    public = public_subnets(stack)
    if not public:
        return []
    firewalls = stack.of(FIREWALL)
    if not firewalls:
        return ["public subnets exist but no network firewall does"]
    firewall = firewalls[0]
    subnets = stack.of(SUBNET)
    fw_subnets = _firewall_subnets(stack)
    firewall_zones = {s.props.get("availabilityZone") for s in subnets if s.urn in fw_subnets}
    zones = sorted({str(s.props.get("availabilityZone")) for s in subnets if s.props.get("availabilityZone")})
    violations = [f"zone {zone} has no firewall endpoint" for zone in zones if zone not in firewall_zones]
    endpoints = _endpoint_by_zone(firewall)
    routes = _subnet_routes(stack)
    for subnet in public:
        zone = subnet.props.get("availabilityZone")
        internet = [r for r in routes.get(subnet.urn, []) if has_routable([r.destination])]
        if not internet or not is_world(r.destination for r in internet):
            violations.append(f"public subnet {subnet.name} has no default route through the firewall")
            continue
        for route in internet:
            if endpoints:
                if route.target != endpoints.get(str(zone)):
                    violations.append(
                        f"public subnet {subnet.name} in {zone} is routed to {route.target}, not its zone's endpoint"
                    )
            elif not _to_firewall(stack, route):
                violations.append(
                    f"public subnet {subnet.name} default route does not go through the firewall"
                )
    return violations


@resource_policy("network-firewall-protected", "NET-03")
def network_firewall_protected(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Network firewalls cannot be deleted or moved out of their subnets by accident."""
    if resource_type != FIREWALL:
        return []
    return [
        f"{flag} is off"
        for flag in ("deleteProtection", "subnetChangeProtection")
        if props.get(flag) is not True
    ]


@resource_policy("network-firewall-strict-order", "NET-04")
def network_firewall_strict_order(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Firewall policies and stateful rule groups evaluate in strict order, default drop, and stateless traffic
    is all handed to the stateful engine."""
    problems = []
    if resource_type == FIREWALL_POLICY:
        policy = props.get("firewallPolicy") or {}
        if dig(policy, "statefulEngineOptions", "ruleOrder") != "STRICT_ORDER":
            problems.append("stateful rule order is not STRICT_ORDER")
        defaults = as_list(dig(policy, "statefulDefaultActions"))
        if not {"aws:drop_established", "aws:drop_strict"} & set(defaults):
            problems.append("no stateful default drop (aws:drop_established or aws:drop_strict)")
        for key in ("statelessDefaultActions", "statelessFragmentDefaultActions"):
            if as_list(dig(policy, key)) != ["aws:forward_to_sfe"]:
                problems.append(f"{key} is not [aws:forward_to_sfe]: traffic would skip inspection")
    elif (
        resource_type == RULE_GROUP
        and props.get("type") == "STATEFUL"
        and dig(props, "ruleGroup", "statefulRuleOptions", "ruleOrder") != "STRICT_ORDER"
    ):
        problems.append("stateful rule group order is not STRICT_ORDER")
    return problems


@stack_policy("network-firewall-uses-stack-policy", "NET-04")
def network_firewall_uses_stack_policy(stack: StackView) -> list[str]:
    """Every firewall runs a firewall policy declared (and so checked) in this stack."""
    return [
        f"firewall {fw.name} runs a firewall policy that is not declared in this stack"
        for fw in stack.of(FIREWALL)
        if not any(t.type == FIREWALL_POLICY for t in stack.targets(fw, "firewallPolicyArn"))
    ]


@stack_policy("network-firewall-logging", "NET-04")
def network_firewall_logging(stack: StackView) -> list[str]:
    """Every firewall logs its alerts and its flows."""
    problems = []
    configs = stack.of("aws:networkfirewall/loggingConfiguration:LoggingConfiguration")
    for firewall in stack.of(FIREWALL):
        types = {
            d.get("logType")
            for c in configs
            if stack.refers(c, "firewallArn", firewall)
            for d in mapping_list(
                dig(c.props, "loggingConfiguration", "logDestinationConfigs"), "logDestinationConfigs"
            )
        }
        missing = {"ALERT", "FLOW"} - types
        if missing:
            problems.append(f"firewall {firewall.name} does not log {', '.join(sorted(missing))}")
    return problems


@stack_policy("flow-logs-on-every-vpc", "NET-05")
def flow_logs_on_every_vpc(stack: StackView) -> list[str]:
    """Every VPC has a flow log of ALL traffic (accepted and rejected)."""
    problems = []
    for vpc in stack.of(VPC):
        logs = [log for log in stack.of("aws:ec2/flowLog:FlowLog") if stack.refers(log, "vpcId", vpc)]
        if not logs:
            problems.append(f"VPC {vpc.name} has no flow log")
        elif not any(log.props.get("trafficType") == "ALL" for log in logs):
            problems.append(f"VPC {vpc.name} logs only some traffic: set traffic_type='ALL'")
    return problems


# --- the edge: TLS, WAF, Shield --------------------------------------------------------------------------------


@resource_policy("tls-1-2-on-every-listener", "EDGE-03")
def tls_on_every_listener(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every TLS-terminating listener (ALB HTTPS, NLB TLS, CloudFront) negotiates TLS 1.2/1.3 only."""
    if resource_type in LISTENER_TYPES:
        protocol = props.get("protocol")
        if protocol is None:
            return ["listener declares no protocol: set HTTPS or TLS (or HTTP redirecting to HTTPS)"]
        if not isinstance(protocol, str):
            raise Malformed(f"protocol {protocol!r} is not a listener protocol")
        if protocol.upper() in ("HTTPS", "TLS") and props.get("sslPolicy") not in TLS12_PLUS_POLICIES:
            return [f"{protocol.upper()} listener policy {props.get('sslPolicy')} allows TLS below 1.2"]
    if resource_type == "aws:cloudfront/distribution:Distribution":
        certificate = props.get("viewerCertificate") or {}
        version = dig(certificate, "minimumProtocolVersion")
        if dig(certificate, "cloudfrontDefaultCertificate") or not str(version).startswith("TLSv1.2"):
            return [f"CloudFront minimum protocol {version} is below TLSv1.2"]
    return []


@resource_policy("http-only-redirects-to-https", "EDGE-03")
def http_only_redirects(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Plain HTTP listeners only redirect to HTTPS."""
    if resource_type not in LISTENER_TYPES or str(props.get("protocol", "")).upper() != "HTTP":
        return []
    actions = mapping_list(props.get("defaultActions"), "defaultActions")
    if not actions or any(
        a.get("type") != "redirect" or str(dig(a, "redirect", "protocol")).upper() != "HTTPS" for a in actions
    ):
        return ["HTTP listener does something other than redirect to HTTPS"]
    return []


# What EDGE-04 allows: RSA with at least 2048 bits (ACM signs its certificates SHA-256 with RSA).
RSA_KEY_ALGORITHMS = ("RSA_2048", "RSA_3072", "RSA_4096")


@stack_policy("certificates-rsa-2048-of-this-stack", "EDGE-04")
def certificates_of_this_stack(stack: StackView) -> list[str]:
    """TLS listeners present an ACM certificate of this stack, RSA of at least 2048 bits, validated by DNS."""
    problems = []
    for certificate in stack.of(CERTIFICATE):
        algorithm = certificate.props.get("keyAlgorithm", "RSA_2048")  # ACM's default
        if algorithm not in RSA_KEY_ALGORITHMS:
            problems.append(f"certificate {certificate.name} key {algorithm} is not RSA of 2048 bits or more")
        if certificate.props.get("privateKey") is None and certificate.props.get("validationMethod") != "DNS":
            problems.append(f"certificate {certificate.name} is not validated by DNS")
    for listener in stack.of(*LISTENER_TYPES):
        if str(listener.props.get("protocol", "")).upper() not in ("HTTPS", "TLS"):
            continue
        if not any(t.type == CERTIFICATE for t in stack.targets(listener, "certificateArn")):
            problems.append(f"listener {listener.name} presents a certificate not declared in this stack")
    return problems


@stack_policy("waf-on-every-public-alb", "EDGE-01")
def waf_on_every_public_alb(stack: StackView) -> list[str]:
    """Every internet-facing application load balancer has a web ACL of this stack associated."""
    associations = stack.of("aws:wafv2/webAclAssociation:WebAclAssociation")
    problems = []
    for lb in stack.of(*LOAD_BALANCER_TYPES):
        if lb.props.get("internal") is True or lb.props.get("loadBalancerType") in ("network", "gateway"):
            continue
        mine = [a for a in associations if stack.refers(a, "resourceArn", lb)]
        if not mine:
            problems.append(f"public load balancer {lb.name} has no WAF web ACL")
        elif not any(t.type == WEB_ACL for a in mine for t in stack.targets(a, "webAclArn")):
            problems.append(
                f"public load balancer {lb.name} is associated with a web ACL not declared in this stack"
            )
    return problems


def _waf_rules(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return mapping_list(props.get("rules"), "rules")


@resource_policy("waf-managed-rule-groups", "EDGE-01")
def waf_managed_rule_groups(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Web ACLs run the AWS common and known-bad-inputs rule groups, blocking (not only counting)."""
    if resource_type != WEB_ACL:
        return []
    blocking = {
        dig(rule, "statement", "managedRuleGroupStatement", "name")
        for rule in _waf_rules(props)
        if dig(rule, "statement", "managedRuleGroupStatement", "vendorName") == "AWS"
        and dig(rule, "overrideAction", "count") is None
    }
    missing = [group for group in WAF_MANAGED_GROUPS if group not in blocking]
    return [f"web ACL does not block with {', '.join(missing)}"] if missing else []


@resource_policy("waf-rate-limit", "EDGE-01")
def waf_rate_limit(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Web ACLs block sources above a per-IP request rate."""
    if resource_type != WEB_ACL:
        return []
    for rule in _waf_rules(props):
        limit = dig(rule, "statement", "rateBasedStatement", "limit")
        if (
            limit is not None
            and dig(rule, "action", "block") is not None
            and (
                WAF_RATE_LIMIT_RANGE[0]
                <= to_number(limit, "rateBasedStatement.limit")
                <= WAF_RATE_LIMIT_RANGE[1]
            )
        ):
            return []
    return ["web ACL has no blocking rate-based rule"]


@stack_policy("waf-logging", "EDGE-01")
def waf_logging(stack: StackView) -> list[str]:
    """Every web ACL logs its requests."""
    configs = stack.of("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    return [
        f"web ACL {acl.name} does not log"
        for acl in stack.of(WEB_ACL)
        if not any(
            stack.refers(c, "resourceArn", acl) and c.props.get("logDestinationConfigs") for c in configs
        )
    ]


def _shield_covers(stack: StackView, protection: StackResource, entry: StackResource) -> bool:
    """Shield names an Elastic IP by its allocation (`…:eip-allocation/<id>`), anything else by its ARN."""
    value = protection.props.get("resourceArn")
    if entry.type == "aws:ec2/eip:Eip" and isinstance(value, str) and known(value):
        allocation = entry.props.get("allocationId") or entry.props.get("id")
        return value.endswith(f":eip-allocation/{allocation}")
    return stack.refers(protection, "resourceArn", entry)


@stack_policy("shield-on-public-entries-in-prod", "EDGE-02")
def shield_in_prod(stack: StackView) -> list[str]:
    """In a prod stack, internet-facing load balancers and the Elastic IPs of instances have Shield Advanced."""
    if stack.environment != "prod":
        return []
    protections = stack.of("aws:shield/protection:Protection")
    entries = [lb for lb in stack.of(*LOAD_BALANCER_TYPES) if lb.props.get("internal") is not True]
    # Elastic IPs of instances (the bastion) are public entries; those of NAT gateways only send.
    entries += [eip for eip in stack.of("aws:ec2/eip:Eip") if eip.props.get("instance")]
    return [
        f"public entry {entry.name} has no Shield protection"
        for entry in entries
        if not any(_shield_covers(stack, p, entry) for p in protections)
    ]


# --- audit: trails, detectors, recorders ------------------------------------------------------------------------


@resource_policy("cloudtrail-validated", "LOG-01")
def cloudtrail_validated(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """CloudTrail trails log, in every region, global services too, with log file validation."""
    if resource_type != TRAIL:
        return []
    wanted = {"enableLogFileValidation": True, "isMultiRegionTrail": True}
    problems = [f"{key} is not {value}" for key, value in wanted.items() if props.get(key) is not value]
    for key in ("enableLogging", "includeGlobalServiceEvents"):  # both default to true
        if props.get(key) is False:
            problems.append(f"{key} is off")
    return problems


@stack_policy("cloudtrail-enabled", "LOG-01")
def cloudtrail_enabled(stack: StackView) -> list[str]:
    """The stack has a multi-region trail (no trail at all is no audit)."""
    trails = [t for t in stack.of(TRAIL) if t.props.get("isMultiRegionTrail") is True]
    return [] if trails else ["no multi-region CloudTrail trail in the stack"]


@stack_policy("guardduty-enabled", "LOG-01")
def guardduty_enabled(stack: StackView) -> list[str]:
    """GuardDuty is on, with S3 data events and EBS malware protection; no declared feature is disabled."""
    detectors = [d for d in stack.of("aws:guardduty/detector:Detector") if d.props.get("enable") is not False]
    if not detectors:
        return ["no enabled GuardDuty detector in the stack"]
    features = [
        f
        for f in stack.of("aws:guardduty/detectorFeature:DetectorFeature")
        if any(stack.refers(f, "detectorId", d) for d in detectors)
    ]
    problems = [
        f"GuardDuty feature {f.props.get('name')} is {f.props.get('status')}"
        for f in features
        if f.props.get("status") != "ENABLED"
    ]
    enabled = {f.props.get("name") for f in features if f.props.get("status") == "ENABLED"}
    problems += [
        f"GuardDuty feature {name} is not enabled"
        for name in ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION")
        if name not in enabled
    ]
    return problems


@stack_policy("config-recorder-on", "LOG-01")
def config_recorder_on(stack: StackView) -> list[str]:
    """AWS Config records every supported resource type, is switched on and delivers its snapshots."""
    recorders = stack.of(RECORDER)
    if not recorders:
        return ["no AWS Config recorder in the stack"]
    problems = []
    statuses = stack.of("aws:cfg/recorderStatus:RecorderStatus")
    for recorder in recorders:
        if dig(recorder.props, "recordingGroup", "allSupported") is False:
            problems.append(f"recorder {recorder.name} records only some resource types")
        if not any(stack.refers(s, "name", recorder) and s.props.get("isEnabled") is True for s in statuses):
            problems.append(f"recorder {recorder.name} is not switched on (no enabled recorder status)")
    if not stack.of("aws:cfg/deliveryChannel:DeliveryChannel"):
        problems.append("AWS Config has no delivery channel")
    return problems


@stack_policy("security-hub-enabled", "LOG-01")
def security_hub_enabled(stack: StackView) -> list[str]:
    """Security Hub is on with at least one standard subscribed."""
    if not stack.of("aws:securityhub/account:Account"):
        return ["Security Hub is not enabled in the stack"]
    if not stack.of("aws:securityhub/standardsSubscription:StandardsSubscription"):
        return ["Security Hub runs no standard"]
    return []


@resource_policy("log-retention-12-months", "LOG-02")
def log_retention(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Log groups keep logs at least 400 days (12 full months); never-expiring is kept too."""
    if resource_type == LOG_GROUP:
        days = props.get("retentionInDays")
        if days is None or days == 0:  # CloudWatch keeps such logs forever
            return []
        if to_number(days, "retentionInDays") < MIN_RETENTION_DAYS:
            return [f"retention {days} days is below {MIN_RETENTION_DAYS}"]
    return []


# --- backups ----------------------------------------------------------------------------------------------------


@stack_policy("backup-vault-locked", "BAK-01")
def backup_vault_locked(stack: StackView) -> list[str]:
    """Every backup vault is locked: recovery points cannot be deleted before the minimum retention."""
    locks = stack.of("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    problems = []
    for vault in stack.of(VAULT):
        mine = [lock for lock in locks if stack.refers(lock, "backupVaultName", vault)]
        if not mine:
            problems.append(f"backup vault {vault.name} is not locked")
        for lock in mine:
            minimum = to_number(lock.props.get("minRetentionDays"), "minRetentionDays", 0)
            if minimum < MIN_BACKUP_DAILY_RETENTION_DAYS:
                problems.append(
                    f"backup vault {vault.name} lock keeps {minimum:g} days, below {MIN_BACKUP_DAILY_RETENTION_DAYS}"
                )
    return problems


@resource_policy("backup-plan-retention", "BAK-01")
def backup_plan_retention(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Backup plans keep every recovery point 35 days and the longest-kept ones 13 months."""
    if resource_type != "aws:backup/plan:Plan":
        return []
    rules = mapping_list(props.get("rules"), "rules")
    kept = [
        to_number(dig(rule, "lifecycle", "deleteAfter"), "lifecycle.deleteAfter", float("inf"))
        for rule in rules
    ]
    problems = []
    if not kept:
        problems.append("backup plan has no rule")
    elif min(kept) < MIN_BACKUP_DAILY_RETENTION_DAYS:
        problems.append(
            f"a rule keeps recovery points {min(kept):g} days, below {MIN_BACKUP_DAILY_RETENTION_DAYS}"
        )
    if kept and max(kept) < MIN_BACKUP_LONGEST_DAYS:
        problems.append(f"no rule keeps recovery points {MIN_BACKUP_LONGEST_DAYS} days (13 months)")
    return problems


def _months_between_runs(expression: Any) -> float:
    """The longest gap, in months, between runs of an AWS schedule expression (cron or rate)."""
    if not isinstance(expression, str):
        raise Malformed(f"schedule {expression!r} is not a schedule expression")
    rate = re.fullmatch(r"rate\((\d+) (day|days|hour|hours|minute|minutes)\)", expression.strip())
    if rate:
        per_day = {"day": 1, "hour": 24, "minute": 1440}[rate[2].rstrip("s")]
        return int(rate[1]) / per_day / 30
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression.strip())
    if not cron:
        raise Malformed(f"schedule {expression!r} is not cron(...) or rate(...)")
    months = cron[4]
    if months == "*":
        return 1
    step = re.fullmatch(r"(\d+|\*)/(\d+)", months)
    if step:
        return float(step[2])
    values = sorted({int(m) for m in months.split(",") if m.isdigit()})
    if not values:
        raise Malformed(f"schedule {expression!r} has a month field this pack cannot read")
    return max((b - a) % 12 or 12 for a, b in zip(values, [*values[1:], values[0]], strict=True))


@stack_policy("backup-restore-tested", "BAK-01")
def backup_restore_tested(stack: StackView) -> list[str]:
    """Restores are tested at least every 6 months, from a vault of this stack."""
    plans = stack.of("aws:backup/restoreTestingPlan:RestoreTestingPlan")
    if stack.of(VAULT) and not plans:
        return ["backups are never test-restored: add a restore testing plan"]
    problems = []
    for plan in plans:
        gap = _months_between_runs(plan.props.get("scheduleExpression"))
        if gap > MAX_RESTORE_TEST_MONTHS:
            problems.append(f"restore testing plan {plan.name} runs every {gap:g} months, more than 6")
        vaults = dig(plan.props, "recoveryPointSelection", "includeVaults")
        if not any(t.type == VAULT for t in stack.targets(plan, "recoveryPointSelection", vaults)):
            problems.append(f"restore testing plan {plan.name} tests no backup vault of this stack")
    return problems


# --- hosts ------------------------------------------------------------------------------------------------------


@resource_policy("imdsv2-required", "HST-01")
def imdsv2_required(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Instances and launch templates require IMDSv2 tokens, and tokens do not leave the host (hop limit 1)."""
    if resource_type not in (INSTANCE, "aws:ec2/launchTemplate:LaunchTemplate"):
        return []
    options = props.get("metadataOptions") or {}
    if dig(options, "httpEndpoint") == "disabled":
        return []
    problems = []
    if dig(options, "httpTokens") != "required":
        problems.append("IMDSv2 is not required: set metadata_options.http_tokens='required'")
    hops = to_number(dig(options, "httpPutResponseHopLimit"), "httpPutResponseHopLimit", 1)
    if hops > 1:
        problems.append(f"metadata tokens reach {hops:g} hops: set http_put_response_hop_limit=1")
    return problems


# --- the SDK wrappers ----------------------------------------------------------------------------------------


def _resource_validation(check: ResourceCheck) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, args.urn)

    return validate


def _stack_validation(check: StackCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        # The engine's props raise on any value a preview does not know (every id of a new stack): the policies
        # see the plain values instead, unknowns as the engine's sentinels, and follow property dependencies.
        resources = [
            StackResource(
                r.resource_type,
                r.name,
                r.urn,
                serialize_properties(r.props),
                {prop: [dep.urn for dep in deps] for prop, deps in (r.property_dependencies or {}).items()},
            )
            for r in args.resources
        ]
        for message in check(StackView(resources, args.get_config() or {})):
            report_violation(message, None)

    return validate


def sdk_policies(enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY) -> list[Any]:
    """The baseline as pulumi-policy objects; per-policy levels are set with the pack's policy config."""
    policies: list[Any] = []
    for spec in POLICIES:
        description = f"[{spec.control}] {spec.description}"
        schema = (
            PolicyConfigSchema({k: dict(v) for k, v in spec.config_schema.items()})
            if spec.config_schema
            else None
        )
        if spec.stack:
            validate_stack = _stack_validation(cast(StackCheck, spec.check))
            policies.append(
                StackValidationPolicy(spec.name, description, validate_stack, enforcement_level, schema)
            )
        else:
            validate_resource = _resource_validation(cast(ResourceCheck, spec.check))
            policies.append(
                ResourceValidationPolicy(
                    spec.name, description, validate_resource, enforcement_level, config_schema=schema
                )
            )
    return policies
