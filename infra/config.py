"""The tenant's configuration: read once from Pulumi stack config into one validated model.

Components never call `pulumi.Config`; they receive the parts of `TenantConfig` they need. Each concern's keys
and rules live in its package (`infra/<concern>/config.py`); this module composes them, reads the stack config
and formats errors. Every rule stops the program before any resource is declared, with a message naming the
stack config key and the fix.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Self, get_args

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator, model_validator

from infra.audit.config import AuditConfig
from infra.backups.config import BackupsConfig
from infra.baseline import (
    EU_REGIONS,
    MIN_LOG_RETENTION_DAYS,
    PROJECT,
    TENANT_ID,
    WAIVABLE_SETTINGS,
    Environment,
    ExceptionName,
)
from infra.bastion.config import BastionConfig
from infra.edge.config import EdgeConfig
from infra.firewall.config import FirewallConfig, checked_policy
from infra.firewall.rules import FirewallPolicyRules
from infra.keys.config import KeysConfig
from infra.log_archive.config import LogArchiveConfig
from infra.model import ConfigKeyError, ConfigModel, Weakening
from infra.naming import tenant_prefix
from infra.network.config import (
    DEFAULT_VPN_CLIENT_CIDR,
    MAX_ZONES,
    Tier,
    Zone,
    admin_weakenings,
    availability_zones,
    check_ranges,
    check_vpc_cidr,
    check_vpn_client_cidr,
    subnet_cidr,
)
from infra.waivers import WAIVERS_FILE, WaiverError, statements, waiver_file, waivers_in_force

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
# Fields of the model that are no `secure-tenant:` stack key: the region is aws:region, and the exceptions come
# from the tenant's waiver file.
NOT_STACK_KEYS = frozenset({"region", "exceptions"})


class ConfigError(Exception):
    """A stack config value is wrong; the message names the key and the fix."""


class TenantConfig(ConfigModel):
    """Everything one tenant environment is built from. Keys are the stack config keys (camelCase)."""

    tenant: Annotated[str, Field(description="short tenant id, lowercase, 2-12 characters")]
    environment: Environment
    region: str
    vpc_cidr: IPv4Network
    zones: Annotated[int, Field(ge=2, le=MAX_ZONES)] = 2
    admin_cidrs: tuple[IPv4Network, ...] = ()
    vpn_client_cidr: IPv4Network = DEFAULT_VPN_CLIENT_CIDR
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    # From the tenant's waiver file (infra/waivers.py), never from the stack file: one place for every waiver.
    exceptions: dict[str, str] = Field(default_factory=dict)
    extra_tags: dict[str, str] = Field(default_factory=dict)
    edge: EdgeConfig = EdgeConfig()
    bastion: BastionConfig = BastionConfig()
    keys: KeysConfig = KeysConfig()
    log_archive: LogArchiveConfig = LogArchiveConfig()
    audit: AuditConfig = AuditConfig()
    backups: BackupsConfig = BackupsConfig()
    firewall: FirewallConfig = FirewallConfig()
    _firewall_policy: FirewallPolicyRules | None = PrivateAttr(default=None)

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, value: str) -> str:
        if not re.fullmatch(TENANT_ID, value):
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
        return check_vpc_cidr(value)

    @field_validator("vpn_client_cidr")
    @classmethod
    def _vpn_client_cidr(cls, value: IPv4Network) -> IPv4Network:
        return check_vpn_client_cidr(value)

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_a_cloudwatch_value(cls, value: int) -> int:
        if value not in CLOUDWATCH_RETENTION_DAYS:
            allowed = [days for days in CLOUDWATCH_RETENTION_DAYS if days >= MIN_LOG_RETENTION_DAYS]
            raise ValueError(f"{value} is not a CloudWatch Logs retention: use one of {allowed}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        check_ranges(self.vpc_cidr, self.vpn_client_cidr, self.admin_cidrs)
        short_logs = (
            f"logRetentionDays {self.log_retention_days} is below {MIN_LOG_RETENTION_DAYS} (12 full months)"
        )
        for weakening in (
            *(
                [Weakening(ExceptionName.SHORT_LOG_RETENTION, short_logs)]
                if self.log_retention_days < MIN_LOG_RETENTION_DAYS
                else []
            ),
            *admin_weakenings(self.admin_cidrs),
            *self.edge.weakenings(self.environment),
            *self.log_archive.weakenings(self.environment),
            *self.backups.weakenings(),
        ):
            self.require_exception(weakening.exception, weakening.problem)
        return self

    @model_validator(mode="after")
    def _firewall_policy_once(self) -> Self:
        # The generated policy must fit AWS's quotas and the tenant's own rules must load in Suricata: checked
        # once, here, and kept for the stack to deploy.
        self._firewall_policy = checked_policy(
            self.firewall,
            self.tenant,
            self.vpc_cidr,
            self.vpn_client_cidr,
            (self.bastion.vpn_protocol, self.bastion.vpn_port),
        )
        return self

    def require_exception(self, name: str, problem: str) -> None:
        """Refuse a weakening of the baseline unless the tenant's waiver file waives it for this environment."""
        justification = self.exceptions.get(name, "")
        if not justification.strip():
            raise ConfigKeyError(
                waiver_file(self.tenant),
                f"{problem}; fix the value, or waive {name} (control {WAIVABLE_SETTINGS[ExceptionName(name)]}) "
                f"for {self.environment} in {waiver_file(self.tenant)} with a justification, approver and expiry",
            )

    @property
    def firewall_policy(self) -> FirewallPolicyRules:
        """The firewall's rule groups, generated and checked when the config was validated."""
        if self._firewall_policy is None:
            raise RuntimeError("TenantConfig was built without validation: use parse_config")
        return self._firewall_policy

    @property
    def prefix(self) -> str:
        return tenant_prefix(self.tenant, self.environment)

    @property
    def shield_advanced(self) -> bool:
        """Shield Advanced in effect: the stack's choice, else on for prod and off for preprod (it is paid)."""
        return self.edge.shield_in_effect(self.environment)

    @property
    def vpc_resolver(self) -> IPv4Address:
        """The VPC's Amazon DNS resolver: the VPC range's base address plus two."""
        return self.vpc_cidr.network_address + 2

    @property
    def log_archive_object_lock(self) -> bool:
        """Object lock on the log archive: the stack's choice, else on for prod and off for preprod."""
        return self.log_archive.object_lock_in_effect(self.environment)

    @property
    def availability_zones(self) -> tuple[Zone, ...]:
        return availability_zones(self.region, self.zones)

    def subnet_cidr(self, tier: Tier, zone: Zone) -> IPv4Network:
        return subnet_cidr(self.vpc_cidr, tier, zone)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The config model a field holds, directly or as the items of a tuple."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_model_in, get_args(annotation))), None)


def valid_keys(path: Sequence[str | int]) -> list[str]:
    """The keys a stack config mapping at this path (e.g. `("edge",)`) may hold; `()` is the top level."""
    model: type[BaseModel] | None = TenantConfig
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        model = _model_in(fields[part].annotation) if part in fields else None
    if model is None:
        return []
    keys = [field.alias or name for name, field in model.model_fields.items()]
    return [key for key in keys if key not in NOT_STACK_KEYS] if model is TenantConfig else keys


def _unknown_key(path: Sequence[str | int]) -> str:
    valid = valid_keys(path[:-1])
    close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.6)
    if close:
        return f"unknown key: did you mean {close[0]}? (as written it would be ignored)"
    return f"unknown key: remove it or use one of {', '.join(valid)}"


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(stack)"
        cause = problem.get("ctx", {}).get("error")
        if isinstance(cause, ConfigKeyError):
            key = cause.key
        message = str(cause) if cause is not None else problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = _unknown_key(problem["loc"])
        elif problem["type"] == "missing":
            message = "missing: set it with `pulumi config set`"
        namespace = "aws" if key == "region" else PROJECT
        # A weakening without its waiver belongs to the waiver file, which is no stack key.
        lines.append(
            f"  {key}: {message}" if key.endswith(WAIVERS_FILE) else f"  {namespace}:{key}: {message}"
        )
    return "invalid stack configuration:\n" + "\n".join(lines)


def parse_config(values: dict[str, Any]) -> TenantConfig:
    """Validate raw config values (camelCase keys); raise ConfigError naming each bad key."""
    try:
        return TenantConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def _stack_keys() -> set[str]:
    """Every config key the engine handed the program (the SDK has no public listing of them)."""
    return {*runtime_config.get_config_env(), *runtime_config.CONFIG.get()}


def load_config() -> TenantConfig:
    """Read the stack config of the running Pulumi program once; every `secure-tenant:` key is validated."""
    project = pulumi.Config(PROJECT)
    values: dict[str, Any] = {"region": pulumi.Config("aws").get("region")}
    known = {field.alias or name for name, field in TenantConfig.model_fields.items()} - NOT_STACK_KEYS
    given = {key.removeprefix(f"{PROJECT}:") for key in _stack_keys() if key.startswith(f"{PROJECT}:")}
    for key in sorted(known | given):
        if key == "region":
            raise ConfigError(
                f"invalid stack configuration:\n  {PROJECT}:region: unknown key: the region is aws:region"
            )
        if key == "exceptions":
            raise ConfigError(
                f"invalid stack configuration:\n  {PROJECT}:exceptions: waivers live in the tenant's waiver file "
                f"now: move each exception to {waiver_file(str(project.get('tenant')))} (control, setting, "
                "environments, justification, approved_by, expires) and remove this key"
            )
        raw = project.get(key)
        if raw is not None:
            values[key] = _structured(key, raw)
    values["exceptions"] = _stack_waivers(values.get("tenant"), values.get("environment"))
    return parse_config({key: value for key, value in values.items() if value is not None})


def _stack_waivers(tenant: object, environment: object) -> dict[str, str]:
    """The exceptions the tenant's waiver file grants this environment.

    None while the tenant or the environment is not valid: parse_config then names that key.
    """
    if (
        not isinstance(tenant, str)
        or not re.fullmatch(TENANT_ID, tenant)
        or environment not in get_args(Environment)
    ):
        return {}
    try:
        return statements(waivers_in_force(tenant, str(environment)), role_variables=False)
    except WaiverError as error:
        raise ConfigError(str(error)) from None


def _structured(key: str, raw: str) -> Any:
    """Pulumi hands structured config values over as JSON text; scalars stay strings for pydantic to coerce."""
    if raw[:1] not in "[{":
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"invalid stack configuration:\n  {PROJECT}:{key}: {raw!r} starts like a list or mapping but is not "
            f"one ({error.msg}, column {error.colno}): write it as YAML structure, or quote a plain string "
            "that does not start with [ or {"
        ) from None
