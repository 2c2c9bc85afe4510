"""What a policy of the pack sees of a stack, how a policy is registered, and the helpers every policy shares.

A policy is a plain function that returns violation messages, judging effects, not names: a resource policy over
(resource type, inputs), a stack policy over a `StackView`: every resource with its resolved values and property
dependencies, the cross-references between them (by id, ARN or name once known, by dependency while a preview does
not know them), the KMS keys the stack declares, and the policy config. Property names are the engine's
(camelCase), as CrossGuard hands them over; a malformed value raises `Malformed`, which the registry
(infra/policy_registry.py) turns into a violation naming the property. Range sets (`is_world`) measure the union
of source ranges, however it is split.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, collapse_addresses, ip_network
from typing import Any, cast

from pulumi_policy import proxy

# What the engine hands a policy for a value not known before deployment (one sentinel per kind of value).
UNKNOWN = proxy.UNKNOWN_STRING_VALUE
UNKNOWNS = frozenset(
    {
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_ARCHIVE_VALUE,
    }
)

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KMS_KEY_TYPES = ("aws:kms/key:Key", "aws:kms/externalKey:ExternalKey", "aws:kms/replicaKey:ReplicaKey")
KMS_ALIAS = "aws:kms/alias:Alias"
BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SSE_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LOAD_BALANCER_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE_TYPES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)
SUBNET = "aws:ec2/subnet:Subnet"
INSTANCE = "aws:ec2/instance:Instance"
FIREWALL = "aws:networkfirewall/firewall:Firewall"
FIREWALL_POLICY = "aws:networkfirewall/firewallPolicy:FirewallPolicy"
RULE_GROUP = "aws:networkfirewall/ruleGroup:RuleGroup"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
TRAIL = "aws:cloudtrail/trail:Trail"
VAULT = "aws:backup/vault:Vault"
VPC = "aws:ec2/vpc:Vpc"
RECORDER = "aws:cfg/recorder:Recorder"
CERTIFICATE = "aws:acm/certificate:Certificate"

# Source ranges that together span this much routable space are "the internet" (no admin, office or partner
# range is remotely that large): a /8 of IPv4, a /16 of IPv6.
WORLD_ADDRESSES = {4: 2**24, 6: 2**112}
# Address blocks that are not reachable from the internet (RFC 1918, CGNAT, loopback, link-local, ULA).
NON_ROUTABLE = tuple(
    ip_network(block)
    for block in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


class Malformed(ValueError):
    """A property holds a value no AWS API would accept; reported as a violation naming the property."""


@dataclass(frozen=True)
class StackResource:
    """What a stack policy sees of one resource (a neutral view of pulumi_policy.PolicyResource)."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, list[str]] = field(default_factory=dict)

    def tag(self, key: str) -> Any:
        tags = self.props.get("tags")
        return tags.get(key) if isinstance(tags, Mapping) else None


@dataclass
class StackView:
    """Every resource of the stack, with the cross-references a stack policy follows, and the policy config."""

    resources: list[StackResource]
    config: Mapping[str, Any] = field(default_factory=dict)

    def of(self, *types: str) -> list[StackResource]:
        return [r for r in self.resources if r.type in types]

    @cached_property
    def _by_identity(self) -> dict[str, list[StackResource]]:
        """Resources by the values other resources use to name them: id, ARN, bucket and vault names."""
        index: dict[str, list[StackResource]] = {}
        for resource in self.resources:
            names = [resource.props.get(key) for key in ("id", "arn", "keyId")]
            if resource.type in (
                *BUCKET_TYPES,
                VAULT,
                LOG_GROUP,
                KMS_ALIAS,
                RULE_GROUP,
                FIREWALL_POLICY,
                RECORDER,
            ):
                names += [resource.props.get("bucket"), resource.props.get("name")]
            for value in names:
                if known(value) and isinstance(value, str):
                    index.setdefault(value, []).append(resource)
        return index

    @cached_property
    def _by_urn(self) -> dict[str, StackResource]:
        return {r.urn: r for r in self.resources}

    def targets(self, resource: StackResource, prop: str, value: Any = None) -> list[StackResource]:
        """The stack's resources that `prop` of `resource` names: by value, or by dependency when unknown."""
        value = resource.props.get(prop) if value is None else value
        found: list[StackResource] = []
        for item in as_list(value):
            if isinstance(item, str) and known(item):
                found += self._by_identity.get(item, [])
        if not found and not has_known_value(value):
            found = [
                self._by_urn[urn]
                for urn in resource.property_dependencies.get(prop, [])
                if urn in self._by_urn
            ]
        return found

    def refers(self, resource: StackResource, prop: str, target: StackResource) -> bool:
        return any(t.urn == target.urn for t in self.targets(resource, prop))

    def users(self, target: StackResource, types: tuple[str, ...], prop: str) -> list[StackResource]:
        """The resources of `types` whose `prop` names `target`."""
        return [r for r in self.of(*types) if self.refers(r, prop, target)]

    @cached_property
    def keys(self) -> list[StackResource]:
        """The KMS keys this stack declares, and its aliases that point at them."""
        keys = self.of(*KMS_KEY_TYPES)
        aliases = [a for a in self.of(KMS_ALIAS) if any(t in keys for t in self.targets(a, "targetKeyId"))]
        return keys + aliases

    def key_problem(self, resource: StackResource, prop: str, value: Any, what: str) -> str | None:
        """Why `value` (at `what`) is not a KMS key of this stack, or None when it is one."""
        trusted = as_list(self.config.get("trustedKeyArns"))
        if value is None or value == "":
            return f"{resource.name}: {what} names no KMS key: use a key of this stack"
        if not isinstance(value, str):
            raise Malformed(f"{what} {value!r} is not a KMS key ARN or id")
        if value in trusted:
            return None
        if known(value):
            if any(t in self.keys for t in self._by_identity.get(value, [])):
                return None
            return (
                f"{resource.name}: {what} {value!r} is not a KMS key of this stack: use one of the stack's keys "
                "(or name it in the policy config trustedKeyArns)"
            )
        if any(t in self.keys for t in self.targets(resource, prop, value)):
            return None
        return f"{resource.name}: {what} is not known to come from a KMS key of this stack"

    @cached_property
    def environment(self) -> str | None:
        """The stack's environment: prod as soon as any resource says so (a missing tag cannot hide it)."""
        values = {r.tag("environment") for r in self.resources} - {None}
        return "prod" if "prod" in values else next(iter(sorted(map(str, values))), None)


# --- value helpers -------------------------------------------------------------------------------------------


def known(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and value in UNKNOWNS)


def has_known_value(value: Any) -> bool:
    return any(isinstance(item, str) and known(item) for item in as_list(value))


def dig(props: Any, *path: str) -> Any:
    value: Any = props
    for key in path:
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def as_list(value: Any) -> list[Any]:
    """A list property as a list: none for a missing or (in a preview) unknown one, a scalar as one item."""
    if value is None or (isinstance(value, str) and value in UNKNOWNS):
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def mapping_list(value: Any, what: str) -> list[Mapping[str, Any]]:
    items = as_list(value)
    for item in items:
        if not isinstance(item, Mapping):
            raise Malformed(f"{what} holds {item!r}, not an object")
    return cast(list[Mapping[str, Any]], items)


def parse_json(value: Any, what: str) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise Malformed(f"{what} is not JSON ({error.msg})") from None
    if not isinstance(value, Mapping):
        raise Malformed(f"{what} is not a JSON object")
    return value


def to_number(value: Any, what: str, default: float | None = None) -> float:
    """A number property; `default` when it is missing or not known before deployment."""
    if not known(value) and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Malformed(f"{what} {value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise Malformed(f"{what} {value!r} is not a number") from None


def to_network(value: Any, what: str) -> IPv4Network | IPv6Network:
    if not isinstance(value, str):
        raise Malformed(f"{what} {value!r} is not a CIDR range")
    try:
        return ip_network(value.strip(), strict=False)
    except ValueError:
        raise Malformed(f"{what} {value!r} is not a CIDR range") from None


def routable_addresses(networks: Iterable[IPv4Network | IPv6Network]) -> dict[int, int]:
    """Addresses reachable from the internet in the union of `networks`, per IP version."""
    networks = list(networks)
    unions: dict[int, list[IPv4Network] | list[IPv6Network]] = {
        4: list(collapse_addresses(n for n in networks if isinstance(n, IPv4Network))),
        6: list(collapse_addresses(n for n in networks if isinstance(n, IPv6Network))),
    }
    counts = {4: 0, 6: 0}
    for version, union in unions.items():
        for network in union:
            # CIDR blocks overlap only by containment, and the non-routable blocks are disjoint.
            private = sum(
                min(block.num_addresses, network.num_addresses)
                for block in NON_ROUTABLE
                if block.version == version and network.overlaps(block)
            )
            counts[version] += max(0, network.num_addresses - private)
    return counts


def is_world(networks: Iterable[IPv4Network | IPv6Network]) -> bool:
    """The union of these ranges is the internet, however it is split."""
    counts = routable_addresses(list(networks))
    return any(counts[version] >= WORLD_ADDRESSES[version] for version in (4, 6))


def has_routable(networks: Iterable[IPv4Network | IPv6Network]) -> bool:
    return any(routable_addresses(list(networks)).values())


def describe_ranges(networks: Iterable[IPv4Network | IPv6Network]) -> str:
    return ", ".join(sorted(map(str, networks)))


Network = IPv4Network | IPv6Network


def subtract(networks: Iterable[Network], removed: list[Network]) -> list[Network]:
    """The parts of `networks` outside every range of `removed`."""
    kept: list[Network] = []
    for network in networks:
        pieces = [network]
        for cut in removed:
            remaining: list[Network] = []
            for piece in pieces:
                if piece.version != cut.version or not piece.overlaps(cut):
                    remaining.append(piece)
                elif cut.num_addresses < piece.num_addresses:  # the cut lies inside the piece
                    remaining.extend(piece.address_exclude(cut))  # type: ignore[arg-type]
            pieces = remaining
        kept.extend(pieces)
    return kept
