"""IAM policy documents the components share: who may assume a role, and what one AWS service may do."""

from __future__ import annotations

import json
from typing import Any


def assume_role_policy(service: str, condition: dict[str, Any] | None = None) -> str:
    """A trust policy letting one AWS service assume a role (optionally only for this account's resources)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def service_allow(
    sid: str, service: str, actions: str | list[str], resource: str, condition: dict[str, Any]
) -> dict[str, Any]:
    """A resource-policy statement allowing one AWS service these actions, only under `condition`."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": actions,
        "Resource": resource,
        "Condition": condition,
    }
