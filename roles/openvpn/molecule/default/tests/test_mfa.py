"""openvpn_mfa: totp on a real server and client: a login needs the certificate AND a current one-time code of the
certificate's person. The secrets are kept in an ansible-vault file (one per person, each value encrypted), enrolled
as a QR code a phone reads, rotated for one person on request and removed with a person's last device."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest
from vpn_probe import EPHEMERAL, PROFILES

from lab.vault import leaks, read_secrets, repository_texts
from lab.verify import run_playbook, sandboxed_exposure
from lab.vpn_client import VpnProbe, replace_block, secret_from_uri, totp

ROOT = Path(__file__).resolve().parents[5]
STORE = EPHEMERAL / "secrets.vault.yml"
PASSWORD = EPHEMERAL / "vault-password"
STOLEN = EPHEMERAL / "stolen"
USERS = "/etc/openvpn/server/server-totp.users"
REVOKED = "VERIFY ERROR: depth=0, error=certificate revoked"


def enrolled(person: str, directory: Path = PROFILES) -> str:
    """The hex secret a person's authenticator app holds after reading their enrolment URI."""
    return secret_from_uri((directory / f"{person}.totp-uri.txt").read_text())


def users_file(server) -> str:
    with server.sudo():
        return server.file(USERS).content_string


def stolen_credentials(name: str) -> dict[str, str]:
    return {part: (STOLEN / f"{name}.{part}").read_text() for part in ("crt", "key")}


def with_stolen_certificate(probe: VpnProbe, name: str) -> str:
    stolen = stolen_credentials(name)
    return replace_block(
        replace_block(probe.profile("bob-laptop"), "cert", stolen["crt"]), "key", stolen["key"]
    )


def test_server_asks_pam_for_a_code_of_the_certificate_name(server) -> None:
    with server.sudo():
        config = server.file("/etc/openvpn/server/server.conf").content_string
        pam = server.file("/etc/pam.d/openvpn-server").content_string
        users = server.file(USERS)
        assert (users.user, users.mode) == ("root", 0o600)
    assert 'plugin openvpn-plugin-auth-pam.so "openvpn-server login COMMONNAME one-time PASSWORD"' in config
    assert "auth-gen-token 43200" in config
    assert f"pam_oath.so usersfile={USERS}" in pam


def test_server_has_one_line_per_present_certificate_with_its_persons_secret(server) -> None:
    lines = [line.split()[:4] for line in users_file(server).splitlines() if line.startswith("HOTP")]
    assert lines == [
        ["HOTP/T30/6", "alice-laptop", "-", enrolled("alice")],
        ["HOTP/T30/6", "bob-laptop", "-", enrolled("bob")],
    ]


def test_secrets_are_kept_one_per_person_each_encrypted_in_the_vault_file() -> None:
    text = STORE.read_text()
    assert STORE.stat().st_mode & 0o777 == 0o600
    assert "  alice: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n" in text
    assert "  bob: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n" in text
    stored = read_secrets(STORE, PASSWORD)
    assert stored == {"alice": enrolled("alice"), "bob": enrolled("bob")}
    assert leaks(list(stored.values()), {"store": text}) == []


def test_enrolment_is_owner_only_and_the_qr_code_reads_back_as_the_uri(client) -> None:
    for person in ("alice", "bob"):
        for suffix in ("totp-uri.txt", "totp-qr.png", "enrolment.md"):
            assert (PROFILES / f"{person}.{suffix}").stat().st_mode & 0o777 == 0o600
        uri = (PROFILES / f"{person}.totp-uri.txt").read_text().strip()
        assert uri.startswith(f"otpauth://totp/vpn-server:{person}?secret=")
        assert "&issuer=vpn-server&algorithm=SHA1&digits=6&period=30" in uri
        # What a phone camera does: decode the picture, nothing else.
        png = (PROFILES / f"{person}.totp-qr.png").read_bytes()
        client.check_output(f"echo {base64.b64encode(png).decode()} | base64 -d > /tmp/qr.png")
        assert client.check_output("zbarimg --quiet --raw /tmp/qr.png") == uri
        instruction = (PROFILES / f"{person}.enrolment.md").read_text()
        assert f"`{person}.totp-qr.png`" in instruction and f"`{person}-laptop.ovpn`" in instruction
        assert leaks([enrolled(person)], {"instruction": instruction}) == []


def test_profile_asks_for_the_code(probe: VpnProbe) -> None:
    assert "\nauth-user-pass\n" in probe.profile("alice-laptop")


def test_certificate_and_current_code_connect_and_a_replayed_code_is_refused(probe: VpnProbe, client) -> None:
    code = totp(enrolled("alice"))
    with probe.attempt(probe.profile("alice-laptop"), credentials=("alice", code)) as attempt:
        assert attempt.connected, attempt.client_log + attempt.server_log
        assert client.run("ping -c 3 -W 2 10.8.0.1").rc == 0
    with probe.attempt(probe.profile("alice-laptop"), credentials=("alice", code)) as replay:
        assert not replay.connected, replay.client_log
    assert "AUTH_FAILED" in replay.client_log
    assert "failed to authenticate" in replay.server_log


def test_wrong_code_is_refused(probe: VpnProbe) -> None:
    # A code from an hour ago: well-formed, outside the window.
    code = totp(enrolled("alice"), at=time.time() - 3600)
    with probe.attempt(probe.profile("alice-laptop"), credentials=("alice-laptop", code)) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "AUTH_FAILED" in attempt.client_log
    assert "failed to authenticate" in attempt.server_log


def test_code_of_another_person_is_refused_even_with_their_name(probe: VpnProbe) -> None:
    # bob's certificate, alice's valid code and name: the PAM user is the certificate's CN, so this fails.
    code = totp(enrolled("alice"))
    with probe.attempt(probe.profile("bob-laptop"), credentials=("alice-laptop", code)) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "AUTH_FAILED" in attempt.client_log
    assert "failed to authenticate" in attempt.server_log


def test_certificate_without_a_code_is_refused(probe: VpnProbe) -> None:
    profile = probe.profile("bob-laptop").replace("\nauth-user-pass\n", "\n")
    refusal = "Auth Username/Password was not provided by peer"
    with probe.attempt(profile, refusal=refusal) as attempt:
        assert not attempt.connected, attempt.client_log
    assert refusal in attempt.server_log


def test_revoking_one_of_two_devices_keeps_the_persons_secret_but_refuses_that_device(
    probe: VpnProbe, server
) -> None:
    assert enrolled("alice") == enrolled(
        "alice", STOLEN
    )  # the secret she enrolled before the phone was revoked
    assert "alice-phone" not in users_file(server)
    profile = with_stolen_certificate(probe, "alice-phone")
    with probe.attempt(profile, credentials=("alice", totp(enrolled("alice"))), refusal=REVOKED) as attempt:
        assert not attempt.connected, attempt.client_log
    assert REVOKED in attempt.server_log
    assert "CN=alice-phone" in attempt.server_log


def test_a_revoked_person_cannot_connect_with_a_valid_code_and_loses_secret_and_enrolment(
    probe: VpnProbe, server
) -> None:
    profile = with_stolen_certificate(probe, "mallory-laptop")
    credentials = ("mallory", totp(enrolled("mallory", STOLEN)))
    with probe.attempt(profile, credentials=credentials, refusal=REVOKED) as attempt:
        assert not attempt.connected, attempt.client_log
    assert REVOKED in attempt.server_log
    assert "CN=mallory-laptop" in attempt.server_log
    assert "mallory" not in read_secrets(STORE, PASSWORD)
    assert "mallory" not in users_file(server)
    assert sorted(path.name for path in PROFILES.glob("mallory*")) == []
    assert "event=totp-secret-removed person=mallory" in (EPHEMERAL / "pki" / "audit.log").read_text()


def test_turning_mfa_off_is_refused_without_a_written_waiver(server, only_openvpn: Path) -> None:
    before = users_file(server)
    attempts = [
        {"openvpn_mfa": "none"},
        {"openvpn_mfa": "none", "openvpn_mfa_waiver": "   "},
        {"openvpn_mfa": "none", "openvpn_mfa_waiver": "ok"},
        # a misspelt waiver variable waives nothing
        {"openvpn_mfa": "none", "openvpn_mfa_waver": "accepted by the CISO until the phones arrive in May"},
    ]
    for extra_vars in attempts:
        run, output = run_playbook(only_openvpn, "-e", json.dumps(extra_vars))
        assert run.returncode != 0, extra_vars
        assert "openvpn_mfa is none on vpn-server" in output and "openvpn_mfa_waiver" in output, extra_vars
    assert users_file(server) == before
    # With a written waiver the run passes and shows it: test_openvpn.py converges the server that way.


def test_a_wrong_vault_password_stops_the_run_before_the_host_is_touched(
    server, only_openvpn: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store, users = STORE.read_bytes(), users_file(server)
    monkeypatch.setenv("SECURE_TENANT_VAULT_DIR", str(tmp_path))  # lab/vault.py makes another password there
    run, output = run_playbook(only_openvpn)
    assert run.returncode != 0
    assert f"openvpn_mfa_secrets_file {STORE}: cannot decrypt it with the vault password given" in output
    assert re.search(r"vpn-server : ok=\d+ changed=0 ", output)
    assert (STORE.read_bytes(), users_file(server)) == (store, users)


def test_rotating_a_misspelt_person_is_refused_before_any_change(only_openvpn: Path) -> None:
    store = STORE.read_bytes()
    run, output = run_playbook(only_openvpn, "-e", "openvpn_mfa_rotate=bobb")
    assert run.returncode != 0
    assert "openvpn_mfa_rotate may only name people with a present device (unknown: ['bobb']" in output
    assert STORE.read_bytes() == store


def test_no_secret_appears_in_the_repository_the_profiles_or_the_servers_journal(server) -> None:
    known = [enrolled(person, STOLEN) for person in ("alice", "bob", "mallory")] + [enrolled("bob")]
    texts = {f"repository {name}": text for name, text in repository_texts(ROOT).items()}
    texts |= {f"profile {path.name}": path.read_text() for path in PROFILES.glob("*.ovpn")}
    texts["vault file"] = STORE.read_text()
    with server.sudo():
        texts["server journal"] = server.check_output("journalctl --no-pager -o cat")
    assert leaks(known, texts) == []


def test_rotating_one_person_replaces_only_their_secret(probe: VpnProbe, only_openvpn: Path) -> None:
    """Last: it changes bob's secret."""
    old_bob, alice_qr = enrolled("bob"), (PROFILES / "alice.totp-qr.png").read_bytes()
    alice_ciphertext = STORE.read_text().split("  alice: ")[1].split("  bob: ")[0]
    run, output = run_playbook(only_openvpn, "-vv", "-e", "openvpn_mfa_rotate=bob")
    assert run.returncode == 0, output
    new_bob = enrolled("bob")
    assert new_bob != old_bob and read_secrets(STORE, PASSWORD)["bob"] == new_bob
    assert STORE.read_text().split("  alice: ")[1].split("  bob: ")[0] == alice_ciphertext
    assert (PROFILES / "alice.totp-qr.png").read_bytes() == alice_qr
    assert "rotated for ['bob']" in output
    assert "event=totp-secret-rotated person=bob" in (EPHEMERAL / "pki" / "audit.log").read_text()
    assert leaks([old_bob, new_bob, enrolled("alice")], {"ansible-playbook -vv output": output}) == []
    with probe.attempt(probe.profile("bob-laptop"), credentials=("bob", totp(old_bob))) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "failed to authenticate" in attempt.server_log
    with probe.attempt(probe.profile("bob-laptop"), credentials=("bob", totp(new_bob))) as attempt:
        assert attempt.connected, attempt.client_log + attempt.server_log


def test_server_with_totp_runs_in_its_sandbox_rated_ok_or_better(server) -> None:
    exposure = sandboxed_exposure(server, "openvpn-server@server.service")
    print(f"openvpn-server@server.service with TOTP: {exposure.value} {exposure.rating}")
