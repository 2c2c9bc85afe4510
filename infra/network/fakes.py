"""Offline fakes for the network: what AWS would tell about a declared subnet (its free addresses, its zone)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from ipaddress import IPv4Address, IPv4Network
from itertools import islice
from typing import Any

import pulumi

from infra.fakes import OutputFake

# Keyed by the id the mocks give a subnet (`<name>-id`): free addresses (AWS reserves the first four) and zone.
_ADDRESSES: dict[str, Iterator[IPv4Address]] = {}
_ZONES: dict[str, str] = {}


def _subnet(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    subnet_id = f"{args.name}-id"
    _ADDRESSES[subnet_id] = islice(IPv4Network(args.inputs["cidrBlock"]), 4, None)
    _ZONES[subnet_id] = args.inputs["availabilityZone"]
    return {}


def next_address(subnet_id: str) -> IPv4Address | None:
    """The next free address of a declared subnet; None for a subnet the program did not declare."""
    addresses = _ADDRESSES.get(subnet_id)
    return next(addresses) if addresses else None


def zone_of(subnet_id: str) -> str:
    return _ZONES[subnet_id]


OUTPUT_FAKES: Mapping[str, OutputFake] = {"aws:ec2/subnet:Subnet": _subnet}
