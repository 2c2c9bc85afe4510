"""Where the openvpn scenarios' hosts and files are: molecule's inventory and ephemeral directory. The client
probe itself is lab/vpn_client.py, shared with the demo's verify."""

from __future__ import annotations

import os
from pathlib import Path

import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
PROFILES = EPHEMERAL / "pki" / "profiles" / "vpn-server"


def lab_host(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")
