"""Apply the policy pack offline to the resources of a stack evaluated under mocks.

The pack's own SDK policy objects (every concern's policies, as infra/policy_pack.py finds them) are called, with
the engine's argument types, on every declared resource (resource policies see its inputs, as in a preview) and
on the whole stack (stack policies see resolved values and property dependencies). Enforcement levels come from a config in the format of
`pulumi preview --policy-pack-config`: {"all": "mandatory", "<policy>": "advisory" | {"enforcementLevel": ...}}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from infra.baseline import WAIVED_POLICIES, ExceptionName
from infra.policy_pack import all_policies, sdk_policies
from review.offline import DeclaredResource, StackSnapshot
from review.verdict import Violation


def enforcement_levels(config: Mapping[str, Any] | None) -> dict[str, str]:
    config = dict(config or {})
    default = str(config.get("all", "mandatory"))
    levels = {}
    for spec in all_policies():
        value = config.get(spec.name, default)
        level = value.get("enforcementLevel", default) if isinstance(value, Mapping) else value
        if level not in ("mandatory", "advisory", "disabled"):
            raise ValueError(f"policy config {spec.name}: {level!r} is not mandatory, advisory or disabled")
        levels[spec.name] = str(level)
    return levels


def _policy_settings(config: Mapping[str, Any] | None, policy: str) -> dict[str, Any]:
    value = (config or {}).get(policy)
    return {k: v for k, v in value.items() if k != "enforcementLevel"} if isinstance(value, Mapping) else {}


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def _policy_resource(resource: DeclaredResource, index: dict[str, PolicyResource]) -> PolicyResource:
    return PolicyResource(
        resource.type,
        resource.outputs,
        resource.urn,
        resource.name,
        _options(),
        None,
        None,
        [],
        {
            prop: [index[urn] for urn in urns if urn in index]
            for prop, urns in resource.property_dependencies.items()
        },
    )


def waived_policies(exceptions: Mapping[str, str]) -> dict[str, str]:
    """Each policy a stack's justified exceptions waive, with the exception that waives it."""
    return {policy: name for name in sorted(exceptions) for policy in WAIVED_POLICIES[ExceptionName(name)]}


def policy_pack_config(exceptions: Mapping[str, str]) -> dict[str, str]:
    """The `--policy-pack-config` of a stack: everything mandatory but what its exceptions waive."""
    return {"all": "mandatory", **{policy: "advisory" for policy in waived_policies(exceptions)}}


def run_pack(snapshot: StackSnapshot, config: Mapping[str, Any] | None = None) -> list[Violation]:
    """The pack's verdicts; without an explicit config, the stack's own (its exceptions waive their policies)."""
    waived = waived_policies(snapshot.exceptions)
    control_of = {spec.name: spec.control for spec in all_policies()}
    levels = enforcement_levels(config if config is not None else policy_pack_config(snapshot.exceptions))
    violations: list[Violation] = []
    custom = [r for r in snapshot.resources if r.custom]
    index: dict[str, PolicyResource] = {}
    for resource in custom:
        index[resource.urn] = _policy_resource(resource, index)
    # A second pass so that dependencies on resources declared later resolve too.
    stack_resources = [_policy_resource(resource, index) for resource in custom]

    for policy in sdk_policies(EnforcementLevel.MANDATORY):
        level = levels[policy.name]
        if level == "disabled":
            continue

        def report(
            message: str, urn: str | None = None, *, _name: str = policy.name, _level: str = level
        ) -> None:
            name = next((r.name for r in custom if r.urn == urn), "stack") if urn else "stack"
            waiver = waived.get(_name, "") if _level == "advisory" else ""
            violations.append(Violation(_name, control_of[_name], _level, name, message, waiver))

        # A policy's own settings (e.g. trustedKeyArns), as the CLI hands them from --policy-pack-config.
        settings = _policy_settings(config, policy.name)
        if isinstance(policy, ResourceValidationPolicy):
            for resource in custom:
                args = ResourceValidationArgs(
                    resource.type, resource.inputs, resource.urn, resource.name, _options(), None, settings
                )
                for validate in policy.validate if isinstance(policy.validate, list) else [policy.validate]:
                    validate(args, report)
        else:
            policy.validate(StackValidationArgs(stack_resources, settings), report)
    return violations


def mandatory(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.enforcement == "mandatory"]
