"""Fixtures of the openvpn scenarios (pytest loads this file for tests under molecule/*/tests)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra
from vpn_probe import EPHEMERAL, PROFILES, lab_host

from lab.vpn_client import VpnProbe


@pytest.fixture(scope="session")
def server() -> testinfra.host.Host:
    return lab_host("vpn-server")


@pytest.fixture(scope="session")
def client() -> testinfra.host.Host:
    return lab_host("vpn-client")


@pytest.fixture(scope="session")
def probe(client: testinfra.host.Host, server: testinfra.host.Host) -> VpnProbe:
    return VpnProbe(client, server, PROFILES)


@pytest.fixture(scope="session")
def stolen() -> dict[str, str]:
    """mallory-laptop's certificate and key, kept by prepare.yml before converge revoked them."""
    return {
        "cert": (EPHEMERAL / "stolen" / "mallory-laptop.crt").read_text(),
        "key": (EPHEMERAL / "stolen" / "mallory-laptop.key").read_text(),
    }


@pytest.fixture(scope="session")
def only_openvpn() -> Iterator[Path]:
    """A playbook applying the openvpn role alone to the server (refusals come from its preflight)."""
    with tempfile.TemporaryDirectory() as scratch:
        playbook = Path(scratch) / "openvpn.yml"
        playbook.write_text("- hosts: vpn_servers\n  become: true\n  roles: [openvpn]\n")
        yield playbook
