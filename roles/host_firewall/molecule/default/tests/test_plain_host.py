"""NET-06 on an ordinary host: nothing is forwarded and there is no NAT."""

from __future__ import annotations

testinfra_hosts = ["ansible://fw-host"]


def test_ordinary_host_forwards_nothing_and_has_no_nat(host) -> None:
    with host.sudo():
        table = host.check_output("nft list table inet host_firewall")
    forward = table.split("chain forward {", 1)[1].split("}", 1)[0]
    assert "accept" not in forward
    assert "type nat" not in table and "masquerade" not in table
