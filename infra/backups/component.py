"""Backups: an AWS Backup vault encrypted with the tenant backups key and locked, a daily and a monthly plan for
every resource of the tenant, and restore tests that prove the backups can be restored.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.backups.config import BackupsConfig
from infra.concerns import terraform_types
from infra.iam import assume_role_policy
from infra.naming import Naming

# The Terraform type of each resource type this component creates, for the checkov export of the stack
# (review/terraform_plan.py refuses a type no concern declares).
TERRAFORM_TYPES = terraform_types(
    "aws:backup/plan:Plan",
    "aws:backup/restoreTestingPlan:RestoreTestingPlan",
    "aws:backup/restoreTestingSelection:RestoreTestingSelection",
    "aws:backup/selection:Selection",
    "aws:backup/vault:Vault",
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
    "aws:iam/role:Role",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
)

DAILY_SCHEDULE = "cron(0 3 * * ? *)"  # 03:00 UTC every day
MONTHLY_SCHEDULE = "cron(0 4 1 * ? *)"  # 04:00 UTC on the first of every month
# 06:00 UTC on the 15th of January, April, July and October: every recovery point type is restored once a quarter,
# well within the policy's "at least every 6 months".
RESTORE_TEST_SCHEDULE = "cron(0 6 15 1/3 ? *)"
START_WINDOW_MINUTES = 60
COMPLETION_WINDOW_MINUTES = 8 * 60
# Retention in months, counted in days so that a month of 31 days is never cut short.
DAYS_PER_MONTH = 31
# Compliance-mode vault locks become immutable after this grace period (the AWS minimum).
COMPLIANCE_LOCK_GRACE_DAYS = 3
# Volumes are what the tenant's instances keep their state in; AWS Backup restores them as new volumes.
RESTORE_TEST_RESOURCE_TYPES = ("EBS",)
RESTORE_VALIDATION_WINDOW_HOURS = 24
BACKUP_ROLE_POLICIES = {
    "backup": "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "restore": "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
}


@dataclass(frozen=True)
class BackupsArgs:
    naming: Naming
    backups_key_arn: pulumi.Input[str]
    config: BackupsConfig


def monthly_retention_days(config: BackupsConfig) -> int:
    return config.monthly_retention_months * DAYS_PER_MONTH


def tenant_tag_conditions(naming: Naming) -> dict[str, str]:
    """Resource tag conditions that select this tenant environment's resources and nothing else."""
    return {f"aws:ResourceTag/{key}": naming.tags[key] for key in ("tenant", "environment")}


def _underscored(name: str) -> str:
    # Restore testing plan and selection names allow letters, digits and underscores only.
    return name.replace("-", "_")


class Backups(pulumi.ComponentResource):
    """Vault (tenant backups key, vault lock), daily and monthly plan, tag selection, quarterly restore tests."""

    vault: aws.backup.Vault
    plan: aws.backup.Plan
    role: aws.iam.Role
    restore_testing_plan: aws.backup.RestoreTestingPlan

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-tenant:backups:Backups", name, None, opts)
        naming, config = args.naming, args.config
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        child = pulumi.ResourceOptions(parent=self)

        self.vault = aws.backup.Vault(
            naming.name("backup-vault"),
            name=naming.name("backup-vault"),
            kms_key_arn=args.backups_key_arn,
            opts=child,
        )
        if config.vault_lock != "none":
            aws.backup.VaultLockConfiguration(
                naming.name("backup-vault-lock"),
                backup_vault_name=self.vault.name,
                min_retention_days=config.daily_retention_days,
                max_retention_days=monthly_retention_days(config),
                # Without a grace period the lock is in governance mode (removable with IAM permission).
                changeable_for_days=COMPLIANCE_LOCK_GRACE_DAYS if config.vault_lock == "compliance" else None,
                opts=pulumi.ResourceOptions(parent=self.vault),
            )

        self.role = aws.iam.Role(
            naming.name("backup"),
            assume_role_policy=account_id.apply(
                lambda account: assume_role_policy(
                    "backup.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account}}
                )
            ),
            opts=child,
        )
        for purpose, policy_arn in BACKUP_ROLE_POLICIES.items():
            aws.iam.RolePolicyAttachment(
                naming.name(f"backup-role-{purpose}"),
                role=self.role.name,
                policy_arn=policy_arn,
                opts=pulumi.ResourceOptions(parent=self.role),
            )

        self.plan = aws.backup.Plan(
            naming.name("backup-plan"),
            name=naming.name("backup-plan"),
            rules=[
                self._rule("daily", DAILY_SCHEDULE, config.daily_retention_days),
                self._rule("monthly", MONTHLY_SCHEDULE, monthly_retention_days(config)),
            ],
            opts=child,
        )
        conditions = tenant_tag_conditions(naming)
        aws.backup.Selection(
            naming.name("backup-selection"),
            name=naming.name("backup-selection"),
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            # Every resource carrying BOTH tenant tags: selection_tags would OR them and pick up the other
            # environments of the tenant; conditions are ANDed.
            resources=["*"],
            conditions=[
                aws.backup.SelectionConditionArgs(
                    string_equals=[
                        aws.backup.SelectionConditionStringEqualArgs(key=key, value=value)
                        for key, value in conditions.items()
                    ]
                )
            ],
            opts=pulumi.ResourceOptions(parent=self.plan),
        )

        self.restore_testing_plan = aws.backup.RestoreTestingPlan(
            naming.name("restore-testing"),
            name=_underscored(naming.name("restore_testing")),
            schedule_expression=RESTORE_TEST_SCHEDULE,
            schedule_expression_timezone="Etc/UTC",
            start_window_hours=24,
            recovery_point_selection=aws.backup.RestoreTestingPlanRecoveryPointSelectionArgs(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[self.vault.arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=config.daily_retention_days,
            ),
            opts=child,
        )
        for resource_type in RESTORE_TEST_RESOURCE_TYPES:
            aws.backup.RestoreTestingSelection(
                naming.name(f"restore-testing-{resource_type.lower()}"),
                name=_underscored(naming.name(f"restore_testing_{resource_type.lower()}")),
                restore_testing_plan_name=self.restore_testing_plan.name,
                protected_resource_type=resource_type,
                iam_role_arn=self.role.arn,
                protected_resource_arns=["*"],
                protected_resource_conditions=aws.backup.RestoreTestingSelectionProtectedResourceConditionsArgs(
                    string_equals=[
                        aws.backup.RestoreTestingSelectionProtectedResourceConditionsStringEqualArgs(
                            key=key, value=value
                        )
                        for key, value in conditions.items()
                    ]
                ),
                validation_window_hours=RESTORE_VALIDATION_WINDOW_HOURS,
                opts=pulumi.ResourceOptions(parent=self.restore_testing_plan),
            )

        self.register_outputs(
            {
                "vaultName": self.vault.name,
                "planId": self.plan.id,
                "restoreTestingPlanName": self.restore_testing_plan.name,
                "restoreTestSchedule": RESTORE_TEST_SCHEDULE,
            }
        )

    def _rule(self, frequency: str, schedule: str, retention_days: int) -> aws.backup.PlanRuleArgs:
        return aws.backup.PlanRuleArgs(
            rule_name=frequency,
            target_vault_name=self.vault.name,
            schedule=schedule,
            schedule_expression_timezone="Etc/UTC",
            start_window=START_WINDOW_MINUTES,
            completion_window=COMPLETION_WINDOW_MINUTES,
            lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=retention_days),
            recovery_point_tags={"backup-frequency": frequency},
        )
