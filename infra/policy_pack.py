"""The security baseline as CrossGuard policies: every concern's policies, wrapped for the pulumi-policy SDK.

Each concern package registers its own policies (infra/<concern>/policies.py, with `resource_policy` and
`stack_policy` of infra/policy_registry.py); `all_policies` finds every concern's (infra/concerns.py walks the
packages, no list to keep) and `sdk_policies` wraps each for the SDK. The same objects serve
`pulumi preview --policy-pack policy` (policy/__main__.py) and review/pack_runner.py.
"""

from __future__ import annotations

from collections.abc import Callable
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

from infra.concerns import concern_modules
from infra.policy_registry import POLICIES, PolicySpec, ResourceCheck, StackCheck
from infra.policy_view import StackResource, StackView


def all_policies() -> list[PolicySpec]:
    """Every policy of the pack: each concern's `policies` module registers its own when it is imported."""
    concern_modules("policies")
    return list(POLICIES)


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
    for spec in all_policies():
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
