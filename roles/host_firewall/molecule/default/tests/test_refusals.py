"""Bad input and lockouts stop the role before it touches the running firewall (checked on one host)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

testinfra_hosts = ["ansible://fw-host"]

SCENARIO_DIR = Path(__file__).resolve().parents[1]


def converge_refusal(host, extra_vars: dict[str, object]) -> list[str]:
    """Run this scenario's converge.yml with extra vars, expect it to fail, return the failure messages."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "--inventory",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "--limit",
            host.backend.host,
            "--extra-vars",
            json.dumps(extra_vars),
            str(SCENARIO_DIR / "converge.yml"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        # Machine-readable results, whatever stdout callback and result format the scenario's ansible.cfg sets.
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
    )
    assert result.returncode != 0, result.stdout
    # Other enabled callbacks (profile_tasks) may print around the JSON document.
    start = ("\n" + result.stdout).index("\n{\n")
    report, _ = json.JSONDecoder().raw_decode(result.stdout[start:])
    outcomes = [
        outcome for play in report["plays"] for task in play["tasks"] for outcome in task["hosts"].values()
    ]
    return [
        item["msg"]
        for outcome in outcomes
        for item in [outcome, *outcome.get("results", [])]
        if item.get("failed") and "msg" in item
    ]


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
    messages = converge_refusal(host, extra_vars)
    assert any(refusal in message for message in messages), messages
    with host.sudo():
        assert host.check_output("nft list table inet host_firewall") == before
        assert host.file("/etc/nftables.conf").sha256sum == file_before
