"""The tenant config stops bad input before any resource, naming the key and the fix."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

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
    assert "secure-tenant:vpcCdir" in message and "unknown key" in message


def test_missing_key_says_how_to_set_it() -> None:
    values = dict(VALID)
    del values["environment"]
    with pytest.raises(
        ConfigError, match="secure-tenant:environment: missing: set it with `pulumi config set`"
    ):
        parse_config(values)


def test_log_retention_below_twelve_months_needs_a_named_exception() -> None:
    message = config_error(logRetentionDays=365)
    assert "secure-tenant:exceptions" in message and "exceptions.shortLogRetention" in message
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
