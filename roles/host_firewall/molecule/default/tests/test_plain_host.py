"""NET-06 on an ordinary host: nothing is forwarded, there is no NAT, and egress is limited to its list."""

from __future__ import annotations

import time

import pytest

testinfra_hosts = ["ansible://fw-host"]

# Prints how a TCP connection from the host ends: "connected", the errno name of the failure, or "timeout".
CONNECT = """
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except OSError as error:
    print(errno.errorcode.get(error.errno, "timeout"))
"""


@pytest.fixture(scope="module")
def controller(host) -> str:
    facts = host.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]
    return str(facts["ansible_default_ipv4"]["gateway"])


def connect_from_host(host, address: str, port: int) -> str:
    return str(host.check_output("python3 -c %s %s %s", CONNECT, address, str(port)))


def test_ordinary_host_forwards_nothing_and_has_no_nat(host) -> None:
    with host.sudo():
        table = host.check_output("nft list table inet host_firewall")
    forward = table.split("chain forward {", 1)[1].split("}", 1)[0]
    assert "accept" not in forward
    assert "type nat" not in table and "masquerade" not in table


def test_egress_outside_the_list_is_dropped_and_logged(host, controller: str) -> None:
    started = time.time()
    # This machine refuses port 9 at once (nothing listens there); only the host's output chain can make it silent.
    assert connect_from_host(host, controller, 9) == "timeout"
    with host.sudo():
        log = host.check_output(f"journalctl --identifier ulogd --since @{int(started) - 1} --output cat")
    assert any(
        line.startswith("host_firewall output drop:") and "DPT=9 " in line for line in log.splitlines()
    )


def test_egress_on_the_list_leaves_the_host(host, controller: str) -> None:
    # An answer from this machine on port 80 (a page or a refusal) proves the SYN left the host.
    assert connect_from_host(host, controller, 80) in ("connected", "ECONNREFUSED")
