"""Shared by the openvpn scenarios' tests: a real OpenVPN client on the client lab host, and the server's own log.

A connection attempt reports whether the tunnel came up and what the server logged about it meanwhile, so a test
can tell a refusal by the server's hardening from a client that never tried.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
PROFILES = EPHEMERAL / "pki" / "profiles" / "vpn-server"
CONNECTED = "Initialization Sequence Completed"
WORK = "/run/vpn-probe"


def lab_host(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


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
    """Runs the OpenVPN client on the client host against the server host."""

    def __init__(self, client: testinfra.host.Host, server: testinfra.host.Host) -> None:
        self.client = client
        self.server = server
        self.server_address = server.ansible.get_variables()["ansible_host"]

    def profile(self, name: str) -> str:
        return (PROFILES / f"{name}.ovpn").read_text()

    def _journal_cursor(self, unit: str) -> str:
        out = self.server.check_output(f"sudo journalctl -u {unit} -n 0 --show-cursor --no-pager")
        return out.rsplit("cursor: ", 1)[1].strip()

    @contextmanager
    def attempt(
        self,
        profile: str,
        *options: str,
        port: int = 1194,
        unit: str = "openvpn-server@server",
        credentials: tuple[str, str] | None = None,
        timeout_s: float = 30,
    ) -> Iterator[Attempt]:
        """Start the client with `profile` (its own remote replaced by the server and `port`) plus `options`,
        wait until the tunnel is up or the client gave up, and keep the tunnel up while the block runs."""
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
            if CONNECTED in log or not alive:
                break
            time.sleep(0.5)
        time.sleep(0.5)  # let the server finish logging its side of the handshake
        server_log = self.server.check_output(
            f"sudo journalctl -u {unit} --after-cursor '{cursor}' --no-pager -o cat"
        )
        try:
            yield Attempt(CONNECTED in log, log, server_log)
        finally:
            self.client.run(f"sudo kill $(sudo cat {WORK}/pid)")
            for _ in range(20):
                if not self.client.run(f"sudo kill -0 $(sudo cat {WORK}/pid)").succeeded:
                    break
                time.sleep(0.25)
            self.client.run(f"sudo rm -rf {WORK}")
