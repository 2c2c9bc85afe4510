"""Network filters the hardening roles share (each depends on debian_release, which carries them).

The standard library's ipaddress does the parsing. They replace ansible.utils' ip filters, whose argument checks
deep-copied Ansible's lazy template lists on every call: a tenth of a no-change bastion re-run went there.
Only prefix notation is read ("10.0.0.0/16", a bare address for one host); a netmask ("10.0.0.0/255.255.0.0") or
hostmask is refused, so what a reviewer reads is what the firewall enforces.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network_of(value: Any) -> Network | None:
    """The network an entry names (host bits dropped), or None when it is not an address or prefix-notation network."""
    if not isinstance(value, str):
        return None
    _, slash, prefix = value.partition("/")
    if slash and not (prefix.isascii() and prefix.isdigit()):
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def invalid_networks(values: Iterable[Any]) -> list[Any]:
    """The entries that are neither an IP address nor a network in prefix notation."""
    return [value for value in values if network_of(value) is None]


def invalid_addresses(values: Iterable[Any]) -> list[Any]:
    """The entries that are not a bare IP address (no prefix)."""
    return [value for value in values if network_of(value) is None or "/" in value]


def canonical_address(value: str) -> str:
    """An address as Python writes it (IPv6 compressed, lower case), so two spellings compare equal."""
    return str(ipaddress.ip_address(value))


def networks_by_family(values: Iterable[str]) -> dict[str, list[str]]:
    """Valid entries as network/prefix, split into nftables' families: {"ip": [...], "ip6": [...]}, each unique."""
    families: dict[str, list[str]] = {"ip": [], "ip6": []}
    for value in values:
        network = network_of(value)
        if network is not None:
            family = families["ip" if network.version == 4 else "ip6"]
            if str(network) not in family:
                family.append(str(network))
    return families


def in_any_network(address: str, networks: Iterable[str]) -> bool:
    """Whether the address lies in one of the networks (entries that are not networks count as none)."""
    host = ipaddress.ip_address(address)
    return any(network is not None and host in network for network in map(network_of, networks))


def too_wide(values: Iterable[str], ipv4_prefix: int = 8, ipv6_prefix: int = 32) -> list[str]:
    """The entries of a family whose networks together, loopback aside, cover more than one /ipv4_prefix (IPv4) or
    /ipv6_prefix (IPv6) network: 0.0.0.0/0 and the same split into /1s or 256 /8s are all too wide."""
    outside_loopback = [
        (value, network)
        for value, network in ((value, network_of(value)) for value in values)
        # Loopback is one block (127.0.0.0/8, ::1): a network with both ends in it lies inside it.
        if network is not None
        and not (network.network_address.is_loopback and network.broadcast_address.is_loopback)
    ]
    # Overlapping and adjacent entries are merged first, so a split or repeated range counts once.
    ipv4 = ipaddress.collapse_addresses(
        n for _, n in outside_loopback if isinstance(n, ipaddress.IPv4Network)
    )
    ipv6 = ipaddress.collapse_addresses(
        n for _, n in outside_loopback if isinstance(n, ipaddress.IPv6Network)
    )
    wide_versions = {
        version
        for version, union, limit in ((4, ipv4, 2 ** (32 - ipv4_prefix)), (6, ipv6, 2 ** (128 - ipv6_prefix)))
        if sum(network.num_addresses for network in union) > limit
    }
    return [value for value, network in outside_loopback if network.version in wide_versions]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "secure_tenant_invalid_networks": invalid_networks,
            "secure_tenant_invalid_addresses": invalid_addresses,
            "secure_tenant_canonical_address": canonical_address,
            "secure_tenant_networks_by_family": networks_by_family,
            "secure_tenant_in_any_network": in_any_network,
            "secure_tenant_too_wide": too_wide,
        }
