"""Backups, evaluated through the real program under mocks: locked vault, plan, tag selection, restore tests."""

from __future__ import annotations

import json
import re

import pytest

from infra.config import ConfigError
from infra.fakes import MOCK_ACCOUNT_ID
from review.offline import StackSnapshot, evaluate_stack
from tests.stacks import approved, evaluate_waived, named

MAX_MONTHS_BETWEEN_RESTORE_TESTS = 6


def cron_fields(expression: str) -> list[str]:
    """The six fields of an AWS cron expression: minutes hours day-of-month month day-of-week year."""
    match = re.fullmatch(r"cron\((.+)\)", expression)
    assert match, f"{expression} is not a cron expression"
    fields = match[1].split()
    assert len(fields) == 6
    return fields


def months_run(month_field: str) -> list[int]:
    """The months (1-12) an AWS cron month field fires in: *, N, a-b, */n, a/n and lists of these."""
    months: set[int] = set()
    for part in month_field.split(","):
        base, _, step = part.partition("/")
        first, last = (1, 12) if base == "*" else (int(base.split("-")[0]), int(base.split("-")[-1]))
        if step and "-" not in base:
            last = 12
        months.update(range(first, last + 1, int(step or 1)))
    return sorted(months)


def longest_gap_in_months(months: list[int]) -> int:
    """The longest wait between two runs, wrapping around the year end."""
    return max((later - earlier) % 12 or 12 for earlier, later in zip(months, [*months[1:], months[0]]))


@pytest.mark.parametrize(
    ("field", "gap"), [("*", 1), ("1/3", 3), ("*/6", 6), ("3", 12), ("1,7", 6), ("2,3,11", 8), ("1-2", 11)]
)
def test_the_month_field_reader_measures_gaps(field: str, gap: int) -> None:
    assert longest_gap_in_months(months_run(field)) == gap


def test_the_vault_is_encrypted_with_the_backups_key(example_stack: StackSnapshot) -> None:
    vault = named(example_stack, "backup-vault")
    assert vault.inputs["kmsKeyArn"] == named(example_stack, "backups-key").outputs["arn"]
    assert example_stack.outputs["backupVault"] == vault.inputs["name"]


def test_the_vault_is_locked_for_at_least_the_daily_retention(example_stack: StackSnapshot) -> None:
    lock = named(example_stack, "backup-vault-lock")
    assert lock.inputs["backupVaultName"] == named(example_stack, "backup-vault").outputs["name"]
    assert lock.inputs["minRetentionDays"] >= 35
    assert lock.inputs["maxRetentionDays"] >= 13 * 30
    assert "changeableForDays" not in lock.inputs, "governance mode by default"


def test_compliance_lock_becomes_immutable_after_its_grace_period() -> None:
    stack = evaluate_stack("acme-preprod", {"secure-tenant:backups": {"vaultLock": "compliance"}})
    assert named(stack, "backup-vault-lock").inputs["changeableForDays"] == 3


def test_daily_backups_are_kept_35_days_and_monthly_ones_13_months(example_stack: StackSnapshot) -> None:
    plan = named(example_stack, "backup-plan")
    vault = named(example_stack, "backup-vault")
    rules = {rule["ruleName"]: rule for rule in plan.inputs["rules"]}
    assert set(rules) == {"daily", "monthly"}
    daily, monthly = cron_fields(rules["daily"]["schedule"]), cron_fields(rules["monthly"]["schedule"])
    assert daily[2:5] == ["*", "*", "?"], "every day"
    assert monthly[2] == "1" and monthly[3] == "*", "first of every month"
    assert rules["daily"]["lifecycle"]["deleteAfter"] == 35
    assert rules["monthly"]["lifecycle"]["deleteAfter"] >= 13 * 31
    assert all(rule["targetVaultName"] == vault.outputs["name"] for rule in rules.values())


def test_every_resource_of_this_tenant_environment_is_selected_and_nothing_else(
    example_stack: StackSnapshot,
) -> None:
    selection = named(example_stack, "backup-selection")
    assert selection.inputs["planId"] == named(example_stack, "backup-plan").outputs["id"]
    assert selection.inputs["iamRoleArn"] == named(example_stack, "backup").outputs["arn"]
    assert selection.inputs["resources"] == ["*"]
    assert "selectionTags" not in selection.inputs, "selection tags are ORed: another environment would match"
    (condition,) = selection.inputs["conditions"]
    assert {(c["key"], c["value"]) for c in condition["stringEquals"]} == {
        ("aws:ResourceTag/tenant", example_stack.outputs["tenant"]),
        ("aws:ResourceTag/environment", example_stack.outputs["environment"]),
    }


def test_the_backup_role_is_for_this_accounts_backup_service_with_the_managed_policies(
    example_stack: StackSnapshot,
) -> None:
    role = named(example_stack, "backup")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": MOCK_ACCOUNT_ID}}
    attached = {
        a.inputs["policyArn"]
        for a in example_stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == role.outputs["name"]
    }
    assert attached == {
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    }


def test_restore_tests_run_at_least_every_six_months_from_the_tenant_vault(
    example_stack: StackSnapshot,
) -> None:
    plan = named(example_stack, "restore-testing")
    month_field = cron_fields(plan.inputs["scheduleExpression"])[3]
    assert longest_gap_in_months(months_run(month_field)) <= MAX_MONTHS_BETWEEN_RESTORE_TESTS
    assert re.fullmatch(r"[A-Za-z0-9_]{1,50}", plan.inputs["name"]), "AWS allows letters, digits, _ only"
    selection = plan.inputs["recoveryPointSelection"]
    assert selection["includeVaults"] == [named(example_stack, "backup-vault").outputs["arn"]]
    assert selection["algorithm"] == "LATEST_WITHIN_WINDOW"


def test_restore_tests_restore_this_tenant_environments_volumes(example_stack: StackSnapshot) -> None:
    plan = named(example_stack, "restore-testing")
    (selection,) = example_stack.of_type("aws:backup/restoreTestingSelection:RestoreTestingSelection")
    assert selection.inputs["restoreTestingPlanName"] == plan.outputs["name"]
    assert selection.inputs["protectedResourceType"] == "EBS"
    assert selection.inputs["iamRoleArn"] == named(example_stack, "backup").outputs["arn"]
    conditions = selection.inputs["protectedResourceConditions"]["stringEquals"]
    assert {(c["key"], c["value"]) for c in conditions} == {
        ("aws:ResourceTag/tenant", example_stack.outputs["tenant"]),
        ("aws:ResourceTag/environment", example_stack.outputs["environment"]),
    }


@pytest.mark.parametrize(
    ("backups", "exception", "problem"),
    [
        ({"dailyRetentionDays": 14}, "shortBackupRetention", "backups.dailyRetentionDays 14 is below 35"),
        ({"monthlyRetentionMonths": 6}, "shortMonthlyBackupRetention", "backups.monthlyRetentionMonths 6"),
        ({"vaultLock": "none"}, "backupVaultWithoutLock", "backups.vaultLock is none"),
    ],
)
def test_weakened_backups_are_refused_without_a_named_exception(
    backups: dict[str, object], exception: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate_stack("acme-preprod", {"secure-tenant:backups": backups})
    assert problem in str(raised.value) and f"waive {exception} " in str(raised.value)


def test_weakened_backups_are_built_and_shown_with_their_exception() -> None:
    exceptions = {
        "shortBackupRetention": "preprod data is synthetic and rebuilt weekly",
        "backupVaultWithoutLock": "preprod vault is emptied by the weekly rebuild",
    }
    stack = evaluate_waived(
        "acme-preprod", {"secure-tenant:backups": {"dailyRetentionDays": 14, "vaultLock": "none"}}, exceptions
    )
    rules = {rule["ruleName"]: rule for rule in named(stack, "backup-plan").inputs["rules"]}
    assert rules["daily"]["lifecycle"]["deleteAfter"] == 14
    assert not stack.of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    assert stack.outputs["exceptions"] == approved(exceptions, "preprod")
