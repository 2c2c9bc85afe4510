"""The openvpn role's controller side of MFA, run by the real ansible-playbook on this machine (where it runs in
production too): the vault file of TOTP secrets, the otpauth URI and the QR code. The server side is proven by the
openvpn role's molecule scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.vault import ThrowawayVault, leaks, read_secrets
from lab.vpn_client import secret_from_uri

ROLE = Path(__file__).resolve().parent.parent / "roles" / "openvpn"
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - openvpn_mfa_secrets:
        path: "{{ store }}"
        people: "{{ people }}"
        rotate: "{{ rotate | default([]) }}"
        forget: "{{ forget | default([]) }}"
      register: result
    - ansible.builtin.copy:
        content: "{{ result.secrets[item] | openvpn_totp_uri('acme-prod VPN', item) }}"
        dest: "{{ store | dirname }}/{{ item }}.uri"
        mode: "0600"
      loop: "{{ people }}"
      no_log: true
    - openvpn_qr_code:
        data: "{{ result.secrets[item] | openvpn_totp_uri('acme-prod VPN', item) }}"
        dest: "{{ store | dirname }}/{{ item }}.png"
      loop: "{{ people }}"
      no_log: true
"""


class Controller:
    """ansible-playbook with the role's plugins, a throwaway vault password and its store in a scratch directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.vault = ThrowawayVault(directory / "vault")
        self.store = directory / "secrets.vault.yml"
        self.playbook = directory / "playbook.yml"
        self.playbook.write_text(PLAYBOOK)

    def run(self, check: bool = True, password: Path | None | str = "", **extra: object) -> tuple[int, str]:
        """ansible-playbook -vv; `password` overrides the vault password file (None: no password at all)."""
        env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_VAULT_PASSWORD_FILE"}
        if password is not None:
            env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(password or self.vault.password_file)
        completed = subprocess.run(
            [
                str(Path(sys.executable).with_name("ansible-playbook")),
                "-vv",
                str(self.playbook),
                "-e",
                json.dumps({"store": str(self.store), **extra}),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={
                **env,
                "ANSIBLE_ACTION_PLUGINS": str(ROLE / "action_plugins"),
                "ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCALHOST_WARNING": "0",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            },
        )
        output = completed.stdout + completed.stderr
        if check:
            assert completed.returncode == 0, output
        return completed.returncode, " ".join(output.split())

    def secrets(self) -> dict[str, str]:
        return read_secrets(self.store, self.vault.password_file)

    def uri_secret(self, person: str) -> str:
        return secret_from_uri((self.directory / f"{person}.uri").read_text())


@pytest.fixture
def controller(tmp_path: Path) -> Controller:
    return Controller(tmp_path)


def test_a_secret_is_generated_once_per_person_encrypted_and_kept_byte_for_byte(
    controller: Controller,
) -> None:
    _, first = controller.run(people=["alice", "bob"])
    text, png = controller.store.read_text(), (controller.directory / "alice.png").read_bytes()
    secrets = controller.secrets()
    assert sorted(secrets) == ["alice", "bob"] and all(len(value) == 40 for value in secrets.values())
    assert secrets["alice"] != secrets["bob"]
    assert controller.store.stat().st_mode & 0o777 == 0o600
    assert "  alice: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n" in text
    assert controller.uri_secret("alice") == secrets["alice"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    _, second = controller.run(people=["alice", "bob"])
    assert "changed=0" in second
    assert controller.store.read_text() == text
    assert (controller.directory / "alice.png").read_bytes() == png
    assert leaks(list(secrets.values()), {"first run": first, "second run": second, "vault file": text}) == []


def test_rotation_replaces_only_the_named_persons_secret(controller: Controller) -> None:
    controller.run(people=["alice", "bob"])
    before, text = controller.secrets(), controller.store.read_text()
    _, output = controller.run(people=["alice", "bob"], rotate=["bob"])
    after = controller.secrets()
    assert after["alice"] == before["alice"] and after["bob"] != before["bob"]
    assert text.split("  bob:")[0] == controller.store.read_text().split("  bob:")[0]  # alice's ciphertext
    assert controller.uri_secret("bob") == after["bob"]
    assert leaks([before["bob"], after["bob"]], {"run": output}) == []


def test_forgetting_a_person_removes_their_secret_and_leaves_unlisted_people_alone(
    controller: Controller,
) -> None:
    controller.run(people=["alice", "bob", "carol"])
    before = controller.secrets()
    controller.run(people=["alice"], forget=["bob"])
    assert controller.secrets() == {"alice": before["alice"], "carol": before["carol"]}


def test_a_plaintext_secret_put_in_the_file_by_hand_is_encrypted_by_the_next_run(
    controller: Controller,
) -> None:
    plain = "00112233445566778899aabbccddeeff00112233"
    controller.store.write_text(f"openvpn_mfa_secrets:\n  alice: '{plain}'\n")
    controller.run(people=["alice"])
    assert plain not in controller.store.read_text()
    assert controller.secrets() == {"alice": plain}


def test_without_the_right_vault_password_the_run_stops_and_the_file_is_untouched(
    controller: Controller,
) -> None:
    controller.run(people=["alice"])
    text = controller.store.read_text()
    other = ThrowawayVault(controller.directory / "other").password_file
    rc, output = controller.run(check=False, password=other, people=["alice", "bob"])
    assert rc != 0
    assert (
        f"openvpn_mfa_secrets_file {controller.store}: cannot decrypt it with the vault password given"
        in output
    )
    rc, output = controller.run(check=False, password=None, people=["alice", "bob"])
    assert rc != 0
    assert "no vault password was given" in output and "set ANSIBLE_VAULT_PASSWORD_FILE" in output
    assert controller.store.read_text() == text


def test_a_file_that_is_not_a_secrets_mapping_is_refused_naming_it(controller: Controller) -> None:
    controller.store.write_text("openvpn_mfa_secret:\n  alice: x\n")
    rc, output = controller.run(check=False, people=["alice"])
    assert rc != 0
    assert "the file must hold one mapping, openvpn_mfa_secrets: {person: secret}" in output


def test_the_throwaway_password_is_random_owner_only_and_created_once(tmp_path: Path) -> None:
    vault = ThrowawayVault(tmp_path)
    first = vault.password_file.read_text()
    assert vault.password_file.stat().st_mode & 0o777 == 0o600
    assert len(first.strip()) >= 40 and vault.password_file.read_text() == first
    assert ThrowawayVault(tmp_path / "other").password_file.read_text() != first
