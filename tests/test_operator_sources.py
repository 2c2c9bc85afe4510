"""The bastion's group_vars give the host firewall's SSH sources, fail2ban's ignore list and sshd's penalty exemptions
from one list, read through the real inventory and Ansible's own variable loading (no host needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ROOT / "tests" / "fixtures" / "acme-prod-outputs.json"
LOOPBACK = ["127.0.0.1/8", "::1"]


def bastion_vars(management_cidrs: str) -> dict[str, list[str]]:
    """The bastion's fail2ban ignore list, sshd penalty exemptions and firewall SSH sources, as Ansible resolves them."""
    expression = (
        "{{ {'ignore': intrusion_detection_fail2ban_ignoreip, 'penalty': ssh_hardening_penalty_exempt_sources,"
        " 'ssh': host_firewall_allow | selectattr('port', 'equalto', 22) | map(attribute='sources') | first}"
        " | to_json }}"
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "acme-prod-bastion-a",  # one of the fixture's per-zone bastions: one ad-hoc result to read
            "--playbook-dir",
            str(ROOT / "playbooks"),
            "-i",
            str(ROOT / "playbooks" / "inventory" / "fleet.secure_tenant.yml"),
            "--connection",
            "local",
            "-m",
            "ansible.builtin.debug",
            "-a",
            f"msg={expression}",
        ],
        env={
            # Only what this test sets: a lab run's SECURE_TENANT_* (its one bastion's address) must not leak in.
            **{key: value for key, value in os.environ.items() if not key.startswith("SECURE_TENANT_")},
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "SECURE_TENANT_STACK_OUTPUTS": str(OUTPUTS),
            "SECURE_TENANT_MANAGEMENT_CIDRS": management_cidrs,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Ad-hoc output: `HOST | SUCCESS => {JSON result}`.
    outcome = json.loads(result.stdout.split("=>", 1)[1])
    return dict(json.loads(outcome["msg"]))


def test_fail2ban_never_bans_the_ranges_the_firewall_admits_ssh_from() -> None:
    resolved = bastion_vars("192.0.2.0/28, 198.51.100.64/26")
    vpn_clients = json.loads(OUTPUTS.read_text())["vpnClientCidr"]
    assert resolved["ssh"] == [vpn_clients, "192.0.2.0/28", "198.51.100.64/26"]
    assert resolved["ignore"] == LOOPBACK + resolved["ssh"]
    assert resolved["penalty"] == resolved["ssh"]


def test_without_management_ranges_only_the_vpn_clients_are_admitted_and_ignored() -> None:
    resolved = bastion_vars("")
    assert resolved["ignore"] == LOOPBACK + resolved["ssh"]
    assert len(resolved["ssh"]) == 1
