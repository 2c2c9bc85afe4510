"""The mocked stack as a Terraform plan JSON, so scanners written for Terraform (checkov) can judge it.

Terraform's `show -json` plan format: `planned_values.root_module.resources` (the values after apply),
`resource_changes` (all creates, as for a first deploy) and `configuration.root_module.resources` (the
references between resources, which checkov's graph checks follow). pulumi_aws is generated from Terraform's aws
provider, so its types and properties map back one to one: the type token through the `TERRAFORM_TYPES` each
concern declares next to its component (infra/<concern>/component.py), camelCase to snake_case, a nested object to
a list of one block, and the few block lists Pulumi names in the plural back to Terraform's singular
(`BLOCK_NAMES`). A resource type no concern declares stops the export: no resource may escape the scanner
unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from infra.concerns import concern_modules
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack

FORMAT_VERSION = "1.2"
# Scanners only accept a JSON file as a plan when it names the Terraform that wrote it: the release whose plan
# format (1.2) this export follows.
TERRAFORM_VERSION = "1.9.8"
# Block lists Pulumi names in the plural where Terraform's block is singular (`rule { }` repeated), per type.
BLOCK_NAMES: dict[str, dict[str, str]] = {
    "aws_backup_plan": {"rules": "rule", "copyActions": "copy_action"},
    "aws_backup_selection": {"conditions": "condition"},
    "aws_cloudtrail": {
        "eventSelectors": "event_selector",
        "advancedEventSelectors": "advanced_event_selector",
        "insightSelectors": "insight_selector",
        "dataResources": "data_resource",
    },
    "aws_guardduty_detector_feature": {"additionalConfigurations": "additional_configuration"},
    "aws_lb": {"subnetMappings": "subnet_mapping"},
    "aws_lb_listener": {"defaultActions": "default_action"},
    "aws_networkfirewall_firewall": {"subnetMappings": "subnet_mapping"},
    "aws_networkfirewall_firewall_policy": {"statefulRuleGroupReferences": "stateful_rule_group_reference"},
    "aws_networkfirewall_logging_configuration": {"logDestinationConfigs": "log_destination_config"},
    "aws_route53_record": {"aliases": "alias"},
    "aws_s3_bucket_lifecycle_configuration": {"rules": "rule", "transitions": "transition"},
    "aws_s3_bucket_server_side_encryption_configuration": {"rules": "rule"},
    "aws_wafv2_web_acl": {"rules": "rule"},
}
# Terraform map attributes: kept as maps, their keys untouched (a tag key is data, not a property name).
MAP_ATTRIBUTES = frozenset({"tags", "tagsAll", "dimensions"})


class UnmappedResourceType(ValueError):
    """A resource type the exporter has no Terraform type for."""


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _attributes(value: Mapping[str, Any], tf_type: str) -> dict[str, Any]:
    """Pulumi properties as Terraform attributes; nested objects become lists of one block."""
    renames = BLOCK_NAMES.get(tf_type, {})
    converted: dict[str, Any] = {}
    for key, item in value.items():
        if key.startswith("__"):
            continue  # Pulumi's own bookkeeping (`__defaults`)
        name = renames.get(key) or snake_case(key)
        if key in MAP_ATTRIBUTES:
            converted[name] = dict(item)
        elif isinstance(item, Mapping):
            converted[name] = [_attributes(item, tf_type)]
        elif isinstance(item, list):
            converted[name] = [
                _attributes(i, tf_type) if isinstance(i, Mapping) else _number(i) for i in item
            ]
        else:
            converted[name] = _number(item)
    return converted


def _number(value: Any) -> Any:
    """Pulumi's wire format has only floats; Terraform writes whole numbers as integers (`port = 80`)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@cache
def declared_terraform_types() -> dict[str, str]:
    """The Terraform type of every resource type a concern's component declares it creates."""
    types: dict[str, str] = {}
    for component in concern_modules("component"):
        for token, tf_type in getattr(component, "TERRAFORM_TYPES", {}).items():
            if types.setdefault(token, tf_type) != tf_type:
                raise ValueError(
                    f"{component.__name__}.TERRAFORM_TYPES maps {token} to {tf_type}, another concern to "
                    f"{types[token]}: Terraform has one name for it"
                )
    return types


def terraform_type(resource: DeclaredResource) -> str:
    try:
        return declared_terraform_types()[resource.type]
    except KeyError:
        raise UnmappedResourceType(
            f"{resource.type} ({resource.name}) has no Terraform type: add it to the TERRAFORM_TYPES of the "
            "component that creates it (infra/<concern>/component.py; its plural block names to "
            "review.terraform_plan.BLOCK_NAMES)"
        ) from None


def _exported(snapshot: StackSnapshot) -> list[DeclaredResource]:
    """The cloud resources (components and providers have no Terraform counterpart)."""
    return [r for r in snapshot.resources if r.custom and not r.type.startswith("pulumi:providers:")]


def addresses(snapshot: StackSnapshot) -> dict[str, str]:
    """The Terraform address (`aws_lb.acme-prod-alb`) of every exported resource, by URN."""
    found: dict[str, str] = {}
    for resource in _exported(snapshot):
        address = f"{terraform_type(resource)}.{resource.name}"
        if address in found.values():
            raise ValueError(f"two resources would share the Terraform address {address}")
        found[resource.urn] = address
    return found


def _references(
    resource: DeclaredResource, by_address: dict[str, str], by_urn: dict[str, DeclaredResource]
) -> tuple[dict[str, Any], set[str]]:
    """Configuration expressions for the properties taken from other resources, as Terraform writes them.

    A property whose whole value is another resource's output (`bucket = aws_s3_bucket.logs.id`) is unknown
    until apply, so it leaves the planned values and becomes a reference; checkov's graph checks (a bucket and
    its public access block, ...) follow these.
    """
    expressions: dict[str, Any] = {}
    unknown: set[str] = set()
    for prop, urns in resource.property_dependencies.items():
        refs = []
        value = resource.outputs.get(prop)
        for urn in urns:
            if urn not in by_address:
                continue
            target = by_urn[urn]
            attribute = next(
                (k for k, v in target.outputs.items() if v == value and isinstance(v, str)), None
            )
            if attribute is not None:
                refs.append(f"{by_address[urn]}.{snake_case(attribute)}")
                unknown.add(prop)
            refs.append(by_address[urn])
        if refs:
            expressions[BLOCK_NAMES.get(terraform_type(resource), {}).get(prop) or snake_case(prop)] = {
                "references": refs
            }
    return expressions, unknown


def export(snapshot: StackSnapshot) -> dict[str, Any]:
    """The Terraform plan JSON of a first deploy of this stack."""
    by_address = addresses(snapshot)
    by_urn = snapshot.by_urn()
    planned, changes, configuration = [], [], []
    # In address order: resources register in an order that varies between runs, and the same stack must always
    # export the same plan.
    for resource in sorted(_exported(snapshot), key=lambda r: by_address[r.urn]):
        tf_type, address = terraform_type(resource), by_address[resource.urn]
        expressions, unknown = _references(resource, by_address, by_urn)
        values = _attributes({k: v for k, v in resource.outputs.items() if k not in unknown}, tf_type)
        common = {"address": address, "mode": "managed", "type": tf_type, "name": resource.name}
        planned.append({**common, "provider_name": "registry.terraform.io/hashicorp/aws", "values": values})
        changes.append(
            {
                **common,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": values,
                    "after_unknown": {snake_case(prop): True for prop in sorted(unknown)},
                },
            }
        )
        configuration.append({**common, "provider_config_key": "aws", "expressions": expressions})
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "variables": {"stack": {"value": snapshot.stack}},
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {
                    "name": "aws",
                    "expressions": {"region": {"constant_value": snapshot.config.get("aws:region")}},
                }
            },
            "root_module": {"resources": configuration},
        },
    }


def stack_plan(stack: str) -> dict[str, Any]:
    """The plan of an example stack (`Pulumi.<stack>.yaml`), evaluated under mocks."""
    return export(evaluate_stack(stack))
