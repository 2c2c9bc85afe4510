"""What the tests of the stack share: a valid config, the refusal it gives when changed, names in a stack."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, parse_config
from infra.naming import tenant_prefix
from review.offline import DeclaredResource, StackSnapshot

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
