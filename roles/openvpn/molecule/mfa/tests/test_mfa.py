"""openvpn_mfa: totp on a real server and client: a login needs the certificate AND a current one-time code of the
same certificate's name; codes of other users, wrong codes and replayed codes are refused by PAM on the server."""

from __future__ import annotations

import hashlib
import hmac
import struct
import time

import pytest
from vpn_probe import VpnProbe, replace_block


def totp(secret_hex: str, at: float | None = None) -> str:
    """RFC 6238 code (HMAC-SHA1, 30 s, 6 digits), what an authenticator app shows."""
    counter = int(time.time() if at is None else at) // 30
    digest = hmac.new(bytes.fromhex(secret_hex), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


@pytest.fixture(scope="module")
def secrets(server) -> dict[str, str]:
    users = server.ansible.get_variables()["openvpn_mfa_users"]
    return {user["name"]: user["secret"] for user in users}


def test_server_asks_pam_for_a_code_of_the_certificate_name(server) -> None:
    with server.sudo():
        config = server.file("/etc/openvpn/server/server.conf").content_string
        pam = server.file("/etc/pam.d/openvpn-server").content_string
        users = server.file("/etc/openvpn/server/server-totp.users")
        assert (users.user, users.mode) == ("root", 0o600)
    assert 'plugin openvpn-plugin-auth-pam.so "openvpn-server login COMMONNAME one-time PASSWORD"' in config
    assert "auth-gen-token 43200" in config
    assert "pam_oath.so usersfile=/etc/openvpn/server/server-totp.users" in pam


def test_profile_asks_for_the_code(probe: VpnProbe) -> None:
    assert "\nauth-user-pass\n" in probe.profile("alice-laptop")


def test_certificate_and_current_code_connect_and_a_replayed_code_is_refused(
    probe: VpnProbe, client, secrets: dict[str, str]
) -> None:
    code = totp(secrets["alice-laptop"])
    with probe.attempt(probe.profile("alice-laptop"), credentials=("alice", code)) as attempt:
        assert attempt.connected, attempt.client_log + attempt.server_log
        assert client.run("ping -c 3 -W 2 10.8.0.1").rc == 0
    with probe.attempt(probe.profile("alice-laptop"), credentials=("alice", code)) as replay:
        assert not replay.connected, replay.client_log
    assert "AUTH_FAILED" in replay.client_log
    assert "failed to authenticate" in replay.server_log


def test_wrong_code_is_refused(probe: VpnProbe, secrets: dict[str, str]) -> None:
    # A code from an hour ago: well-formed, outside the window.
    code = totp(secrets["alice-laptop"], at=time.time() - 3600)
    with probe.attempt(probe.profile("alice-laptop"), credentials=("alice-laptop", code)) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "AUTH_FAILED" in attempt.client_log
    assert "failed to authenticate" in attempt.server_log


def test_code_of_another_person_is_refused_even_with_their_name(
    probe: VpnProbe, secrets: dict[str, str]
) -> None:
    # bob's certificate, alice's valid code and name: the PAM user is the certificate's CN, so this fails.
    code = totp(secrets["alice-laptop"])
    with probe.attempt(probe.profile("bob-laptop"), credentials=("alice-laptop", code)) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "AUTH_FAILED" in attempt.client_log
    assert "failed to authenticate" in attempt.server_log


def test_certificate_without_a_code_is_refused(probe: VpnProbe) -> None:
    profile = probe.profile("bob-laptop").replace("\nauth-user-pass\n", "\n")
    with probe.attempt(profile) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "Auth Username/Password was not provided by peer" in attempt.server_log


def test_revoked_certificate_is_refused_even_with_a_valid_code(
    probe: VpnProbe, stolen: dict[str, str], secrets: dict[str, str]
) -> None:
    profile = replace_block(
        replace_block(probe.profile("alice-laptop"), "cert", stolen["cert"]), "key", stolen["key"]
    )
    with probe.attempt(profile, credentials=("alice-laptop", totp(secrets["alice-laptop"]))) as attempt:
        assert not attempt.connected, attempt.client_log
    assert "VERIFY ERROR: depth=0, error=certificate revoked" in attempt.server_log
    assert "CN=mallory-laptop" in attempt.server_log
