"""The tenant's configuration: read once from Pulumi stack config into one validated model.

Components never call `pulumi.Config`; they receive the parts of `TenantConfig` they need. Every rule here
stops the program before any resource is declared, with a message naming the stack config key and the fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from infra.suricata import (
    Rule,
    RuleError,
    check_tenant_rules,
    engine_problems,
    firewall_rules,
    parse_rules_file,
)

PROJECT = "secure-tenant"

# Regions in EU member states. London (eu-west-2) and Zurich (eu-central-2) are in Europe but not in the EU,
# so they are refused: the policy says EU only.
EU_REGIONS = frozenset({"eu-central-1", "eu-west-1", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1"})

# The only values CloudWatch Logs accepts for retention_in_days.
CLOUDWATCH_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
MIN_LOG_RETENTION_DAYS = 400  # 12 full months, whatever day of the month an audit starts

Tier = Literal["public", "firewall", "private", "data"]
SUBNET_TIERS: tuple[Tier, ...] = ("public", "firewall", "private", "data")
# Each tier gets a quarter of the VPC and each zone a quarter of its tier: 16 equal blocks.
SUBNET_SPLIT_BITS = 4
MAX_ZONES = 3
AWS_MIN_SUBNET_PREFIX = 28

Environment = Literal["prod", "preprod"]


class ConfigError(Exception):
    """A stack config value is wrong; the message names the key and the fix."""


@dataclass(frozen=True)
class Zone:
    """One availability zone of the tenant: its AWS name and the short suffix used in resource names."""

    name: str
    suffix: str
    index: int


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )


def _is_private(network: IPv4Network) -> bool:
    return any(
        network.subnet_of(block)
        for block in map(IPv4Network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    )


# --- EdgeProtection and VpnBastion (issues 5 and 6) ---------------------------------------------------------------

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
_DNS_NAME = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class EdgeConfig(_Model):
    """The tenant's internet-facing web edge: ALB, certificate, WAF, Shield Advanced (stack key `edge`)."""

    domain_name: str | None = None
    hosted_zone_id: str | None = None
    tls_policy: str = DEFAULT_ALB_TLS_POLICY
    app_port: Annotated[int, Field(ge=1, le=65535)] = 443
    health_check_path: str = "/"
    rate_limit: Annotated[int, Field(ge=WAF_RATE_LIMIT_RANGE[0], le=WAF_RATE_LIMIT_RANGE[1])] = 2000
    allowed_countries: tuple[str, ...] = ()
    shield_advanced: bool | None = None

    @field_validator("domain_name")
    @classmethod
    def _domain_name(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not _DNS_NAME.fullmatch(value)):
            raise ValueError(f"{value!r} is not a lowercase DNS name: use e.g. app.example.com")
        return value

    @field_validator("hosted_zone_id")
    @classmethod
    def _hosted_zone_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"Z[A-Z0-9]{1,31}", value):
            raise ValueError(f"{value!r} is not a Route 53 hosted zone id: use e.g. Z0123456789ABCDEFGHIJ")
        return value

    @field_validator("tls_policy")
    @classmethod
    def _tls_policy(cls, value: str) -> str:
        if value not in ALB_TLS_POLICIES:
            raise ValueError(
                f"{value!r} is not an allowed ALB security policy (only TLS 1.3 and 1.2 with strong ciphers may "
                f"be negotiated): use one of {', '.join(ALB_TLS_POLICIES)}"
            )
        return value

    @field_validator("health_check_path")
    @classmethod
    def _health_check_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} is not a URL path: start it with /, e.g. /health")
        return value

    @field_validator("allowed_countries")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code: use e.g. DE, FR, IE")
        if len(set(value)) != len(value):
            raise ValueError("a country is listed twice: list each once")
        return value

    @model_validator(mode="after")
    def _zone_needs_domain(self) -> Self:
        if self.hosted_zone_id is not None and self.domain_name is None:
            raise _KeyError(
                "edge.hostedZoneId",
                "a hosted zone without edge.domainName: set the domain or remove the zone",
            )
        return self


class BastionConfig(_Model):
    """The OpenVPN bastion host(s), the only admin path into the tenant (stack key `bastion`)."""

    instance_type: str = "t3.small"
    ami_id: str | None = None
    per_zone: bool = False
    vpn_port: Annotated[int, Field(ge=1, le=65535)] = 1194
    vpn_protocol: Literal["udp", "tcp"] = "udp"
    key_name: str | None = None
    root_volume_gb: Annotated[int, Field(ge=8, le=1024)] = 16
    data_volume_gb: Annotated[int | None, Field(ge=1, le=16384)] = None

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", value):
            raise ValueError(f"{value!r} is not an EC2 instance type: use e.g. t3.small")
        return value

    @field_validator("ami_id")
    @classmethod
    def _ami_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"ami-([0-9a-f]{8}|[0-9a-f]{17})", value):
            raise ValueError(f"{value!r} is not an AMI id: use e.g. ami-0123456789abcdef0, or leave it unset")
        return value

    @model_validator(mode="after")
    def _vpn_port_is_not_ssh(self) -> Self:
        if self.vpn_protocol == "tcp" and self.vpn_port == 22:
            raise _KeyError("bastion.vpnPort", "TCP 22 is SSH, reachable only through the VPN: use e.g. 443")
        return self


# --- TenantKeys, LogArchive, AuditTrail, Backups (issue 4) ----------------------------------------------------------

_IAM_ROLE_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):role/[\w+=,.@/-]{1,512}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,63}")
MIN_BACKUP_DAILY_RETENTION_DAYS = 35
MIN_BACKUP_MONTHLY_RETENTION_MONTHS = 13


class KeysConfig(_Model):
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


class LogArchiveConfig(_Model):
    """The tenant's log archive bucket (stack key `logArchive`)."""

    object_lock: bool | None = None
    retention_days: Annotated[int, Field(ge=1)] = MIN_LOG_RETENTION_DAYS
    load_balancer_access_logs: bool = False


class AuditConfig(_Model):
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


class BackupsConfig(_Model):
    """AWS Backup vault, plan and restore tests (stack key `backups`)."""

    daily_retention_days: Annotated[int, Field(ge=1)] = MIN_BACKUP_DAILY_RETENTION_DAYS
    monthly_retention_months: Annotated[int, Field(ge=1, le=120)] = MIN_BACKUP_MONTHLY_RETENTION_MONTHS
    vault_lock: Literal["governance", "compliance", "none"] = "governance"


# --- ZoneFirewall (issue 3) ---------------------------------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A lowercase domain name, or `.name` for the name and all its subdomains (the AWS domain list convention).
_EGRESS_DOMAIN = re.compile(r"\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class EgressDomain(_Model):
    """One allowed egress destination: a domain (`.domain` for its subdomains too) and the protocols to it."""

    domain: str
    protocols: tuple[Literal["tls", "http"], ...] = ("tls",)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _EGRESS_DOMAIN.fullmatch(value) or len(value.lstrip(".")) > 253:
            raise ValueError(
                f"{value!r} is not a domain name: use a lowercase name like deb.debian.org, or .example.com for "
                "example.com and all its subdomains (no * wildcards)"
            )
        return value

    @field_validator("protocols")
    @classmethod
    def _protocols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("list tls, http or both, each once")
        return value


class FirewallConfig(_Model):
    """AWS Network Firewall in every zone (stack key `firewall`): egress allow-list and the tenant's own rules."""

    egress_domains: tuple[EgressDomain, ...] = ()
    # A Suricata rules file, relative to the project root, evaluated between the baseline and the allow-list.
    extra_rules_file: str | None = None

    @field_validator("egress_domains")
    @classmethod
    def _each_domain_once(cls, value: tuple[EgressDomain, ...]) -> tuple[EgressDomain, ...]:
        domains = [entry.domain for entry in value]
        twice = sorted({domain for domain in domains if domains.count(domain) > 1})
        if twice:
            raise ValueError(
                f"{', '.join(twice)} listed twice: list each domain once, with all its protocols"
            )
        return value

    @field_validator("extra_rules_file")
    @classmethod
    def _rules_file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = Path(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(
                f"{value} is not inside the project: use a relative path like tenants/acme/firewall.rules"
            )
        if not (PROJECT_ROOT / path).is_file():
            raise ValueError(f"{value} does not exist in {PROJECT_ROOT}: create it or fix the path")
        try:
            rules = parse_rules_file(PROJECT_ROOT / path, value)
            check_tenant_rules(rules, value)
        except RuleError as error:
            raise ValueError(str(error)) from None
        if not rules:
            raise ValueError(f"{value} has no rules: add some or remove extraRulesFile")
        return value

    @cached_property
    def extra_rules(self) -> tuple[tuple[int, Rule], ...]:
        """The tenant's rules with their line numbers (the file was checked when the config was read)."""
        if self.extra_rules_file is None:
            return ()
        return parse_rules_file(PROJECT_ROOT / self.extra_rules_file, self.extra_rules_file)


class TenantConfig(_Model):
    """Everything one tenant environment is built from. Keys are the stack config keys (camelCase)."""

    tenant: Annotated[str, Field(description="short tenant id, lowercase, 2-12 characters")]
    environment: Environment
    region: str
    vpc_cidr: IPv4Network
    zones: Annotated[int, Field(ge=2, le=MAX_ZONES)] = 2
    admin_cidrs: tuple[IPv4Network, ...] = ()
    vpn_client_cidr: IPv4Network = IPv4Network("10.250.0.0/24")
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    exceptions: dict[str, str] = Field(default_factory=dict)
    extra_tags: dict[str, str] = Field(default_factory=dict)
    edge: EdgeConfig = EdgeConfig()
    bastion: BastionConfig = BastionConfig()
    keys: KeysConfig = KeysConfig()
    log_archive: LogArchiveConfig = LogArchiveConfig()
    audit: AuditConfig = AuditConfig()
    backups: BackupsConfig = BackupsConfig()
    firewall: FirewallConfig = FirewallConfig()

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]{1,11}", value):
            raise ValueError(
                f"{value!r} is not a tenant id: use 2-12 lowercase letters and digits, starting with a letter "
                "(it prefixes every resource name, some of which AWS limits to 32 characters)"
            )
        return value

    @field_validator("region")
    @classmethod
    def _eu_region(cls, value: str) -> str:
        if value not in EU_REGIONS:
            raise ValueError(f"{value!r} is not in the EU: use one of {', '.join(sorted(EU_REGIONS))}")
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr(cls, value: IPv4Network) -> IPv4Network:
        if not _is_private(value):
            raise ValueError(f"{value} is not a private (RFC 1918) range: use e.g. 10.20.0.0/16")
        if value.prefixlen < 16:
            raise ValueError(f"{value} is larger than AWS allows for a VPC: use a /16 to /24")
        if value.prefixlen + SUBNET_SPLIT_BITS > AWS_MIN_SUBNET_PREFIX:
            raise ValueError(
                f"{value} cannot hold {len(SUBNET_TIERS)} subnet tiers x {MAX_ZONES} zones "
                f"({1 << SUBNET_SPLIT_BITS} blocks, each at least /{AWS_MIN_SUBNET_PREFIX}): use a /24 or larger, "
                "e.g. 10.20.0.0/16"
            )
        return value

    @field_validator("vpn_client_cidr")
    @classmethod
    def _vpn_client_cidr(cls, value: IPv4Network) -> IPv4Network:
        if not _is_private(value):
            raise ValueError(f"{value} is not a private (RFC 1918) range: use e.g. 10.250.0.0/24")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_a_cloudwatch_value(cls, value: int) -> int:
        if value not in CLOUDWATCH_RETENTION_DAYS:
            allowed = [days for days in CLOUDWATCH_RETENTION_DAYS if days >= MIN_LOG_RETENTION_DAYS]
            raise ValueError(f"{value} is not a CloudWatch Logs retention: use one of {allowed}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        if self.vpn_client_cidr.overlaps(self.vpc_cidr):
            raise _KeyError(
                "vpnClientCidr",
                f"{self.vpn_client_cidr} overlaps vpcCidr {self.vpc_cidr}: pick a range outside it",
            )
        for position, cidr in enumerate(self.admin_cidrs):
            if cidr.prefixlen == 0:
                raise _KeyError(
                    "adminCidrs", "0.0.0.0/0 is not an admin range: leave adminCidrs empty instead"
                )
            for other in (self.vpc_cidr, self.vpn_client_cidr, *self.admin_cidrs[:position]):
                if cidr.overlaps(other):
                    raise _KeyError("adminCidrs", f"{cidr} overlaps {other}: list disjoint ranges")
        if self.log_retention_days < MIN_LOG_RETENTION_DAYS:
            self.require_exception(
                "shortLogRetention",
                f"logRetentionDays {self.log_retention_days} is below {MIN_LOG_RETENTION_DAYS} (12 full months)",
            )
        if self.environment == "prod" and not self.shield_advanced:
            self.require_exception(
                "noShieldAdvanced",
                "edge.shieldAdvanced is off for prod (no DDoS response team, no cost protection)",
            )
        return self

    @model_validator(mode="after")
    def _retention_and_encryption_exceptions(self) -> Self:
        # Issue 4: log archive and backups may only be weakened by a named, justified exception.
        if self.environment == "prod" and not self.log_archive_object_lock:
            self.require_exception(
                "logArchiveWithoutObjectLock",
                "logArchive.objectLock is off for prod (archived logs could be deleted or overwritten)",
            )
        if self.log_archive.retention_days < MIN_LOG_RETENTION_DAYS:
            self.require_exception(
                "shortLogArchiveRetention",
                f"logArchive.retentionDays {self.log_archive.retention_days} is below {MIN_LOG_RETENTION_DAYS} "
                "(12 full months)",
            )
        if self.log_archive.load_balancer_access_logs:
            self.require_exception(
                "loadBalancerLogsSseS3",
                "logArchive.loadBalancerAccessLogs needs a bucket encrypted with S3-managed keys (SSE-S3), "
                "the only encryption ELB access log delivery supports, not a tenant KMS key",
            )
        if self.backups.daily_retention_days < MIN_BACKUP_DAILY_RETENTION_DAYS:
            self.require_exception(
                "shortBackupRetention",
                f"backups.dailyRetentionDays {self.backups.daily_retention_days} is below "
                f"{MIN_BACKUP_DAILY_RETENTION_DAYS}",
            )
        if self.backups.monthly_retention_months < MIN_BACKUP_MONTHLY_RETENTION_MONTHS:
            self.require_exception(
                "shortMonthlyBackupRetention",
                f"backups.monthlyRetentionMonths {self.backups.monthly_retention_months} is below "
                f"{MIN_BACKUP_MONTHLY_RETENTION_MONTHS}",
            )
        if self.backups.vault_lock == "none":
            self.require_exception(
                "backupVaultWithoutLock",
                "backups.vaultLock is none (recovery points could be deleted before their retention ends)",
            )
        return self

    @model_validator(mode="after")
    def _firewall_rules_aws_accepts(self) -> Self:
        # Issue 3: the generated policy must fit AWS's quotas, and the tenant's own rules must load in Suricata.
        try:
            policy = firewall_rules(self)
            problems = [
                problem
                for group in policy.groups
                if group.key == "tenant"
                for problem in engine_problems(
                    group.rules_string,
                    group.ip_sets,
                    [
                        f"{self.firewall.extra_rules_file} line {number}"
                        for number, _ in self.firewall.extra_rules
                    ],
                )
            ]
        except RuleError as error:
            raise _KeyError(f"firewall.{error.key}", str(error)) from None
        except FileNotFoundError as error:
            raise _KeyError("firewall.extraRulesFile", f"cannot check the rules: {error}") from None
        if problems:
            raise _KeyError("firewall.extraRulesFile", "Suricata refuses the rules: " + " | ".join(problems))
        return self

    def require_exception(self, name: str, problem: str) -> None:
        """Refuse a weakening of the baseline unless the stack names it as an exception with a justification."""
        justification = self.exceptions.get(name, "")
        if not justification.strip():
            raise _KeyError(
                "exceptions",
                f"{problem}; fix the value, or set exceptions.{name} to a written justification to accept it",
            )

    @property
    def prefix(self) -> str:
        return f"{self.tenant}-{self.environment}"

    @property
    def shield_advanced(self) -> bool:
        """Shield Advanced in effect: the stack's choice, else on for prod and off for preprod (it is paid)."""
        chosen = self.edge.shield_advanced
        return self.environment == "prod" if chosen is None else chosen

    @property
    def vpc_resolver(self) -> IPv4Address:
        """The VPC's Amazon DNS resolver: the VPC range's base address plus two."""
        return self.vpc_cidr.network_address + 2

    @property
    def log_archive_object_lock(self) -> bool:
        """Object lock on the log archive: the stack's choice, else on for prod and off for preprod."""
        chosen = self.log_archive.object_lock
        return self.environment == "prod" if chosen is None else chosen

    @property
    def availability_zones(self) -> tuple[Zone, ...]:
        # Every EU region has zones a, b and c; names are fixed so a reviewer's preview is deterministic.
        return tuple(
            Zone(f"{self.region}{suffix}", suffix, index) for index, suffix in enumerate("abc"[: self.zones])
        )

    def subnet_cidr(self, tier: Tier, zone: Zone) -> IPv4Network:
        blocks: list[IPv4Network] = list(self.vpc_cidr.subnets(prefixlen_diff=SUBNET_SPLIT_BITS))
        blocks_per_tier = (1 << SUBNET_SPLIT_BITS) // len(SUBNET_TIERS)
        return blocks[SUBNET_TIERS.index(tier) * blocks_per_tier + zone.index]


class _KeyError(ValueError):
    """A cross-field problem that belongs to one specific key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(stack)"
        cause = problem.get("ctx", {}).get("error")
        if isinstance(cause, _KeyError):
            key = cause.key
        message = str(cause) if cause is not None else problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key: remove it or check its spelling"
        elif problem["type"] == "missing":
            message = "missing: set it with `pulumi config set`"
        namespace = "aws" if key == "region" else PROJECT
        lines.append(f"  {namespace}:{key}: {message}")
    return "invalid stack configuration:\n" + "\n".join(lines)


def parse_config(values: dict[str, Any]) -> TenantConfig:
    """Validate raw config values (camelCase keys); raise ConfigError naming each bad key."""
    try:
        return TenantConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def load_config() -> TenantConfig:
    """Read the stack config of the running Pulumi program once."""
    project = pulumi.Config(PROJECT)
    values: dict[str, Any] = {"region": pulumi.Config("aws").get("region")}
    for field_name, field in TenantConfig.model_fields.items():
        key = field.alias or field_name
        if key == "region":
            continue
        raw = project.get(key)
        if raw is None:
            continue
        values[key] = _structured(raw)
    return parse_config({key: value for key, value in values.items() if value is not None})


def _structured(raw: str) -> Any:
    """Pulumi hands structured config values over as JSON text; scalars stay strings for pydantic to coerce."""
    if raw[:1] in "[{":
        return json.loads(raw)
    return raw
