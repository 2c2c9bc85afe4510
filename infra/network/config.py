"""The network's stack config: the top-level keys `vpcCidr`, `zones`, `adminCidrs` and `vpnClientCidr`.

The rules for those keys, zones and the subnet plan live here; `TenantConfig` holds the keys and calls them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, collapse_addresses
from typing import Literal

from infra.baseline import MAX_ADMIN_ADDRESSES, MAX_ADMIN_PREFIX, ExceptionName
from infra.model import ConfigKeyError, Weakening, is_private

Tier = Literal["public", "firewall", "private", "data"]
SUBNET_TIERS: tuple[Tier, ...] = ("public", "firewall", "private", "data")
# Each tier gets a quarter of the VPC and each zone a quarter of its tier: 16 equal blocks.
SUBNET_SPLIT_BITS = 4
MAX_ZONES = 3
AWS_MIN_SUBNET_PREFIX = 28
DEFAULT_VPN_CLIENT_CIDR = IPv4Network("10.250.0.0/24")


@dataclass(frozen=True)
class Zone:
    """One availability zone of the tenant: its AWS name and the short suffix used in resource names."""

    name: str
    suffix: str
    index: int


def availability_zones(region: str, count: int) -> tuple[Zone, ...]:
    # Every EU region has zones a, b and c; names are fixed so a reviewer's preview is deterministic.
    return tuple(Zone(f"{region}{suffix}", suffix, index) for index, suffix in enumerate("abc"[:count]))


def subnet_cidr(vpc_cidr: IPv4Network, tier: Tier, zone: Zone) -> IPv4Network:
    blocks: list[IPv4Network] = list(vpc_cidr.subnets(prefixlen_diff=SUBNET_SPLIT_BITS))
    blocks_per_tier = (1 << SUBNET_SPLIT_BITS) // len(SUBNET_TIERS)
    return blocks[SUBNET_TIERS.index(tier) * blocks_per_tier + zone.index]


def check_vpc_cidr(value: IPv4Network) -> IPv4Network:
    if not is_private(value):
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


def check_vpn_client_cidr(value: IPv4Network) -> IPv4Network:
    if not is_private(value):
        raise ValueError(f"{value} is not a private (RFC 1918) range: use e.g. 10.250.0.0/24")
    return value


def check_ranges(
    vpc_cidr: IPv4Network, vpn_client_cidr: IPv4Network, admin_cidrs: Sequence[IPv4Network]
) -> None:
    """The ranges together: the VPN clients outside the VPC, admin ranges disjoint from all of them."""
    if vpn_client_cidr.overlaps(vpc_cidr):
        raise ConfigKeyError(
            "vpnClientCidr", f"{vpn_client_cidr} overlaps vpcCidr {vpc_cidr}: pick a range outside it"
        )
    for position, cidr in enumerate(admin_cidrs):
        if cidr.prefixlen == 0:
            raise ConfigKeyError(
                "adminCidrs", "0.0.0.0/0 is not an admin range: leave adminCidrs empty instead"
            )
        for other in (vpc_cidr, vpn_client_cidr, *admin_cidrs[:position]):
            if cidr.overlaps(other):
                raise ConfigKeyError("adminCidrs", f"{cidr} overlaps {other}: list disjoint ranges")


def admin_weakenings(admin_cidrs: Sequence[IPv4Network]) -> Iterator[Weakening]:
    """Admin ranges are judged together: their union, not each entry, must stay a small part of the internet.

    (A union covering the whole internet cannot get here: it overlaps the VPC, which check_ranges refuses.)
    """
    union = list(collapse_addresses(admin_cidrs))
    covered = sum(network.num_addresses for network in union)
    if covered > MAX_ADMIN_ADDRESSES:
        yield Weakening(
            ExceptionName.WIDE_ADMIN_RANGES,
            f"adminCidrs cover {covered:,} addresses together ({', '.join(map(str, union))}), more than "
            f"{MAX_ADMIN_ADDRESSES:,} (a /{MAX_ADMIN_PREFIX}) may reach the VPN port",
        )
