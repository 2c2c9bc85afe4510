"""NET-06 on the router (the VPN bastion's shape): only the client range is forwarded, and masqueraded."""

from __future__ import annotations

import time

import pytest

testinfra_hosts = ["ansible://fw-router"]


@pytest.fixture(scope="module")
def controller(host) -> str:
    """This machine, the gateway of the router's uplink: it has no route back to the VPN client range."""
    facts = host.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]
    return str(facts["ansible_default_ipv4"]["gateway"])


def client_ping(host, source: str, target: str):
    with host.sudo():
        return host.run(f"ip netns exec vpnclient ping -c 1 -W 2 -I {source} {target}")


def test_client_range_is_forwarded_and_masqueraded(host, controller: str) -> None:
    # The controller has no route to 10.8.0.0/24: the answer can only come back through the masquerade.
    assert client_ping(host, "10.8.0.2", controller).rc == 0


def test_address_outside_the_client_range_is_not_forwarded(host, controller: str) -> None:
    started = time.time()
    assert client_ping(host, "10.9.0.2", controller).rc != 0
    with host.sudo():
        log = host.check_output(f"journalctl --identifier ulogd --since @{int(started) - 1} --output cat")
    assert any(
        line.startswith("host_firewall forward drop:") and "SRC=10.9.0.2" in line for line in log.splitlines()
    )


def test_forward_and_nat_rules_name_the_client_range_and_interfaces(host) -> None:
    with host.sudo():
        table = host.check_output("nft list table inet host_firewall")
    assert 'iifname "vpnlab0" oifname "host0" ip saddr 10.8.0.0/24 accept' in table
    assert 'oifname "host0" ip saddr 10.8.0.0/24 masquerade' in table
