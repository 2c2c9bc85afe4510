"""Offline fakes for the bastion: its private and public addresses, and the Debian AMI lookup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zlib import crc32

import pulumi

from infra.bastion.config import DEBIAN_CLOUD_TEAM_ACCOUNT
from infra.fakes import CallFake, OutputFake
from infra.network.fakes import next_address

PREVIEW_DEBIAN_AMI = "ami-0deb1200000000000"


def _instance(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    # Without a declared subnet (a program that leaves it to AWS) the address stays unknown, as in a preview.
    address = next_address(args.inputs.get("subnetId", ""))
    return {"privateIp": str(address)} if address else {}


def _elastic_ip(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    # TEST-NET-2 (RFC 5737): plainly not a real address in a preview.
    return {
        "publicIp": f"198.51.100.{crc32(args.name.encode()) % 254 + 1}",
        "allocationId": f"{args.name}-id",
    }


OUTPUT_FAKES: Mapping[str, OutputFake] = {
    "aws:ec2/instance:Instance": _instance,
    "aws:ec2/eip:Eip": _elastic_ip,
}
CALL_FAKES: Mapping[str, CallFake] = {
    "aws:ec2/getAmi:getAmi": lambda _args, _region: {
        "id": PREVIEW_DEBIAN_AMI,
        "imageId": PREVIEW_DEBIAN_AMI,
        "name": "debian-12-amd64-preview",
        "ownerId": DEBIAN_CLOUD_TEAM_ACCOUNT,
        "architecture": "x86_64",
    }
}
