"""NET-06 on real hosts: default drop, the allowed services reachable from outside, drops logged."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCENARIO_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def address(host) -> str:
    return str(host.ansible.get_variables()["ansible_host"])


def connects(address: str, port: int, timeout: float = 3.0) -> bool | None:
    """True if a TCP connection opens, False if refused (no firewall in the way), None if nothing answers."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return False
    except TimeoutError:
        return None


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


def journal_since(host, started: float, identifier: str) -> str:
    with host.sudo():
        return host.check_output(
            f"journalctl --identifier {identifier} --since @{int(started) - 1} --output cat"
        )


def test_ruleset_is_loaded_with_default_drop(host) -> None:
    with host.sudo():
        ruleset = host.check_output("nft list ruleset")
    assert "table inet host_firewall" in ruleset
    assert "type filter hook input priority filter; policy drop;" in ruleset
    assert "type filter hook forward priority filter; policy drop;" in ruleset
    assert "type filter hook output priority filter; policy accept;" in ruleset


def test_ruleset_is_loaded_at_boot(host) -> None:
    assert host.service("nftables").is_enabled
    assert "table inet host_firewall {" in host.file("/etc/nftables.conf").content_string


def test_allowed_port_is_reachable_from_outside(address: str) -> None:
    assert connects(address, 8080) is True


def test_closed_port_is_filtered_although_a_service_listens_on_it(host, address: str) -> None:
    # prepare.yml started a listener there, so only the firewall can keep the connection from opening.
    assert host.socket("tcp://0.0.0.0:9090").is_listening
    assert connects(address, 9090) is None


def test_ssh_still_opens_new_connections(host, address: str) -> None:
    variables = host.ansible.get_variables()
    result = subprocess.run(
        [
            "ssh",
            "-i",
            variables["ansible_private_key_file"],
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            f"{variables['ansible_user']}@{address}",
            "true",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_dropped_packets_are_logged(host, address: str) -> None:
    assert host.service("ulogd2").is_running
    started = time.time()
    connects(address, 9090)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = journal_since(host, started, "ulogd")
        if "DPT=9090" in log:
            break
        time.sleep(0.5)
    line = next(line for line in log.splitlines() if "DPT=9090" in line)
    assert line.startswith("host_firewall input drop:")
    assert "PROTO=TCP" in line and "SYN" in line


def test_role_refuses_a_ruleset_that_would_cut_off_ansible(host) -> None:
    """Apply the role with SSH allowed only from elsewhere: it must stop before touching the running ruleset."""
    with host.sudo():
        before = host.check_output("nft list table inet host_firewall")
        file_before = host.file("/etc/nftables.conf").sha256sum
    messages = converge_refusal(
        host, {"host_firewall_allow": [{"port": 22, "proto": "tcp", "sources": ["192.0.2.0/24"]}]}
    )
    assert any("the new ruleset would cut this connection off" in message for message in messages), messages
    with host.sudo():
        assert host.check_output("nft list table inet host_firewall") == before
        assert host.file("/etc/nftables.conf").sha256sum == file_before


def test_rollback_was_disarmed_after_the_new_connection_confirmed_the_ruleset(host) -> None:
    with host.sudo():
        timers = host.check_output("systemctl list-timers --all --no-legend")
        saved = host.file("/var/lib/host_firewall/rollback.nft").content_string
    assert "host-firewall-rollback" not in timers
    assert saved.startswith("table inet host_firewall\ndelete table inet host_firewall\n")
