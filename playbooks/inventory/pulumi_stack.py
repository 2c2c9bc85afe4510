#!/usr/bin/env python3
"""Ansible dynamic inventory from a tenant stack's outputs.

Reads `pulumi stack output --json --show-secrets` for the stack named by $PULUMI_STACK, or, offline, the saved
JSON file named by $SECURE_TENANT_STACK_OUTPUTS. The bastion lands in group `bastions` with the facts the roles
need as `secure_tenant_*` host vars; playbooks/group_vars/bastions.yml maps them onto the roles' variables.
$SECURE_TENANT_BASTION_HOST overrides the address Ansible connects to (e.g. over the VPN, or a lab host), and
$SECURE_TENANT_MANAGEMENT_CIDRS (comma-separated) names networks that may reach SSH besides the VPN range
(a break-glass admin network, or the lab's controller).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REQUIRED_OUTPUTS = (
    "tenant",
    "environment",
    "bastionPublicIp",
    "bastionPrivateIp",
    "vpnClientCidr",
    "vpcCidr",
    "dnsResolver",
)
OPTIONAL_OUTPUTS = {"vpnPort": 1194, "vpnProtocol": "udp", "region": None, "bastionInstanceId": None}


class InventoryError(Exception):
    pass


def read_outputs() -> dict[str, Any]:
    saved = os.environ.get("SECURE_TENANT_STACK_OUTPUTS")
    if saved:
        path = Path(saved)
        if not path.is_file():
            raise InventoryError(f"SECURE_TENANT_STACK_OUTPUTS={saved}: no such file")
        return dict(json.loads(path.read_text()))
    stack = os.environ.get("PULUMI_STACK")
    if not stack:
        raise InventoryError(
            "set PULUMI_STACK=<tenant>-<env> (reads `pulumi stack output`) "
            "or SECURE_TENANT_STACK_OUTPUTS=<saved outputs JSON>"
        )
    completed = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
        check=False,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise InventoryError(f"pulumi stack output failed for {stack}: {completed.stderr.strip()}")
    return dict(json.loads(completed.stdout))


def build_inventory(
    outputs: dict[str, Any], address_override: str | None = None, management_cidrs: str = ""
) -> dict[str, Any]:
    missing = [key for key in REQUIRED_OUTPUTS if outputs.get(key) in (None, "")]
    if missing:
        raise InventoryError(f"stack outputs lack {', '.join(missing)}: run `pulumi up` for the stack first")
    values = {**OPTIONAL_OUTPUTS, **{k: v for k, v in outputs.items() if v is not None}}
    host = f"{values['tenant']}-{values['environment']}-bastion"
    host_vars = {
        "ansible_host": address_override or values["bastionPublicIp"],
        "secure_tenant_tenant": values["tenant"],
        "secure_tenant_environment": values["environment"],
        "secure_tenant_region": values["region"],
        "secure_tenant_vpc_cidr": values["vpcCidr"],
        "secure_tenant_vpn_client_cidr": values["vpnClientCidr"],
        "secure_tenant_dns_resolver": values["dnsResolver"],
        "secure_tenant_vpn_port": int(values["vpnPort"]),
        "secure_tenant_vpn_protocol": values["vpnProtocol"],
        "secure_tenant_bastion_public_ip": values["bastionPublicIp"],
        "secure_tenant_bastion_private_ip": values["bastionPrivateIp"],
        "secure_tenant_bastion_instance_id": values["bastionInstanceId"],
        "secure_tenant_management_cidrs": [
            cidr.strip() for cidr in management_cidrs.split(",") if cidr.strip()
        ],
    }
    return {
        "_meta": {"hostvars": {host: host_vars}},
        "all": {"children": ["bastions"]},
        "bastions": {"hosts": [host]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--host")
    args = parser.parse_args(argv)
    try:
        inventory = build_inventory(
            read_outputs(),
            os.environ.get("SECURE_TENANT_BASTION_HOST"),
            os.environ.get("SECURE_TENANT_MANAGEMENT_CIDRS", ""),
        )
    except InventoryError as error:
        print(f"pulumi_stack inventory: {error}", file=sys.stderr)
        return 2
    if args.host:
        print(json.dumps(inventory["_meta"]["hostvars"].get(args.host, {})))
    else:
        print(json.dumps(inventory, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
