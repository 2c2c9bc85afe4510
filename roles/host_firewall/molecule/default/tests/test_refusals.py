"""Bad input and lockouts stop the role before it touches the running firewall (checked on one host)."""

from __future__ import annotations

import pytest

from lab.verify import converge_failures

testinfra_hosts = ["ansible://fw-host"]

REFUSALS = {
    "SSH allowed only from elsewhere": (
        {"host_firewall_allow": [{"port": 22, "proto": "tcp", "sources": ["192.0.2.0/24"]}]},
        "the new ruleset would cut this connection off",
    ),
    "unknown protocol": (
        {"host_firewall_allow": [{"port": 22, "proto": "sctp", "sources": ["0.0.0.0/0"]}]},
        "value of proto must be one of: tcp, udp",
    ),
    "source that is not a network": (
        {
            "host_firewall_allow": [
                {"port": 22, "proto": "tcp", "sources": ["10.77.0.0/16", "lab-controller"]}
            ]
        },
        "not networks: ['lab-controller']",
    ),
}


@pytest.mark.parametrize("extra_vars, refusal", REFUSALS.values(), ids=REFUSALS.keys())
def test_role_stops_before_touching_the_running_ruleset(
    host, extra_vars: dict[str, object], refusal: str
) -> None:
    with host.sudo():
        before = host.check_output("nft list table inet host_firewall")
        file_before = host.file("/etc/nftables.conf").sha256sum
    run, messages = converge_failures(host.backend.host, extra_vars)
    assert run.returncode != 0, run.stdout
    assert any(refusal in message for message in messages), messages
    with host.sudo():
        assert host.check_output("nft list table inet host_firewall") == before
        assert host.file("/etc/nftables.conf").sha256sum == file_before
