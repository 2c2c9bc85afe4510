"""TenantKeys' policies: keys rotate and wait 30 days to be deleted, every key reference is a key of this stack,
EBS encrypts by default.

`encryption_policy` is the one shape of the encryption-at-rest policies: each concern registers its own resource
types with it and says where their data is encrypted (`Place`); the key found there must be a key of this stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from infra.policy_registry import StackCheck, resource_policy, stack_policy
from infra.policy_view import KMS_KEY_TYPES, Malformed, StackResource, StackView, known


@resource_policy("kms-key-rotation", "CRY-01")
def kms_key_rotation(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Customer-managed KMS keys rotate automatically."""
    if resource_type == "aws:kms/key:Key" and props.get("enableKeyRotation") is not True:
        return ["key rotation is off: set enable_key_rotation=True"]
    return []


# AWS deletes a key scheduled for deletion after 7 to 30 days; the longest window (also AWS's default) leaves the
# most time to notice a mistaken or malicious deletion and cancel it before the data it protects is lost.
MIN_DELETION_WINDOW_DAYS = 30


@resource_policy("kms-key-deletion-window", "CRY-07")
def kms_key_deletion_window(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """KMS keys wait 30 days between being scheduled for deletion and being deleted (time to cancel)."""
    if resource_type not in KMS_KEY_TYPES:
        return []
    days = props.get("deletionWindowInDays")
    if not known(days):  # unset: AWS waits its default, 30 days
        return []
    if isinstance(days, bool) or not isinstance(days, (int, float)):
        raise Malformed(f"deletionWindowInDays {days!r} is not a number of days")
    if days < MIN_DELETION_WINDOW_DAYS:
        window = f"deletion window {days:g} days is below {MIN_DELETION_WINDOW_DAYS}"
        return [f"{window}: set deletion_window_in_days={MIN_DELETION_WINDOW_DAYS}"]
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


# --- encryption at rest: what protects the data (each concern registers its resources) ----------------------


# Where a resource's data is encrypted: the resource holding the setting, the property, the key it names, and a
# problem when the setting leaves the data unprotected whatever the key.
Place = tuple[StackResource, str, Any, str | None]
# The key of a place whose data is as well encrypted as it can be without a tenant key (the ELB access-log bucket
# of infra/log_archive/policies.py): no key problem to report.
NO_KEY_NEEDED = object()


def encryption_policy(
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


def prop_key(*props: str) -> Callable[[StackView, StackResource], list[Place]]:
    """Where the data is encrypted, for a resource naming its key in the first of `props` it sets."""

    def locate(_stack: StackView, resource: StackResource) -> list[Place]:
        for prop in props:
            if resource.props.get(prop) is not None or prop in resource.property_dependencies:
                return [(resource, prop, resource.props.get(prop), None)]
        return []

    return locate


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
