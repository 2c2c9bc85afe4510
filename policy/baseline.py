"""The security baseline as CrossGuard policies.

Each policy is a plain function over (resource type, properties) — or, for stack policies, over the list of
resources — that returns violation messages; `resource_policy`/`stack_policy` wrap it for the pulumi-policy SDK.
The same SDK objects serve `pulumi preview --policy-pack policy` and the offline runner (policy/runner.py).
Property names are the engine's (camelCase), as CrossGuard hands them over.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from ipaddress import ip_network
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.config import ALB_TLS_POLICIES, MIN_LOG_RETENTION_DAYS
from infra.config import EU_REGIONS as CONFIG_EU_REGIONS

# One source of truth with the stack's own config validation: the pack judges by the same lists.
EU_REGIONS = CONFIG_EU_REGIONS
MIN_RETENTION_DAYS = MIN_LOG_RETENTION_DAYS
REQUIRED_TAGS = ("tenant", "environment")
# Listener policies that negotiate TLS 1.2 or 1.3 only, without the CBC "Ext" ciphers.
TLS12_PLUS_POLICIES = frozenset(ALB_TLS_POLICIES)
# (protocol, port) that may be open to the whole internet: the ALB's HTTP(S) and the VPN.
PUBLIC_PORTS = frozenset({("tcp", 80), ("tcp", 443), ("udp", 1194)})

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LOAD_BALANCER_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")


@dataclass(frozen=True)
class StackResource:
    """What a stack policy sees of one resource (a neutral view of pulumi_policy.PolicyResource)."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, list[str]] = field(default_factory=dict)


ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]
StackCheck = Callable[[list[StackResource]], list[str]]


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    control: str
    check: ResourceCheck | StackCheck
    stack: bool = False


POLICIES: list[PolicySpec] = []


def resource_policy(name: str, control: str) -> Callable[[ResourceCheck], ResourceCheck]:
    def register(check: ResourceCheck) -> ResourceCheck:
        POLICIES.append(PolicySpec(name, (check.__doc__ or name).strip(), control, check))
        return check

    return register


def stack_policy(name: str, control: str) -> Callable[[StackCheck], StackCheck]:
    def register(check: StackCheck) -> StackCheck:
        POLICIES.append(PolicySpec(name, (check.__doc__ or name).strip(), control, check, stack=True))
        return check

    return register


def _get(props: Mapping[str, Any], *path: str) -> Any:
    value: Any = props
    for key in path:
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _json(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, Mapping) else {}
    return value if isinstance(value, Mapping) else {}


@cache
def _is_taggable(resource_type: str) -> bool:
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


# --- resource policies ---------------------------------------------------------------------------------------


@resource_policy("eu-region-only", "NET-02")
def eu_region_only(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Resources, providers and zones are in EU regions only."""
    region = props.get("region")
    if isinstance(region, str) and region not in EU_REGIONS:
        return [f"region {region} is outside the EU"]
    zone = props.get("availabilityZone")
    if isinstance(zone, str) and zone[:-1] not in EU_REGIONS:
        return [f"availability zone {zone} is outside the EU"]
    return []


@resource_policy("tenant-tags", "NET-01")
def tenant_tags(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every taggable resource carries the tenant and environment tags (single tenancy is visible)."""
    if not _is_taggable(resource_type):
        return []
    tags = props.get("tags") or {}
    missing = [tag for tag in REQUIRED_TAGS if not tags.get(tag)]
    return [f"missing tag(s) {', '.join(missing)}"] if missing else []


@resource_policy("kms-key-rotation", "CRY-01")
def kms_key_rotation(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Customer-managed KMS keys rotate automatically."""
    if resource_type == "aws:kms/key:Key" and props.get("enableKeyRotation") is not True:
        return ["key rotation is off: set enable_key_rotation=True"]
    return []


def _cmk(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "alias/aws/" not in value


@resource_policy("customer-managed-encryption", "CRY-01")
def customer_managed_encryption(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Logs, buckets, volumes, topics, trails, firewalls and backups are encrypted with a tenant CMK."""
    problems: dict[str, Callable[[], bool]] = {
        LOG_GROUP: lambda: _cmk(props.get("kmsKeyId")),
        "aws:sns/topic:Topic": lambda: _cmk(props.get("kmsMasterKeyId")),
        "aws:cloudtrail/trail:Trail": lambda: _cmk(props.get("kmsKeyId")),
        "aws:backup/vault:Vault": lambda: _cmk(props.get("kmsKeyArn")),
        "aws:ec2/volume:Volume": lambda: props.get("encrypted") is True and _cmk(props.get("kmsKeyId")),
        "aws:networkfirewall/firewall:Firewall": lambda: (
            _get(props, "encryptionConfiguration", "type") == "CUSTOMER_KMS"
        ),
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": lambda: (
            all(
                _get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") == "aws:kms"
                and _cmk(_get(rule, "applyServerSideEncryptionByDefault", "kmsMasterKeyId"))
                for rule in _as_list(props.get("rules"))
            )
            and bool(props.get("rules"))
        ),
    }
    check = problems.get(resource_type)
    return ["not encrypted with a customer-managed KMS key"] if check and not check() else []


@resource_policy("ebs-encrypted", "CRY-01")
def ebs_encrypted(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Instance root and data volumes are encrypted with a tenant key."""
    if resource_type != "aws:ec2/instance:Instance":
        return []
    devices = [props.get("rootBlockDevice") or {}, *_as_list(props.get("ebsBlockDevices"))]
    if all(d.get("encrypted") is True and _cmk(d.get("kmsKeyId")) for d in devices):
        return []
    return ["an EBS volume of the instance is not encrypted with a customer-managed key"]


@resource_policy("imdsv2-required", "HST-01")
def imdsv2_required(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Instances and launch templates require IMDSv2 tokens."""
    launched = resource_type in ("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate")
    if launched and _get(props, "metadataOptions", "httpTokens") != "required":
        return ["IMDSv2 is not required: set metadata_options.http_tokens='required'"]
    return []


@resource_policy("log-retention-12-months", "LOG-02")
def log_retention(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Log groups keep logs at least 400 days (12 full months)."""
    if resource_type == LOG_GROUP:
        days = props.get("retentionInDays")
        if not isinstance(days, (int, float)) or days < MIN_RETENTION_DAYS:
            return [f"retention {days} days is below {MIN_RETENTION_DAYS}"]
    return []


@resource_policy("s3-public-access-blocked", "CRY-03")
def s3_public_access_blocked(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Bucket public access blocks set all four flags."""
    if resource_type != "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        return []
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    off = [flag for flag in flags if props.get(flag) is not True]
    return [f"public access not blocked: {', '.join(off)}"] if off else []


def _denies_insecure_transport(policy: Mapping[str, Any]) -> bool:
    for statement in _as_list(policy.get("Statement")):
        condition = _get(statement, "Condition", "Bool") or {}
        if statement.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")).lower() == "false":
            return True
    return False


@resource_policy("s3-tls-only", "CRY-03")
def s3_tls_only(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Bucket policies deny every request that does not use TLS."""
    if resource_type == "aws:s3/bucketPolicy:BucketPolicy" and not _denies_insecure_transport(
        _json(props.get("policy"))
    ):
        return ["bucket policy does not deny aws:SecureTransport=false"]
    return []


def _open_to_world(rule: Mapping[str, Any]) -> bool:
    cidrs = [*_as_list(rule.get("cidrBlocks")), *_as_list(rule.get("ipv6CidrBlocks"))]
    cidrs += [c for c in (rule.get("cidrIpv4"), rule.get("cidrIpv6")) if c]
    return any(ip_network(cidr, strict=False).prefixlen == 0 for cidr in cidrs if isinstance(cidr, str))


def _ports(rule: Mapping[str, Any]) -> tuple[str, int, int]:
    protocol = str(rule.get("protocol") or rule.get("ipProtocol") or "-1").lower()
    return protocol, int(rule.get("fromPort") or 0), int(rule.get("toPort") or 65535)


@resource_policy("no-world-ingress", "NET-06")
def no_world_ingress(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No ingress from 0.0.0.0/0 or ::/0 except the VPN port and the ALB's 80/443."""
    if resource_type == "aws:ec2/securityGroup:SecurityGroup":
        rules = _as_list(props.get("ingress"))
    elif (
        resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
        or resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule"
        and props.get("type") == "ingress"
    ):
        rules = [props]
    else:
        return []
    violations = []
    for rule in rules:
        protocol, low, high = _ports(rule)
        if _open_to_world(rule) and not (low == high and (protocol, low) in PUBLIC_PORTS):
            violations.append(f"ingress {protocol} {low}-{high} is open to the internet")
    return violations


@resource_policy("alb-tls-1-2-and-redirects", "EDGE-03")
def alb_tls(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """HTTPS listeners use a TLS 1.2+ policy; plain HTTP listeners only redirect to HTTPS."""
    if resource_type not in LISTENER_TYPES:
        return []
    protocol = props.get("protocol")
    if protocol == "HTTPS" and props.get("sslPolicy") not in TLS12_PLUS_POLICIES:
        return [f"TLS policy {props.get('sslPolicy')} allows TLS below 1.2"]
    if protocol == "HTTP":
        actions = _as_list(props.get("defaultActions"))
        if not actions or any(
            a.get("type") != "redirect" or _get(a, "redirect", "protocol") != "HTTPS" for a in actions
        ):
            return ["HTTP listener does something other than redirect to HTTPS"]
    return []


@resource_policy("cloudtrail-validated", "LOG-01")
def cloudtrail_validated(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """CloudTrail trails are multi-region, validated and encrypted."""
    if resource_type != "aws:cloudtrail/trail:Trail":
        return []
    wanted = {"enableLogFileValidation": True, "isMultiRegionTrail": True}
    return [f"{key} is not {value}" for key, value in wanted.items() if props.get(key) is not value]


@resource_policy("network-firewall-protected", "NET-03")
def network_firewall_protected(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Network firewalls cannot be deleted or moved out of their subnets by accident."""
    if resource_type != "aws:networkfirewall/firewall:Firewall":
        return []
    return [
        f"{flag} is off"
        for flag in ("deleteProtection", "subnetChangeProtection")
        if props.get(flag) is not True
    ]


# --- stack policies ------------------------------------------------------------------------------------------


def _of(resources: Iterable[StackResource], *types: str) -> list[StackResource]:
    return [r for r in resources if r.type in types]


def _refers_to(resource: StackResource, prop: str, target: StackResource, target_value: Any) -> bool:
    """True when `prop` holds the target's value, or (in a preview, before the value is known) depends on it."""
    value = resource.props.get(prop)
    if value is not None and target_value is not None:
        return bool(value == target_value)
    return target.urn in resource.property_dependencies.get(prop, [])


@stack_policy("flow-logs-on-every-vpc", "NET-05")
def flow_logs_on_every_vpc(resources: list[StackResource]) -> list[str]:
    """Every VPC has a flow log."""
    flow_logs = _of(resources, "aws:ec2/flowLog:FlowLog")
    return [
        f"VPC {vpc.name} has no flow log"
        for vpc in _of(resources, "aws:ec2/vpc:Vpc")
        if not any(_refers_to(log, "vpcId", vpc, vpc.props.get("id")) for log in flow_logs)
    ]


def _endpoint_by_zone(firewall: StackResource) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    for status in _as_list(firewall.props.get("firewallStatuses")):
        for state in _as_list(status.get("syncStates")):
            endpoint = _get(state, "attachments", "endpointId")
            if state.get("availabilityZone") and endpoint:
                endpoints[state["availabilityZone"]] = endpoint
    return endpoints


@stack_policy("firewall-in-every-zone", "NET-03")
def firewall_in_every_zone(resources: list[StackResource]) -> list[str]:
    """A network firewall endpoint in every zone, and every public subnet routed through its own zone's one."""
    firewalls = _of(resources, "aws:networkfirewall/firewall:Firewall")
    subnets = _of(resources, "aws:ec2/subnet:Subnet")
    public = [s for s in subnets if (s.props.get("tags") or {}).get("tier") == "public"]
    if not public:
        return []
    if not firewalls:
        return ["public subnets exist but no network firewall does"]
    firewall = firewalls[0]
    mapped = {m.get("subnetId") for m in _as_list(firewall.props.get("subnetMappings"))}
    firewall_zones = {s.props.get("availabilityZone") for s in subnets if s.props.get("id") in mapped}
    violations = [
        f"zone {s.props.get('availabilityZone')} has no firewall endpoint"
        for s in public
        if s.props.get("availabilityZone") not in firewall_zones and mapped
    ]
    endpoints = _endpoint_by_zone(firewall)
    associations = _of(resources, "aws:ec2/routeTableAssociation:RouteTableAssociation")
    routes = _of(resources, "aws:ec2/route:Route")
    for subnet in public:
        zone = subnet.props.get("availabilityZone")
        tables = {
            a.props.get("routeTableId")
            for a in associations
            if _refers_to(a, "subnetId", subnet, subnet.props.get("id"))
        }
        defaults = [
            r
            for r in routes
            if r.props.get("routeTableId") in tables and r.props.get("destinationCidrBlock") == "0.0.0.0/0"
        ]
        if not defaults:
            violations.append(f"public subnet {subnet.name} has no default route through the firewall")
            continue
        for route in defaults:
            endpoint = route.props.get("vpcEndpointId")
            if endpoints and endpoint != endpoints.get(str(zone)):
                violations.append(
                    f"public subnet {subnet.name} in {zone} is routed to {endpoint}, not its zone's endpoint"
                )
            elif not endpoints and firewall.urn not in route.property_dependencies.get("vpcEndpointId", []):
                violations.append(
                    f"public subnet {subnet.name} default route does not go through the firewall"
                )
    return violations


@stack_policy("waf-on-every-public-alb", "EDGE-01")
def waf_on_every_public_alb(resources: list[StackResource]) -> list[str]:
    """Every internet-facing load balancer has a WAF web ACL associated."""
    associations = _of(resources, "aws:wafv2/webAclAssociation:WebAclAssociation")
    return [
        f"public load balancer {lb.name} has no WAF web ACL"
        for lb in _of(resources, *LOAD_BALANCER_TYPES)
        if lb.props.get("internal") is not True
        and not any(_refers_to(a, "resourceArn", lb, lb.props.get("arn")) for a in associations)
    ]


def _shield_covers(protection: StackResource, entry: StackResource) -> bool:
    """Shield names an Elastic IP by its allocation (`…:eip-allocation/<id>`), anything else by its ARN."""
    value = protection.props.get("resourceArn")
    if entry.type == "aws:ec2/eip:Eip" and isinstance(value, str):
        allocation = entry.props.get("allocationId") or entry.props.get("id")
        return value.endswith(f":eip-allocation/{allocation}")
    return _refers_to(protection, "resourceArn", entry, entry.props.get("arn"))


@stack_policy("shield-on-public-entries-in-prod", "EDGE-02")
def shield_in_prod(resources: list[StackResource]) -> list[str]:
    """In prod, public load balancers and Elastic IPs are protected by Shield Advanced."""
    protections = _of(resources, "aws:shield/protection:Protection")
    entries = [lb for lb in _of(resources, *LOAD_BALANCER_TYPES) if lb.props.get("internal") is not True]
    # Elastic IPs of instances (the bastion) are public entries; those of NAT gateways only send.
    entries += [eip for eip in _of(resources, "aws:ec2/eip:Eip") if eip.props.get("instance")]
    return [
        f"public entry {entry.name} has no Shield protection"
        for entry in entries
        if (entry.props.get("tags") or {}).get("environment") == "prod"
        and not any(_shield_covers(p, entry) for p in protections)
    ]


# --- the SDK wrappers ----------------------------------------------------------------------------------------


def _resource_validation(check: ResourceCheck) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, args.urn)

    return validate


def _stack_validation(check: StackCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            StackResource(
                r.resource_type,
                r.name,
                r.urn,
                r.props,
                {prop: [dep.urn for dep in deps] for prop, deps in (r.property_dependencies or {}).items()},
            )
            for r in args.resources
        ]
        for message in check(resources):
            report_violation(message, None)

    return validate


def sdk_policies(enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY) -> list[Any]:
    """The baseline as pulumi-policy objects; per-policy levels are set with the pack's policy config."""
    policies: list[Any] = []
    for spec in POLICIES:
        description = f"[{spec.control}] {spec.description}"
        if spec.stack:
            validate_stack = _stack_validation(cast(StackCheck, spec.check))
            policies.append(StackValidationPolicy(spec.name, description, validate_stack, enforcement_level))
        else:
            validate_resource = _resource_validation(cast(ResourceCheck, spec.check))
            policies.append(
                ResourceValidationPolicy(spec.name, description, validate_resource, enforcement_level)
            )
    return policies
