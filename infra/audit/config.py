"""The audit trail's stack config (key `audit`)."""

from __future__ import annotations

import re

from pydantic import field_validator

from infra.model import ConfigModel

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,63}")


class AuditConfig(ConfigModel):
    """CloudTrail, GuardDuty, Security Hub, Config and the findings topic (stack key `audit`)."""

    alert_emails: tuple[str, ...] = ()
    # Off only in a region where GuardDuty Runtime Monitoring is not offered.
    guardduty_runtime_monitoring: bool = True

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for email in value:
            if not _EMAIL.fullmatch(email):
                raise ValueError(f"{email!r} is not an email address: use e.g. security@example.com")
        return value
