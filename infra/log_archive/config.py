"""The log archive's stack config (key `logArchive`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from pydantic import Field

from infra.baseline import MIN_LOG_RETENTION_DAYS, ExceptionName
from infra.model import ConfigModel, Weakening, prod_default, turned_off_in_prod


class LogArchiveConfig(ConfigModel):
    """The tenant's log archive bucket (stack key `logArchive`)."""

    object_lock: bool | None = None
    retention_days: Annotated[int, Field(ge=1)] = MIN_LOG_RETENTION_DAYS
    load_balancer_access_logs: bool = False

    def object_lock_in_effect(self, environment: str) -> bool:
        """Object lock on the log archive: the stack's choice, else on for prod and off for preprod."""
        return prod_default(self.object_lock, environment)

    def weakenings(self, environment: str) -> Iterator[Weakening]:
        """What this config weakens in the baseline, each with the exception that must justify it."""
        yield from turned_off_in_prod(
            self.object_lock,
            environment,
            ExceptionName.LOG_ARCHIVE_WITHOUT_OBJECT_LOCK,
            "logArchive.objectLock is off for prod (archived logs could be deleted or overwritten)",
        )
        if self.retention_days < MIN_LOG_RETENTION_DAYS:
            yield Weakening(
                ExceptionName.SHORT_LOG_ARCHIVE_RETENTION,
                f"logArchive.retentionDays {self.retention_days} is below {MIN_LOG_RETENTION_DAYS} "
                "(12 full months)",
            )
        if self.load_balancer_access_logs:
            yield Weakening(
                ExceptionName.LOAD_BALANCER_LOGS_SSE_S3,
                "logArchive.loadBalancerAccessLogs needs a bucket encrypted with S3-managed keys (SSE-S3), "
                "the only encryption ELB access log delivery supports, not a tenant KMS key",
            )
