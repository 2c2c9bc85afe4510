"""The bastion's multi-factor VPN seen from a real OpenVPN client on a second lab host (ACC-03): a tenant's person
gets in with their device's certificate and a fresh code from their enrolment, and is refused without the code,
with a wrong one, and with another person's. No generated secret is written anywhere it should not be.

Run by `make demo` after playbooks/bastion.yml, which sets ANSIBLE_VAULT_PASSWORD_FILE and SECURE_TENANT_SECRETS_FILE
(lab/vault.py): the secrets file the converge wrote and the throwaway password that encrypts it.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testinfra.host import Host

from lab import vault, vpn_client
from lab.vpn_client import VpnProbe, secret_from_uri, totp

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
# Where lab/demo.py keeps each step's whole Ansible output.
DEMO_LOGS = ROOT / "build" / "demo"


def required_env(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `make demo` (python -m lab.demo)")
    return Path(value)


@pytest.fixture(scope="module")
def facts(host: Host) -> dict[str, Any]:
    return dict(host.ansible.get_variables())


@pytest.fixture(scope="module")
def profiles(facts: dict[str, Any]) -> Path:
    """The pki role's default CA directory on the controller, and the openvpn role's profile directory in it."""
    ca_dir = f"{facts['secure_tenant_tenant']}-{facts['secure_tenant_environment']}"
    return Path.home() / ".secure-tenant" / "pki" / ca_dir / "profiles" / facts["inventory_hostname"]


@pytest.fixture(scope="module")
def clients(facts: dict[str, Any]) -> list[dict[str, str]]:
    """The tenant's present VPN clients, as the demo passed them to the playbook."""
    listed = yaml.safe_load(
        (ROOT / "tenants" / facts["secure_tenant_tenant"] / "vpn-clients.yml").read_text()
    )
    return [client for client in listed["secure_tenant_vpn_clients"] if client.get("state") != "revoked"]


@pytest.fixture(scope="module")
def enrolled(profiles: Path, clients: list[dict[str, str]]) -> dict[str, str]:
    """{person: hex secret} as each person's authenticator app reads it from their enrolment URI."""
    people = {client["person"] for client in clients}
    return {person: secret_from_uri((profiles / f"{person}.totp-uri.txt").read_text()) for person in people}


@pytest.fixture(scope="module")
def probe(host: Host, profiles: Path) -> Iterator[VpnProbe]:
    with vpn_client.booted_client("vpn-client") as client:
        yield VpnProbe(client, host, profiles)


@pytest.fixture(scope="module")
def tunnel_address(facts: dict[str, Any]) -> str:
    """The bastion's own address in the VPN client range (OpenVPN's `server` takes the first one)."""
    return str(ipaddress.ip_network(facts["secure_tenant_vpn_client_cidr"]).network_address + 1)


def test_every_person_is_enrolled_and_the_secrets_file_keeps_their_secrets_encrypted(
    enrolled: dict[str, str], profiles: Path
) -> None:
    store = required_env(vault.SECRETS_FILE_VARIABLE)
    stored = vault.read_secrets(store, required_env("ANSIBLE_VAULT_PASSWORD_FILE"))
    assert stored == enrolled
    assert all(f"  {person}: !vault |" in store.read_text() for person in enrolled)
    for person in enrolled:
        for suffix in ("totp-uri.txt", "totp-qr.png", "enrolment.md"):
            assert (profiles / f"{person}.{suffix}").stat().st_mode & 0o777 == 0o600
        assert (profiles / f"{person}.totp-qr.png").read_bytes().startswith(b"\x89PNG\r\n")


def test_the_bastion_asks_for_a_code_of_each_present_certificate(
    host: Host, clients: list[dict[str, str]], enrolled: dict[str, str]
) -> None:
    with host.sudo():
        config = host.file("/etc/openvpn/server/server.conf").content_string
        users = host.file("/etc/openvpn/server/server-totp.users").content_string
    assert "plugin openvpn-plugin-auth-pam.so" in config
    lines = [line.split()[:4] for line in users.splitlines() if line.startswith("HOTP")]
    assert lines == [["HOTP/T30/6", client["name"], "-", enrolled[client["person"]]] for client in clients]


def test_certificate_and_fresh_code_connect_and_reach_ssh_through_the_tunnel(
    probe: VpnProbe, enrolled: dict[str, str], tunnel_address: str
) -> None:
    ssh_banner = f"timeout 5 bash -c 'exec 3<>/dev/tcp/{tunnel_address}/22 && head -c 8 <&3'"
    assert not probe.client.run(ssh_banner).succeeded  # no route to the bastion's tunnel address before
    with probe.attempt(
        probe.profile("alice-laptop"), credentials=("alice", totp(enrolled["alice"]))
    ) as attempt:
        assert attempt.connected, attempt.client_log + attempt.server_log
        assert "alice-laptop" in attempt.server_log
        assert probe.client.check_output(ssh_banner).startswith("SSH-2.0")


def test_certificate_without_a_code_is_refused(probe: VpnProbe) -> None:
    profile = probe.profile("alice-laptop").replace("\nauth-user-pass\n", "\n")
    with probe.attempt(profile) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "Auth Username/Password was not provided by peer" in attempt.server_log


def test_certificate_with_a_wrong_code_is_refused(probe: VpnProbe, enrolled: dict[str, str]) -> None:
    stale = totp(enrolled["alice"], at=time.time() - 3600)  # well-formed, an hour old
    with probe.attempt(probe.profile("alice-laptop"), credentials=("alice", stale)) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "AUTH_FAILED" in attempt.client_log
    assert "failed to authenticate" in attempt.server_log


def test_certificate_with_another_persons_code_is_refused(probe: VpnProbe, enrolled: dict[str, str]) -> None:
    # bob's laptop with alice's valid code and name: the code must be of the certificate's own person.
    with probe.attempt(
        probe.profile("bob-laptop"), credentials=("alice", totp(enrolled["alice"]))
    ) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "AUTH_FAILED" in attempt.client_log
    assert "failed to authenticate" in attempt.server_log


def test_no_generated_secret_appears_in_the_repository_the_ansible_output_or_the_profiles(
    host: Host, enrolled: dict[str, str], profiles: Path
) -> None:
    logs = {f"demo log {path.name}": path.read_text() for path in DEMO_LOGS.glob("*converge*.log")}
    assert any("PLAY RECAP" in text for text in logs.values()), f"no Ansible output found in {DEMO_LOGS}"
    texts = {f"repository {name}": text for name, text in vault.repository_texts(ROOT).items()}
    texts |= logs
    texts |= {f"profile {path.name}": path.read_text() for path in profiles.glob("*.ovpn")}
    texts |= {f"instruction {path.name}": path.read_text() for path in profiles.glob("*.enrolment.md")}
    texts["secrets file"] = required_env(vault.SECRETS_FILE_VARIABLE).read_text()
    with host.sudo():
        texts["bastion journal"] = host.check_output("journalctl --no-pager -o cat")
    assert vault.leaks(list(enrolled.values()), texts) == []
