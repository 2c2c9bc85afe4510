"""Test `is openvpn_ipv4_cidr`: a strict IPv4 network in CIDR notation, the form openvpn_client_cidr and
openvpn_push_routes take. The standard library parses it, so the controller needs no netaddr."""

from __future__ import annotations

import ipaddress
from typing import Any


def openvpn_ipv4_cidr(value: Any) -> bool:
    """True for "10.8.0.0/24"; false for a bare address, set host bits ("10.8.0.1/24") or anything else."""
    text = str(value)
    if "/" not in text:
        return False
    try:
        ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        return False
    return True


class TestModule:
    def tests(self) -> dict[str, Any]:
        return {"openvpn_ipv4_cidr": openvpn_ipv4_cidr}
