"""Offline fakes for the bastion: its private and public addresses, and the Debian AMI lookup."""

from __future__ import annotations

from collections.abc import Mapping
from hashlib import sha256
from typing import Any
from zlib import crc32

import pulumi

from infra.fakes import CallFake, OutputFake
from infra.network.fakes import next_address

# The build stamp of the image a preview finds: Debian names its images <pattern>-<date>-<build>.
PREVIEW_IMAGE_BUILD = "20261101-0000"


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


def _image(args: dict[str, Any], _region: str) -> dict[str, Any]:
    """The newest image that the lookup's own owner and filters select: a lookup for another release, owner or
    architecture gets another image, so a test sees what the program asked for, not a fixed answer."""
    filters = {item["name"]: item["values"] for item in args.get("filters", [])}
    (pattern,) = filters["name"]
    (owner,) = args["owners"]
    name = pattern.replace("*", PREVIEW_IMAGE_BUILD)
    image_id = f"ami-{sha256(f'{owner}/{name}'.encode()).hexdigest()[:17]}"
    return {
        "id": image_id,
        "imageId": image_id,
        "name": name,
        "ownerId": owner,
        "architecture": filters.get("architecture", ["x86_64"])[0],
    }


CALL_FAKES: Mapping[str, CallFake] = {"aws:ec2/getAmi:getAmi": _image}
