"""Shared fixtures: the example stacks evaluated once per session, offline, through the real program."""

from __future__ import annotations

import pytest

from review.offline import StackSnapshot, evaluate_stack


@pytest.fixture(scope="session")
def prod_stack() -> StackSnapshot:
    """acme-prod: three zones in eu-west-1."""
    return evaluate_stack("acme-prod")


@pytest.fixture(scope="session")
def preprod_stack() -> StackSnapshot:
    """acme-preprod: two zones in eu-central-1."""
    return evaluate_stack("acme-preprod")


@pytest.fixture(scope="session", params=["acme-preprod", "acme-prod"], ids=["2-zones", "3-zones"])
def example_stack(
    request: pytest.FixtureRequest, prod_stack: StackSnapshot, preprod_stack: StackSnapshot
) -> StackSnapshot:
    """Each example stack in turn: every structural property must hold for 2 and for 3 zones."""
    return prod_stack if request.param == "acme-prod" else preprod_stack
