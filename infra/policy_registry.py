"""How a policy joins the pack: `resource_policy`/`stack_policy` register a check in `POLICIES`, each concern's
infra/<concern>/policies.py with its own, and make sure no input can crash it: a malformed value is a violation
naming the property."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, cast

from infra.policy_view import Malformed, StackView

ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]
StackCheck = Callable[[StackView], list[str]]


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    control: str
    check: ResourceCheck | StackCheck
    stack: bool = False
    config_schema: Mapping[str, Mapping[str, Any]] | None = None


POLICIES: list[PolicySpec] = []


def _never_crash(name: str, check: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """A malformed value becomes a violation with its message; no input may stop the whole pack."""

    @wraps(check)
    def guarded(*args: Any) -> list[str]:
        try:
            return check(*args)
        except Malformed as error:
            return [f"malformed value: {error}"]
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
            return [f"malformed value ({name} could not read it): {type(error).__name__}: {error}"]

    return guarded


def resource_policy(name: str, control: str) -> Callable[[ResourceCheck], ResourceCheck]:
    def register(check: ResourceCheck) -> ResourceCheck:
        guarded = cast(ResourceCheck, _never_crash(name, check))
        POLICIES.append(PolicySpec(name, (check.__doc__ or name).strip(), control, guarded))
        return guarded

    return register


def stack_policy(
    name: str, control: str, config_schema: Mapping[str, Mapping[str, Any]] | None = None
) -> Callable[[StackCheck], StackCheck]:
    def register(check: StackCheck) -> StackCheck:
        guarded = cast(StackCheck, _never_crash(name, check))
        POLICIES.append(
            PolicySpec(name, (check.__doc__ or name).strip(), control, guarded, True, config_schema)
        )
        return guarded

    return register
