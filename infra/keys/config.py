"""The keys' stack config (key `keys`): who administers the tenant's KMS keys, and whether their material is
imported (BYOK)."""

from __future__ import annotations

import re

from pydantic import field_validator

from infra.model import ConfigModel

_IAM_ROLE_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):role/[\w+=,.@/-]{1,512}")


class KeysConfig(ConfigModel):
    """The tenant's KMS keys (stack key `keys`): who administers them and whether their material is imported."""

    admin_role_arns: tuple[str, ...] = ()
    byok: bool = False

    @field_validator("admin_role_arns")
    @classmethod
    def _admin_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        accounts = set()
        for arn in value:
            match = _IAM_ROLE_ARN.fullmatch(arn)
            if match is None:
                raise ValueError(
                    f"{arn!r} is not an IAM role ARN: use arn:aws:iam::<12-digit account>:role/<name>"
                )
            accounts.add(match["account"])
        if len(accounts) > 1:
            raise ValueError(
                f"roles of several accounts ({', '.join(sorted(accounts))}): list roles of the tenant's account only"
            )
        if len(set(value)) != len(value):
            raise ValueError("a role is listed twice: list each once")
        return value
