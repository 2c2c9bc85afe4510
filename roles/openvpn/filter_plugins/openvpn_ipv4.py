"""Filter that turns an IPv4 CIDR into the network/netmask pairs OpenVPN's `server` and `route` options want
(the test plugin openvpn_ipv4_cidr checks the notation first).

The standard library's ipaddress does the parsing, so the role needs neither netaddr on the controller nor
arithmetic in Jinja.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError


def openvpn_ipv4_network(cidr: str) -> dict[str, Any]:
    """Describe a strict IPv4 network ("10.8.0.0/24"): network, netmask, prefix, first host and host count."""
    try:
        network = ipaddress.IPv4Network(str(cidr), strict=True)
    except ValueError as error:
        raise AnsibleFilterError(
            f"{cidr!r} is not an IPv4 network in CIDR notation (for example 10.8.0.0/24): {error}"
        )
    return {
        "network": str(network.network_address),
        "netmask": str(network.netmask),
        "prefix": network.prefixlen,
        "first_host": str(network.network_address + 1),
        "host_count": max(network.num_addresses - 2, 0),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"openvpn_ipv4_network": openvpn_ipv4_network}
