"""The backups' stack config (key `backups`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from infra.baseline import MIN_BACKUP_DAILY_RETENTION_DAYS, MIN_BACKUP_MONTHLY_RETENTION_MONTHS, ExceptionName
from infra.model import ConfigModel, Weakening


class BackupsConfig(ConfigModel):
    """AWS Backup vault, plan and restore tests (stack key `backups`)."""

    daily_retention_days: Annotated[int, Field(ge=1)] = MIN_BACKUP_DAILY_RETENTION_DAYS
    monthly_retention_months: Annotated[int, Field(ge=1, le=120)] = MIN_BACKUP_MONTHLY_RETENTION_MONTHS
    vault_lock: Literal["governance", "compliance", "none"] = "governance"

    def weakenings(self) -> Iterator[Weakening]:
        """What this config weakens in the baseline, each with the exception that must justify it."""
        if self.daily_retention_days < MIN_BACKUP_DAILY_RETENTION_DAYS:
            yield Weakening(
                ExceptionName.SHORT_BACKUP_RETENTION,
                f"backups.dailyRetentionDays {self.daily_retention_days} is below "
                f"{MIN_BACKUP_DAILY_RETENTION_DAYS}",
            )
        if self.monthly_retention_months < MIN_BACKUP_MONTHLY_RETENTION_MONTHS:
            yield Weakening(
                ExceptionName.SHORT_MONTHLY_BACKUP_RETENTION,
                f"backups.monthlyRetentionMonths {self.monthly_retention_months} is below "
                f"{MIN_BACKUP_MONTHLY_RETENTION_MONTHS}",
            )
        if self.vault_lock == "none":
            yield Weakening(
                ExceptionName.BACKUP_VAULT_WITHOUT_LOCK,
                "backups.vaultLock is none (recovery points could be deleted before their retention ends)",
            )
