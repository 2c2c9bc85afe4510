"""A real OpenVPN client on a lab host, and the authenticator app of its person: shared by the openvpn role's
molecule scenarios and the demo's verify (tests/bastion).

A connection attempt reports whether the tunnel came up and what the server logged about it meanwhile, so a test
can tell a refusal by the server's hardening from a client that never tried.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import testinfra

from lab import hosts

CONNECTED = "Initialization Sequence Completed"
WORK = "/run/vpn-probe"
# The openvpn role's tls-crypt key of its default instance (openvpn_tls_crypt_key_file).
SERVER_TLS_CRYPT_KEY = "/etc/openvpn/server/server-tls-crypt.key"


class ForeignProfileError(RuntimeError):
    """A profile carries another server's tls-crypt key: the server would drop every packet before TLS."""


def totp(secret_hex: str, at: float | None = None) -> str:
    """RFC 6238 code (HMAC-SHA1, 30 s, 6 digits), what an authenticator app shows."""
    counter = int(time.time() if at is None else at) // 30
    digest = hmac.new(bytes.fromhex(secret_hex), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def secret_from_uri(uri: str) -> str:
    """The hex secret of an otpauth://totp URI, read as an authenticator app reads it (base32, padding optional)."""
    parsed = urlparse(uri.strip())
    if parsed.scheme != "otpauth" or parsed.netloc != "totp":
        raise ValueError(f"not an otpauth://totp URI: {uri[:16]}...")
    encoded = parse_qs(parsed.query)["secret"][0].upper()
    return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).hex()


def inline_block(profile: str, tag: str) -> str | None:
    """The content of an inline <tag>...</tag> block of a profile, stripped, or None without one."""
    found = re.search(rf"<{tag}>(.*?)</{tag}>", profile, flags=re.DOTALL)
    return found.group(1).strip() if found else None


def replace_block(profile: str, tag: str, content: str | None) -> str:
    """Swap (or with None drop) an inline <tag>...</tag> block of a profile."""
    block = f"<{tag}>\n{content.strip()}\n</{tag}>" if content is not None else ""
    return re.sub(rf"<{tag}>.*?</{tag}>", lambda _: block, profile, flags=re.DOTALL)


def put_file(host: testinfra.host.Host, path: str, content: str) -> None:
    """Write a root-only file on a lab host (through the SSH command line, faster than an Ansible copy)."""
    encoded = base64.b64encode(content.encode()).decode()
    host.check_output(f"echo {encoded} | base64 -d | sudo install -m 0600 /dev/stdin {path}")


@dataclass(frozen=True)
class Attempt:
    connected: bool
    client_log: str
    server_log: str


class VpnProbe:
    """Runs the OpenVPN client on the client host against the server host, with the profiles in `profiles`."""

    def __init__(self, client: testinfra.host.Host, server: testinfra.host.Host, profiles: Path) -> None:
        self.client = client
        self.server = server
        self.profiles = profiles
        self.server_address: str = server.ansible.get_variables()["ansible_host"]

    @cached_property
    def _tls_crypt_key(self) -> str:
        return str(self.server.check_output(f"sudo cat {SERVER_TLS_CRYPT_KEY}")).strip()

    def profile(self, name: str) -> str:
        """The profile as the openvpn role rendered it for this server. One with another server's tls-crypt key is
        refused here: a test would otherwise see a handshake timeout instead of the refusal it looks for."""
        text = (self.profiles / f"{name}.ovpn").read_text()
        if inline_block(text, "tls-crypt") != self._tls_crypt_key:
            raise ForeignProfileError(
                f"{self.profiles / name}.ovpn carries a tls-crypt key other than {SERVER_TLS_CRYPT_KEY} of the "
                "server under test: another converge rewrote this profile directory meanwhile (two demos share "
                "~/.secure-tenant/pki); run one demo at a time, or give each its own PKI directory"
            )
        return text

    def _journal_cursor(self, unit: str) -> str:
        out = str(self.server.check_output(f"sudo journalctl -u {unit} -n 0 --show-cursor --no-pager"))
        return out.rsplit("cursor: ", 1)[1].strip()

    def _server_log(self, unit: str, cursor: str) -> str:
        return str(
            self.server.check_output(f"sudo journalctl -u {unit} --after-cursor '{cursor}' --no-pager -o cat")
        )

    @contextmanager
    def attempt(
        self,
        profile: str,
        *options: str,
        port: int = 1194,
        unit: str = "openvpn-server@server",
        credentials: tuple[str, str] | None = None,
        timeout_s: float = 30,
        refusal: str | None = None,
    ) -> Iterator[Attempt]:
        """Start the client with `profile` (its own remote replaced by the server and `port`) plus `options`,
        wait until the tunnel is up or the client gave up, and keep the tunnel up while the block runs.

        `refusal` is what the server logs when it refuses this client: once it is there the wait ends, since a
        client the server drops over UDP hears nothing and would wait out its handshake window."""
        profile = re.sub(r"(?m)^remote .*$", "", profile)
        self.client.check_output(f"sudo install -d -m 0700 {WORK}")
        put_file(self.client, f"{WORK}/client.ovpn", profile)
        args = [f"--config {WORK}/client.ovpn", *options]
        if credentials is not None:
            put_file(self.client, f"{WORK}/credentials", "\n".join(credentials) + "\n")
            args.append(f"--auth-user-pass {WORK}/credentials")
        cursor = self._journal_cursor(unit)
        self.client.check_output(
            f"sudo openvpn --daemon vpn-probe --writepid {WORK}/pid --log {WORK}/log "
            f"--remote {self.server_address} {port} --connect-retry-max 1 --tls-exit --hand-window 10 "
            f"--auth-retry none --verb 3 " + " ".join(args)
        )
        deadline = time.monotonic() + timeout_s
        log = ""
        while time.monotonic() < deadline:
            alive = self.client.run(f"sudo kill -0 $(sudo cat {WORK}/pid)").succeeded
            log = self.client.check_output(f"sudo cat {WORK}/log")
            if CONNECTED in log or not alive or (refusal and refusal in self._server_log(unit, cursor)):
                break
            time.sleep(0.5)
        time.sleep(0.5)  # let the server finish logging its side of the handshake
        server_log = self._server_log(unit, cursor)
        try:
            yield Attempt(CONNECTED in log, log, server_log)
        finally:
            self.client.run(f"sudo kill $(sudo cat {WORK}/pid)")
            for _ in range(20):
                if not self.client.run(f"sudo kill -0 $(sudo cat {WORK}/pid)").succeeded:
                    break
                time.sleep(0.25)
            self.client.run(f"sudo rm -rf {WORK}")


def testinfra_host(host: hosts.LabHost) -> testinfra.host.Host:
    """testinfra over SSH to a lab host booted outside molecule (throwaway host keys are not remembered)."""
    return testinfra.get_host(
        f"ssh://{host.user}@{host.address}:{host.port}",
        ssh_identity_file=host.identity_file,
        ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
    )


@contextmanager
def booted_client(name: str) -> Iterator[testinfra.host.Host]:
    """A fresh lab host with the OpenVPN client installed, destroyed afterwards."""
    host = hosts.create(name)
    try:
        client = testinfra_host(host)
        client.check_output("sudo apt-get update -qq && sudo apt-get install -y -qq openvpn >/dev/null")
        yield client
    finally:
        hosts.destroy(host.lab_id)
