"""The hardened OpenVPN server seen from a real OpenVPN client on a second lab host, with the certificate alone.

Runs after test_mfa.py on the same server: this module first converges it again with openvpn_mfa: none and a
waiver, the only variables the two modes differ in, so the scenario proves both without a second server, PKI and
client host.

Every refusal is checked twice: the client's tunnel never comes up, and the server's log names the hardening that
refused it, so a test cannot pass because the client never tried.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.verify import run_playbook, sandboxed_exposure
from lab.vpn_client import VpnProbe, put_file, replace_block

CONFIG = "/etc/openvpn/server/server.conf"
TLS11_CLIENT = ("--tls-version-min 1.0", "--tls-version-max 1.1", "--tls-cipher DEFAULT:@SECLEVEL=0")
PERMISSIVE_PORT = 1195
WAIVER = "accepted by the CISO until the phones arrive in May"
# The variables of a certificate-only server, given on top of the scenario's TOTP inventory.
CERTIFICATE_ONLY = ("-e", json.dumps({"openvpn_mfa": "none", "openvpn_mfa_waiver": WAIVER}))
Run = tuple[subprocess.CompletedProcess[str], str]


def directives(text: str) -> dict[str, str]:
    lines = [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {parts[0]: parts[1] if len(parts) > 1 else "" for parts in lines}


@pytest.fixture(scope="module", autouse=True)
def certificate_only(only_openvpn: Path) -> tuple[Run, Run]:
    """The TOTP server of test_mfa.py converged with MFA waived, then once more (which must change nothing)."""
    return run_playbook(only_openvpn, *CERTIFICATE_ONLY), run_playbook(only_openvpn, *CERTIFICATE_ONLY)


def test_a_written_waiver_turns_mfa_off_shows_the_waiver_and_removes_the_totp_check(
    certificate_only: tuple[Run, Run], server, probe: VpnProbe
) -> None:
    (run, output), _ = certificate_only
    assert run.returncode == 0, output
    assert (
        "WAIVER openvpn_mfa_waiver on vpn-server (ACC-03): MFA is off, the client certificate alone admits. "
        f"Justification: {WAIVER}"
    ) in output
    with server.sudo():
        assert not server.file("/etc/pam.d/openvpn-server").exists
        assert not server.file("/etc/openvpn/server/server-totp.users").exists
        assert "openvpn-plugin-auth-pam" not in server.file(CONFIG).content_string
    assert "auth-user-pass" not in probe.profile("alice-laptop")


def test_the_certificate_only_converge_is_idempotent(certificate_only: tuple[Run, Run]) -> None:
    _, (again, output) = certificate_only
    assert again.returncode == 0, output
    assert re.search(r"vpn-server\s*: ok=\d+\s+changed=0\s", again.stdout), output


@pytest.fixture(scope="module")
def config(server) -> dict[str, str]:
    with server.sudo():
        return directives(server.file(CONFIG).content_string)


def test_server_configuration_is_hardened(config: dict[str, str]) -> None:
    expected = {
        "tls-version-min": "1.2",
        "data-ciphers": "AES-256-GCM:CHACHA20-POLY1305",
        "auth": "SHA256",
        "remote-cert-tls": "client",
        "verify-client-cert": "require",
        "crl-verify": "/etc/ssl/secure-tenant/crl.pem",
        "tls-crypt": "/etc/openvpn/server/server-tls-crypt.key",
        "user": "nobody",
        "group": "nogroup",
        "topology": "subnet",
        "server": "10.8.0.0 255.255.255.0",
        "management": "/run/openvpn-server/server.sock unix",
        "allow-compression": "no",
        "dh": "none",
    }
    assert {key: config.get(key) for key in expected} == expected
    assert "persist-key" in config and "persist-tun" in config
    assert all("GCM" in suite or "CHACHA20" in suite for suite in config["tls-cipher"].split(":"))
    assert config["tls-ciphersuites"]  # OpenSSL 3 detected: TLS 1.3 suites pinned too
    # journald only: no log file, no compression, no scripts beyond the built-in ones
    assert not {"log", "log-append", "compress", "comp-lzo"} & config.keys()
    assert config["script-security"] == "1"


def test_server_runs_unprivileged_listens_on_udp_only_and_logs_to_journald(server) -> None:
    assert server.service("openvpn-server@server").is_running
    assert server.service("openvpn-server@server").is_enabled
    assert server.check_output("ps -o user= -C openvpn").split() == ["nobody"]
    with server.sudo():
        sockets = server.check_output("ss -Hlnup; ss -Hlntp")
        journal = server.check_output("journalctl -u openvpn-server@server --no-pager -o cat")
        management = server.file("/run/openvpn-server/server.sock")
        assert management.is_socket and management.user == "root"
    openvpn_sockets = [line for line in sockets.splitlines() if "openvpn" in line]
    assert (
        len(openvpn_sockets) == 1
        and ":1194 " in openvpn_sockets[0]
        and openvpn_sockets[0].startswith("UNCONN")
    )
    assert "Initialization Sequence Completed" in journal
    assert "UID set to nobody" in journal


def test_tls_crypt_key_is_root_only(server) -> None:
    with server.sudo():
        key = server.file("/etc/openvpn/server/server-tls-crypt.key")
        assert (key.user, key.mode) == ("root", 0o600)
        assert "OpenVPN Static key V1" in key.content_string


def test_config_check_accepts_the_live_configuration_and_refuses_a_broken_one(server) -> None:
    with server.sudo():
        assert server.run(f"/usr/local/sbin/openvpn-config-check {CONFIG}").rc == 0
        server.check_output(
            f"sed 's#^crl-verify .*#crl-verify /nonexistent/crl.pem#' {CONFIG} > /root/broken.conf"
        )
        broken = server.run("/usr/local/sbin/openvpn-config-check /root/broken.conf")
        server.run("rm -f /root/broken.conf")
    assert broken.rc != 0 and "/nonexistent/crl.pem" in broken.stderr


def test_forwarding_is_on_and_only_the_client_range_is_masqueraded(server) -> None:
    assert server.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
    with server.sudo():
        ruleset = json.loads(server.check_output("nft -j list table ip openvpn_server_nat"))["nftables"]
    rules = [item["rule"] for item in ruleset if "rule" in item]
    assert len(rules) == 1
    text = json.dumps(rules[0]["expr"])
    assert '"prefix": {"addr": "10.8.0.0", "len": 24}' in text and "masquerade" in text


def nat_packets(server) -> int:
    with server.sudo():
        ruleset = json.loads(server.check_output("nft -j list table ip openvpn_server_nat"))["nftables"]
    rule = next(item["rule"] for item in ruleset if "rule" in item)
    return next(expr["counter"]["packets"] for expr in rule["expr"] if "counter" in expr)


def test_valid_certificate_connects_pings_the_server_and_reaches_beyond_it_through_nat(
    probe: VpnProbe, client, server
) -> None:
    gateway = server.ansible("setup")["ansible_facts"]["ansible_default_ipv4"]["gateway"]
    before = nat_packets(server)
    with probe.attempt(probe.profile("alice-laptop")) as attempt:
        assert attempt.connected, attempt.client_log
        assert "Control Channel: TLSv1.3" in attempt.client_log
        assert "alice-laptop" in attempt.server_log
        assert client.run("ping -c 3 -W 2 10.8.0.1").rc == 0
        assert "dev tun" in client.check_output(f"ip route get {gateway}")
        assert client.run(f"ping -c 3 -W 2 {gateway}").rc == 0
    assert nat_packets(server) > before


def test_client_without_certificate_is_refused(probe: VpnProbe) -> None:
    profile = replace_block(replace_block(probe.profile("alice-laptop"), "cert", None), "key", None)
    # Without cert and key the client only starts with some other credential; the server must still refuse.
    refusal = "peer did not return a certificate"
    with probe.attempt(
        profile, credentials=("alice-laptop", "not-a-certificate"), refusal=refusal
    ) as attempt:
        assert not attempt.connected, attempt.client_log
    assert refusal in attempt.server_log


def test_revoked_certificate_is_refused(probe: VpnProbe, stolen: dict[str, str]) -> None:
    profile = replace_block(
        replace_block(probe.profile("alice-laptop"), "cert", stolen["cert"]), "key", stolen["key"]
    )
    refusal = "VERIFY ERROR: depth=0, error=certificate revoked"
    with probe.attempt(profile, refusal=refusal) as attempt:
        assert not attempt.connected, attempt.client_log
    assert refusal in attempt.server_log
    assert "CN=mallory-laptop" in attempt.server_log


def test_wrong_tls_crypt_key_is_dropped_before_tls(probe: VpnProbe, client) -> None:
    wrong_key = client.check_output("sudo openvpn --genkey secret /dev/stdout")
    profile = replace_block(probe.profile("alice-laptop"), "tls-crypt", wrong_key)
    with probe.attempt(profile, refusal="tls-crypt unwrapping failed") as attempt:
        assert not attempt.connected, attempt.client_log
    assert "tls-crypt unwrapping failed" in attempt.server_log
    assert "TLS: Initial packet" not in attempt.server_log


@pytest.fixture(scope="module")
def permissive_server(server) -> Iterator[str]:
    """A second server on the same host and PKI whose only difference is that it allows TLS 1.0/1.1, to prove the
    TLS 1.1 client below really offers TLS 1.1 and is refused by the hardened server's floor, not by itself.
    (OpenVPN 2.6 with OpenSSL 3 refuses TLS 1.1 even without tls-version-min, so "permissive" must say so.)"""
    with server.sudo():
        text = server.file(CONFIG).content_string
    dropped = ("tls-version-min", "tls-cipher ", "management", "port ", "server ")
    lines = [line for line in text.splitlines() if not line.startswith(dropped)]
    lines += [
        f"port {PERMISSIVE_PORT}",
        "server 10.9.0.0 255.255.255.0",
        "tls-version-min 1.0",
        "tls-cipher DEFAULT:@SECLEVEL=0",
    ]
    put_file(server, "/etc/openvpn/server/permissive.conf", "\n".join(lines) + "\n")
    with server.sudo():
        server.check_output("systemctl start openvpn-server@permissive")
    yield "openvpn-server@permissive"
    with server.sudo():
        server.run("systemctl stop openvpn-server@permissive")
        server.run("rm -f /etc/openvpn/server/permissive.conf")


def test_tls_1_1_client_is_refused_by_the_hardened_server_yet_accepted_by_a_permissive_one(
    probe: VpnProbe, permissive_server: str
) -> None:
    profile = probe.profile("alice-laptop")
    with probe.attempt(profile, *TLS11_CLIENT, refusal="unsupported protocol") as attempt:
        assert not attempt.connected, attempt.client_log
    assert "unsupported protocol" in attempt.server_log
    with probe.attempt(profile, *TLS11_CLIENT, port=PERMISSIVE_PORT, unit=permissive_server) as control:
        assert control.connected, control.client_log + control.server_log
        assert "Control Channel: TLSv1.1" in control.client_log


def test_openvpn_older_than_the_minimum_fails_before_anything_changes(server, only_openvpn: Path) -> None:
    installed = server.check_output("dpkg-query -W -f '${Version}' openvpn").split("-")[0]
    with server.sudo():
        before = server.file(CONFIG).md5sum
    too_new = {"openvpn_min_version": "9.9.0", "openvpn_profiles_enabled": False}
    run, output = run_playbook(only_openvpn, *CERTIFICATE_ONLY, "-e", json.dumps(too_new))
    assert run.returncode != 0
    assert f"OpenVPN {installed} is installed on vpn-server but openvpn_min_version requires 9.9.0" in output
    assert "Nothing was changed" in output
    assert re.search(r"vpn-server\s*:.*changed=0", run.stdout)
    with server.sudo():
        assert server.file(CONFIG).md5sum == before


@pytest.mark.parametrize("unit", ["openvpn-server@server.service", "openvpn-nat-server.service"])
def test_server_and_nat_run_in_their_sandboxes_rated_ok_or_better(server, unit: str) -> None:
    exposure = sandboxed_exposure(server, unit)
    print(f"{unit}: {exposure.value} {exposure.rating}")
    # The server still drops to nobody and keeps NET_ADMIN only; it sees a private /dev with the tun device.
    with server.sudo():
        pid = server.check_output(f"systemctl show --property=MainPID --value {unit}")
        if pid != "0":
            assert server.check_output(f"ps -o user= -p {pid}") == "nobody"
            assert server.check_output(f"grep CapBnd /proc/{pid}/status") == "CapBnd:\t00000000000011c0"
            assert server.check_output(f"ls /proc/{pid}/root/dev/net") == "tun"
