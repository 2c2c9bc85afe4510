"""The stack-outputs inventory, read by the real `ansible-inventory`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "playbooks" / "inventory" / "pulumi_stack.py"
SAMPLE = ROOT / "tests" / "fixtures" / "acme-prod-outputs.json"


def ansible_inventory(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(INVENTORY), "--list"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_saved_stack_outputs_become_the_bastions_group_with_role_facts() -> None:
    result = ansible_inventory(SECURE_TENANT_STACK_OUTPUTS=str(SAMPLE))
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    assert inventory["bastions"]["hosts"] == ["acme-prod-bastion"]
    host = inventory["_meta"]["hostvars"]["acme-prod-bastion"]
    assert host["ansible_host"] == "198.51.100.10"
    assert host["secure_tenant_vpn_client_cidr"] == "10.250.0.0/24"
    assert host["secure_tenant_vpn_port"] == 1194 and host["secure_tenant_vpn_protocol"] == "udp"
    assert host["secure_tenant_dns_resolver"] == "10.20.0.2"


def test_the_connection_address_can_be_overridden_for_vpn_or_lab_access() -> None:
    result = ansible_inventory(
        SECURE_TENANT_STACK_OUTPUTS=str(SAMPLE),
        SECURE_TENANT_BASTION_HOST="10.77.9.2",
        SECURE_TENANT_MANAGEMENT_CIDRS="10.77.9.1/32, 192.0.2.0/28",
    )
    host = json.loads(result.stdout)["_meta"]["hostvars"]["acme-prod-bastion"]
    assert host["ansible_host"] == "10.77.9.2"
    assert host["secure_tenant_bastion_public_ip"] == "198.51.100.10"
    assert host["secure_tenant_management_cidrs"] == ["10.77.9.1/32", "192.0.2.0/28"]


def test_outputs_without_a_bastion_are_refused_with_the_fix(tmp_path: Path) -> None:
    partial = {k: v for k, v in json.loads(SAMPLE.read_text()).items() if k != "bastionPublicIp"}
    (tmp_path / "outputs.json").write_text(json.dumps(partial))
    result = subprocess.run(
        [sys.executable, str(INVENTORY), "--list"],
        env={**os.environ, "SECURE_TENANT_STACK_OUTPUTS": str(tmp_path / "outputs.json")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "bastionPublicIp" in result.stderr and "pulumi up" in result.stderr


def test_no_stack_named_says_how_to_name_one() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PULUMI_STACK", "SECURE_TENANT_STACK_OUTPUTS")}
    result = subprocess.run(
        [sys.executable, str(INVENTORY), "--list"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "PULUMI_STACK" in result.stderr
