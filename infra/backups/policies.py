"""Backups' policies: vaults locked and encrypted with a key of this stack, plans keep 35 days and 13 months,
restores tested at least every 6 months."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from infra.baseline import (
    MIN_BACKUP_DAILY_RETENTION_DAYS,
    MIN_BACKUP_MONTHLY_RETENTION_MONTHS,
)
from infra.keys.policies import encryption_policy, prop_key
from infra.policy_registry import resource_policy, stack_policy
from infra.policy_view import VAULT, Malformed, StackView, dig, mapping_list, to_number

# Months of the longest backup rule, counted as the backup plan counts them (31 days a month).
MIN_BACKUP_LONGEST_DAYS = MIN_BACKUP_MONTHLY_RETENTION_MONTHS * 31
# A restore test at least every 6 months (BAK-01).
MAX_RESTORE_TEST_MONTHS = 6


backup_vaults_encrypted = encryption_policy(
    "backup-vaults-encrypted-with-stack-key",
    "Every backup vault is encrypted with a key of this stack.",
    (VAULT,),
    prop_key("kmsKeyArn"),
)


# --- backups ----------------------------------------------------------------------------------------------------


@stack_policy("backup-vault-locked", "BAK-01")
def backup_vault_locked(stack: StackView) -> list[str]:
    """Every backup vault is locked: recovery points cannot be deleted before the minimum retention."""
    locks = stack.of("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    problems = []
    for vault in stack.of(VAULT):
        mine = [lock for lock in locks if stack.refers(lock, "backupVaultName", vault)]
        if not mine:
            problems.append(f"backup vault {vault.name} is not locked")
        for lock in mine:
            minimum = to_number(lock.props.get("minRetentionDays"), "minRetentionDays", 0)
            if minimum < MIN_BACKUP_DAILY_RETENTION_DAYS:
                problems.append(
                    f"backup vault {vault.name} lock keeps {minimum:g} days, below {MIN_BACKUP_DAILY_RETENTION_DAYS}"
                )
    return problems


@resource_policy("backup-plan-retention", "BAK-01")
def backup_plan_retention(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Backup plans keep every recovery point 35 days and the longest-kept ones 13 months."""
    if resource_type != "aws:backup/plan:Plan":
        return []
    rules = mapping_list(props.get("rules"), "rules")
    kept = [
        to_number(dig(rule, "lifecycle", "deleteAfter"), "lifecycle.deleteAfter", float("inf"))
        for rule in rules
    ]
    problems = []
    if not kept:
        problems.append("backup plan has no rule")
    elif min(kept) < MIN_BACKUP_DAILY_RETENTION_DAYS:
        problems.append(
            f"a rule keeps recovery points {min(kept):g} days, below {MIN_BACKUP_DAILY_RETENTION_DAYS}"
        )
    if kept and max(kept) < MIN_BACKUP_LONGEST_DAYS:
        problems.append(f"no rule keeps recovery points {MIN_BACKUP_LONGEST_DAYS} days (13 months)")
    return problems


def _months_between_runs(expression: Any) -> float:
    """The longest gap, in months, between runs of an AWS schedule expression (cron or rate)."""
    if not isinstance(expression, str):
        raise Malformed(f"schedule {expression!r} is not a schedule expression")
    rate = re.fullmatch(r"rate\((\d+) (day|days|hour|hours|minute|minutes)\)", expression.strip())
    if rate:
        per_day = {"day": 1, "hour": 24, "minute": 1440}[rate[2].rstrip("s")]
        return int(rate[1]) / per_day / 30
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression.strip())
    if not cron:
        raise Malformed(f"schedule {expression!r} is not cron(...) or rate(...)")
    months = cron[4]
    if months == "*":
        return 1
    step = re.fullmatch(r"(\d+|\*)/(\d+)", months)
    if step:
        return float(step[2])
    values = sorted({int(m) for m in months.split(",") if m.isdigit()})
    if not values:
        raise Malformed(f"schedule {expression!r} has a month field this pack cannot read")
    return max((b - a) % 12 or 12 for a, b in zip(values, [*values[1:], values[0]], strict=True))


@stack_policy("backup-restore-tested", "BAK-01")
def backup_restore_tested(stack: StackView) -> list[str]:
    """Restores are tested at least every 6 months, from a vault of this stack."""
    plans = stack.of("aws:backup/restoreTestingPlan:RestoreTestingPlan")
    if stack.of(VAULT) and not plans:
        return ["backups are never test-restored: add a restore testing plan"]
    problems = []
    for plan in plans:
        gap = _months_between_runs(plan.props.get("scheduleExpression"))
        if gap > MAX_RESTORE_TEST_MONTHS:
            problems.append(f"restore testing plan {plan.name} runs every {gap:g} months, more than 6")
        vaults = dig(plan.props, "recoveryPointSelection", "includeVaults")
        if not any(t.type == VAULT for t in stack.targets(plan, "recoveryPointSelection", vaults)):
            problems.append(f"restore testing plan {plan.name} tests no backup vault of this stack")
    return problems
