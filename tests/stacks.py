"""What the tests of the stack share: a valid config, the refusal it gives when changed, names in a stack."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from infra import waivers
from infra.baseline import WAIVABLE_SETTINGS, ExceptionName, RoleWaiver
from infra.config import ConfigError, parse_config
from infra.naming import tenant_prefix
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack

# A valid prod stack config, the smallest the program accepts: everything else takes its default.
VALID: dict[str, Any] = {
    "tenant": "acme",
    "environment": "prod",
    "region": "eu-west-1",
    "vpcCidr": "10.20.0.0/16",
    "zones": 3,
}


def config_error(**changes: Any) -> str:
    """The refusal of VALID with these keys changed (the test fails if the config is accepted)."""
    with pytest.raises(ConfigError) as raised:
        parse_config({**VALID, **changes})
    return str(raised.value)


def prefix(stack: StackSnapshot) -> str:
    return tenant_prefix(stack.outputs["tenant"], stack.outputs["environment"])


def named(stack: StackSnapshot, purpose: str, zone: str | None = None) -> DeclaredResource:
    """The resource named `<tenant>-<env>-<purpose>[-<zone suffix>]`, for a zone given by its AWS name."""
    return stack.named(f"{prefix(stack)}-{purpose}" + (f"-{zone[-1]}" if zone else ""))


def waiver(
    setting: str, justification: str, environments: tuple[str, ...] = ("prod", "preprod")
) -> dict[str, Any]:
    """A waiver entry of a waiver file, approved now for 90 days, naming the control its setting weakens."""
    name: ExceptionName | RoleWaiver = (
        ExceptionName(setting) if setting in set(ExceptionName) else RoleWaiver(setting)
    )
    return {
        "control": str(WAIVABLE_SETTINGS[name]),
        "setting": setting,
        "environments": list(environments),
        "justification": justification,
        "approved_by": "Dana Ruiz, CISO",
        "expires": date.today() + timedelta(days=90),
    }


def write_waivers(tenants: Path, *entries: Mapping[str, Any], tenant: str = "acme") -> Path:
    """tenants/<tenant>/waivers.yaml holding these waivers, in a tenants folder of the test's own."""
    path = tenants / tenant / waivers.WAIVERS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"waivers": [dict(entry) for entry in entries]}))
    return path


def own_waivers(tenant: str = "acme") -> list[dict[str, Any]]:
    """The waiver entries of the tenant's own waiver file (tenants/<tenant>/waivers.yaml), as written there."""
    return [entry.model_dump(mode="json") for entry in waivers.load_waivers(tenant).waivers]


@contextmanager
def waived(exceptions: Mapping[str, str], *, own: bool = True) -> Iterator[Path]:
    """The example tenant's waiver file with these exceptions (setting: justification), in a folder of its own.

    They come on top of the tenant's own waivers, replacing those of the same settings; own=False drops them all.
    """
    kept = [entry for entry in own_waivers() if entry["setting"] not in exceptions] if own else []
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(waivers, "TENANTS", Path(folder)):
        write_waivers(Path(folder), *kept, *(waiver(name, why) for name, why in exceptions.items()))
        yield Path(folder)


def approved(exceptions: Mapping[str, str], environment: str) -> dict[str, str]:
    """The exceptions the stack of this environment exports from the waiver file `waived` writes: the tenant's own
    and these, with approver and expiry."""
    return {
        **{
            entry.setting: entry.statement
            for entry in waivers.load_waivers("acme").for_environment(environment)
            if entry.setting not in exceptions
        },
        **{
            name: waivers.Waiver.model_validate(waiver(name, why)).statement
            for name, why in exceptions.items()
        },
    }


def evaluate_waived(
    stack: str, overrides: Mapping[str, Any], exceptions: Mapping[str, str], *, own: bool = True
) -> StackSnapshot:
    """An example stack with some config changed and these exceptions waived in its tenant's waiver file (see
    `waived` for own)."""
    with waived(exceptions, own=own):
        return evaluate_stack(stack, overrides)
