"""The security baseline's numbers and names, in one leaf module (it imports nothing of ours, and no Pulumi).

The stack config, the components, the policy pack and the evidence report read these; none repeats them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

PROJECT = "secure-tenant"  # the Pulumi project: stack config namespace and the `project` tag
Environment = Literal["prod", "preprod"]
# A tenant id: it prefixes every resource name (some of which AWS limits to 32 characters) and names its folder.
TENANT_ID = r"[a-z][a-z0-9]{1,11}"

# Regions in EU member states. London (eu-west-2) and Zurich (eu-central-2) are in Europe but not in the EU,
# so they are refused: the policy says EU only.
EU_REGIONS = frozenset({"eu-central-1", "eu-west-1", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1"})

INTERNET = "0.0.0.0/0"
# The most addresses the admin ranges may cover together without a named exception: a /16, more than an
# office or a VPN egress needs, and 1/65536 of the IPv4 internet.
MAX_ADMIN_PREFIX = 16
MAX_ADMIN_ADDRESSES = 1 << (32 - MAX_ADMIN_PREFIX)

# --- Retention ----------------------------------------------------------------------------------------------------
MIN_LOG_RETENTION_DAYS = 400  # 12 full months, whatever day of the month an audit starts
MIN_BACKUP_DAILY_RETENTION_DAYS = 35
MIN_BACKUP_MONTHLY_RETENTION_MONTHS = 13

# --- TLS ------------------------------------------------------------------------------------------------------------
# ALB security policies that negotiate TLS 1.3 and 1.2 only (or 1.3 only), with their FIPS and hybrid post-quantum
# variants. Left out on purpose: everything allowing TLS 1.0/1.1, the TLS 1.2-only "TLS-1-2-*"/"FS-*" policies and
# the "Ext" variants, which add CBC and non-forward-secret ciphers back.
ALB_TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
)
# TLS 1.3 + 1.2 with forward-secret AEAD ciphers only, and hybrid ML-KEM key exchange for clients that offer it.
DEFAULT_ALB_TLS_POLICY = ALB_TLS_POLICIES[0]

# The WAF range for a rate-based rule's limit (requests per source IP in a 5-minute window).
WAF_RATE_LIMIT_RANGE = (10, 2_000_000_000)

# Who delivers ELB access logs (the pack recognises an access-log bucket by them), per AWS docs "Enable access logs
# for your Application Load Balancer": regions opened before August 2022 grant the regional ELB account; newer
# regions (eu-south-2) the log delivery service principal.
ELB_LOG_ACCOUNTS = {
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-3": "009996457667",
    "eu-south-1": "635631232127",
    "eu-north-1": "897822967062",
}
ELB_LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"

# --- The admin path ---------------------------------------------------------------------------------------------
DEFAULT_VPN_PORT = 1194
VpnProtocol = Literal["udp", "tcp"]
DEFAULT_VPN_PROTOCOL: VpnProtocol = "udp"
HTTPS_PORT, HTTP_PORT = 443, 80  # the ALB listens on both; 80 only answers with a redirect to HTTPS


class ExceptionName(StrEnum):
    """The named exceptions a stack may take to the baseline, each with a written justification."""

    SHORT_LOG_RETENTION = "shortLogRetention"
    NO_SHIELD_ADVANCED = "noShieldAdvanced"
    LOG_ARCHIVE_WITHOUT_OBJECT_LOCK = "logArchiveWithoutObjectLock"
    SHORT_LOG_ARCHIVE_RETENTION = "shortLogArchiveRetention"
    LOAD_BALANCER_LOGS_SSE_S3 = "loadBalancerLogsSseS3"
    SHORT_BACKUP_RETENTION = "shortBackupRetention"
    SHORT_MONTHLY_BACKUP_RETENTION = "shortMonthlyBackupRetention"
    BACKUP_VAULT_WITHOUT_LOCK = "backupVaultWithoutLock"
    WIDE_ADMIN_RANGES = "wideAdminRanges"


# What each exception waives for its stack: exactly the policies of the pack that its setting violates, which turn
# advisory (shown as waived) instead of failing the preview. tests/test_policy.py proves each set on a real stack.
WAIVED_POLICIES: dict[ExceptionName, frozenset[str]] = {
    ExceptionName.SHORT_LOG_RETENTION: frozenset({"log-retention-12-months"}),
    ExceptionName.NO_SHIELD_ADVANCED: frozenset({"shield-on-public-entries-in-prod"}),
    ExceptionName.LOG_ARCHIVE_WITHOUT_OBJECT_LOCK: frozenset({"s3-object-lock-in-prod"}),
    ExceptionName.SHORT_LOG_ARCHIVE_RETENTION: frozenset({"s3-object-lock-in-prod"}),
    # The pack accepts SSE-S3 only on a bucket that is an ELB access-log bucket by effect: nothing to waive, and
    # every other bucket of the stack stays under the customer-managed key policy.
    ExceptionName.LOAD_BALANCER_LOGS_SSE_S3: frozenset(),
    ExceptionName.SHORT_BACKUP_RETENTION: frozenset({"backup-plan-retention", "backup-vault-locked"}),
    ExceptionName.SHORT_MONTHLY_BACKUP_RETENTION: frozenset({"backup-plan-retention"}),
    ExceptionName.BACKUP_VAULT_WITHOUT_LOCK: frozenset({"backup-vault-locked"}),
    # Wide admin ranges are the config's concern (the pack judges what is open to the whole internet).
    ExceptionName.WIDE_ADMIN_RANGES: frozenset(),
}


class RoleWaiver(StrEnum):
    """The role variables that hold a waiver's justification: the role refuses its weakening without one."""

    SHORT_AUDIT_LOG_RETENTION = "audit_logging_retention_exception"
    VPN_WITHOUT_MFA = "openvpn_mfa_waiver"


class Control(StrEnum):
    """Ids of controls.yaml that the code cites (Config rules, firewall rule messages, resource descriptions)."""

    ACC_01 = "ACC-01"
    ACC_03 = "ACC-03"
    ACC_04 = "ACC-04"
    BAK_01 = "BAK-01"
    CRY_01 = "CRY-01"
    CRY_03 = "CRY-03"
    EDGE_01 = "EDGE-01"
    EDGE_02 = "EDGE-02"
    EDGE_03 = "EDGE-03"
    EDGE_04 = "EDGE-04"
    HST_01 = "HST-01"
    LOG_01 = "LOG-01"
    LOG_02 = "LOG-02"
    NET_03 = "NET-03"
    NET_05 = "NET-05"
    NET_06 = "NET-06"


# The control each waivable setting weakens; a control no setting names is mandatory (it cannot be waived).
WAIVABLE_SETTINGS: dict[ExceptionName | RoleWaiver, Control] = {
    ExceptionName.SHORT_LOG_RETENTION: Control.LOG_02,
    ExceptionName.NO_SHIELD_ADVANCED: Control.EDGE_02,
    ExceptionName.LOG_ARCHIVE_WITHOUT_OBJECT_LOCK: Control.LOG_02,
    ExceptionName.SHORT_LOG_ARCHIVE_RETENTION: Control.LOG_02,
    ExceptionName.LOAD_BALANCER_LOGS_SSE_S3: Control.CRY_01,
    ExceptionName.SHORT_BACKUP_RETENTION: Control.BAK_01,
    ExceptionName.SHORT_MONTHLY_BACKUP_RETENTION: Control.BAK_01,
    ExceptionName.BACKUP_VAULT_WITHOUT_LOCK: Control.BAK_01,
    ExceptionName.WIDE_ADMIN_RANGES: Control.ACC_01,
    RoleWaiver.SHORT_AUDIT_LOG_RETENTION: Control.LOG_02,
    RoleWaiver.VPN_WITHOUT_MFA: Control.ACC_03,
}
