"""The tenant config stops bad input before any resource, naming the key and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from infra.baseline import WAIVABLE_SETTINGS, ExceptionName
from infra.config import ConfigError, parse_config
from review.offline import evaluate_stack
from tests.stacks import VALID, config_error


def test_valid_config_parses_with_safe_defaults() -> None:
    config = parse_config(VALID)
    assert config.prefix == "acme-prod"
    assert config.log_retention_days >= 400
    assert [zone.name for zone in config.availability_zones] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2", "eu-central-2", "ap-south-1"])
def test_region_outside_the_eu_is_refused_naming_aws_region(region: str) -> None:
    message = config_error(region=region)
    assert "aws:region" in message and "not in the EU" in message and "eu-west-1" in message


@pytest.mark.parametrize("tenant", ["A", "Acme", "1acme", "acme-corp", "averyverylongtenant", ""])
def test_bad_tenant_name_is_refused(tenant: str) -> None:
    message = config_error(tenant=tenant)
    assert "secure-tenant:tenant" in message and "lowercase" in message


@pytest.mark.parametrize(
    ("cidr", "hint"),
    [("10.0.0.0/25", "use a /24 or larger"), ("10.0.0.0/12", "/16 to /24"), ("8.8.0.0/16", "private")],
)
def test_vpc_cidr_that_cannot_hold_the_subnets_is_refused(cidr: str, hint: str) -> None:
    message = config_error(vpcCidr=cidr)
    assert "secure-tenant:vpcCidr" in message and hint in message


def test_vpn_range_overlapping_the_vpc_is_refused() -> None:
    message = config_error(vpnClientCidr="10.20.128.0/24")
    assert "secure-tenant:vpnClientCidr" in message and "overlaps vpcCidr" in message


def test_overlapping_admin_ranges_are_refused() -> None:
    message = config_error(adminCidrs=["203.0.113.0/24", "203.0.113.16/28"])
    assert "secure-tenant:adminCidrs" in message and "overlaps" in message


def test_admin_range_of_the_whole_internet_is_refused() -> None:
    assert "leave adminCidrs empty" in config_error(adminCidrs=["0.0.0.0/0"])


@pytest.mark.parametrize("zones", [1, 4])
def test_zone_count_outside_two_to_three_is_refused(zones: int) -> None:
    assert "secure-tenant:zones" in config_error(zones=zones)


def test_unknown_key_is_refused_as_a_probable_typo() -> None:
    message = config_error(vpcCdir="10.0.0.0/16")
    assert "secure-tenant:vpcCdir: unknown key: did you mean vpcCidr?" in message


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"adminCidr": ["203.0.113.0/28"]}, "secure-tenant:adminCidr: unknown key: did you mean adminCidrs?"),
        (
            {"AdminCidrs": ["203.0.113.0/28"]},
            "secure-tenant:AdminCidrs: unknown key: did you mean adminCidrs?",
        ),
        ({"admin_cidrs": ["203.0.113.0/28"]}, None),  # pydantic's own field name: accepted as the same key
        (
            {"edge": {"tlsPolicie": "x"}},
            "secure-tenant:edge.tlsPolicie: unknown key: did you mean tlsPolicy?",
        ),
        (
            {"firewall": {"egressDomains": [{"domain": "a.org", "protocol": ["tls"]}]}},
            "secure-tenant:firewall.egressDomains.0.protocol: unknown key: did you mean protocols?",
        ),
        ({"xyz": 1}, "secure-tenant:xyz: unknown key: remove it or use one of tenant, environment, vpcCidr"),
    ],
)
def test_a_misspelt_key_anywhere_is_refused_with_the_closest_valid_key(
    changes: dict[str, Any], says: str | None
) -> None:
    if says is None:
        assert parse_config({**VALID, **changes}).admin_cidrs == (IPv4Network("203.0.113.0/28"),)
    else:
        assert says in config_error(**changes)


# Each named exception, and a config that needs it: a new exception name must add its case here.
NEEDS_EXCEPTION: dict[ExceptionName, dict[str, Any]] = {
    ExceptionName.SHORT_LOG_RETENTION: {"logRetentionDays": 365},
    ExceptionName.NO_SHIELD_ADVANCED: {"edge": {"shieldAdvanced": False}},
    ExceptionName.LOG_ARCHIVE_WITHOUT_OBJECT_LOCK: {"logArchive": {"objectLock": False}},
    ExceptionName.SHORT_LOG_ARCHIVE_RETENTION: {"logArchive": {"retentionDays": 90}},
    ExceptionName.LOAD_BALANCER_LOGS_SSE_S3: {"logArchive": {"loadBalancerAccessLogs": True}},
    ExceptionName.SHORT_BACKUP_RETENTION: {"backups": {"dailyRetentionDays": 7}},
    ExceptionName.SHORT_MONTHLY_BACKUP_RETENTION: {"backups": {"monthlyRetentionMonths": 3}},
    ExceptionName.BACKUP_VAULT_WITHOUT_LOCK: {"backups": {"vaultLock": "none"}},
    ExceptionName.WIDE_ADMIN_RANGES: {"adminCidrs": ["128.0.0.0/1"]},
}


def test_every_exception_name_has_a_case() -> None:
    assert set(NEEDS_EXCEPTION) == set(ExceptionName)


@pytest.mark.parametrize("name", list(ExceptionName))
def test_each_weakening_is_refused_unless_its_exception_is_justified(name: ExceptionName) -> None:
    weakened = NEEDS_EXCEPTION[name]
    control = WAIVABLE_SETTINGS[name]
    fix = f"waive {name} (control {control}) for prod in tenants/acme/waivers.yaml with a justification, approver"
    assert "  tenants/acme/waivers.yaml: " in config_error(**weakened)
    assert fix in config_error(**weakened)
    assert fix in config_error(**weakened, exceptions={name.value: "  "})
    assert parse_config({**VALID, **weakened, "exceptions": {name.value: "signed off by the CISO, 2026-11"}})


@pytest.mark.parametrize(
    "ranges",
    [
        ["128.0.0.0/1"],
        ["64.0.0.0/2"],
        ["203.0.0.0/16", "198.51.100.0/24"],  # just over a /16 together
        [f"{octet}.0.0.0/17" for octet in (100, 101, 102)],  # each small, together more than a /16
        ["198.18.0.0/24", "198.19.0.0/24", "203.0.0.0/16"],  # a /16 and two /24s
    ],
)
def test_admin_ranges_are_judged_together_and_a_wide_union_needs_its_exception(ranges: list[str]) -> None:
    message = config_error(adminCidrs=ranges)
    assert "adminCidrs cover" in message and "waive wideAdminRanges (control ACC-01)" in message
    assert parse_config({**VALID, "adminCidrs": ranges, "exceptions": {"wideAdminRanges": "a national ISP"}})


@pytest.mark.parametrize(
    "ranges",
    [["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"], ["10.0.0.0/8"]],
)
def test_admin_ranges_that_cover_the_internet_or_the_vpc_are_refused_even_with_an_exception(
    ranges: list[str],
) -> None:
    message = config_error(adminCidrs=ranges, exceptions={"wideAdminRanges": "trust me"})
    assert "secure-tenant:adminCidrs" in message and "overlaps 10.20.0.0/16" in message


def test_admin_ranges_of_a_16_together_are_accepted_without_exception() -> None:
    ranges = ["203.0.0.0/17", "198.51.0.0/17"]
    assert parse_config({**VALID, "adminCidrs": ranges}).admin_cidrs == tuple(map(IPv4Network, ranges))


def test_missing_key_says_how_to_set_it() -> None:
    values = dict(VALID)
    del values["environment"]
    with pytest.raises(
        ConfigError, match="secure-tenant:environment: missing: set it with `pulumi config set`"
    ):
        parse_config(values)


def test_log_retention_below_twelve_months_needs_a_named_exception() -> None:
    message = config_error(logRetentionDays=365)
    assert "tenants/acme/waivers.yaml: " in message and "waive shortLogRetention (control LOG-02)" in message
    accepted = parse_config(
        {**VALID, "logRetentionDays": 365, "exceptions": {"shortLogRetention": "lab tenant"}}
    )
    assert accepted.log_retention_days == 365


def test_log_retention_must_be_a_value_cloudwatch_accepts() -> None:
    assert "not a CloudWatch Logs retention" in config_error(logRetentionDays=500)


def test_subnets_of_every_tier_and_zone_are_disjoint_and_inside_the_vpc() -> None:
    config = parse_config(VALID)
    cidrs = [
        config.subnet_cidr(tier, zone)
        for tier in ("public", "firewall", "private", "data")
        for zone in config.availability_zones
    ]
    assert all(cidr.subnet_of(IPv4Network("10.20.0.0/16")) for cidr in cidrs)
    assert all(not a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])


def test_bad_config_stops_the_program_before_any_resource() -> None:
    with pytest.raises(ConfigError, match="aws:region"):
        evaluate_stack("acme-prod", {"aws:region": "us-east-1"})


def test_under_the_pulumi_cli_a_misspelt_key_is_refused_too() -> None:
    # The Python language host hands the program its stack config as PULUMI_CONFIG (JSON): nothing mocked here.
    config = {f"secure-tenant:{key}": str(value) for key, value in VALID.items() if key != "region"}
    config |= {"aws:region": "eu-west-1", "secure-tenant:adminCidr": '["203.0.113.0/28"]'}
    result = subprocess.run(
        [sys.executable, "-c", "from infra.config import load_config; load_config()"],
        env={**os.environ, "PULUMI_CONFIG": json.dumps(config)},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "secure-tenant:adminCidr: unknown key: did you mean adminCidrs?" in result.stderr
