"""VpnBastion's policies: its volumes are encrypted with a key of this stack, and instance metadata needs IMDSv2
tokens that do not leave the host. (SSH only from the VPN is judged with the security groups, in
infra/network/policies.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.keys.policies import Place, encryption_policy
from infra.policy_registry import resource_policy
from infra.policy_view import INSTANCE, StackResource, StackView, as_list, dig, mapping_list, to_number


def _ebs_encryption(stack: StackView, resource: StackResource) -> list[Place]:
    # (property holding the key, what to call the volume in a message, the volume's settings)
    if resource.type == INSTANCE:
        devices = [("rootBlockDevice", "root volume", resource.props.get("rootBlockDevice"))]
        devices += [
            ("ebsBlockDevices", "block device", d) for d in as_list(resource.props.get("ebsBlockDevices"))
        ]
    elif resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
        mappings = mapping_list(resource.props.get("blockDeviceMappings"), "blockDeviceMappings")
        devices = [("blockDeviceMappings", "template volume", m.get("ebs")) for m in mappings]
        if not devices:
            return [(resource, "blockDeviceMappings", None, "the root volume's encryption is not declared")]
    else:
        devices = [("kmsKeyId", "volume", resource.props)]
    places: list[Place] = []
    for prop, label, device in devices:
        if not isinstance(device, Mapping):
            problem = f"the {label}'s encryption is not declared (set encrypted and a key)"
            places.append((resource, prop, None, problem))
        elif device.get("encrypted") not in (True, "true"):
            places.append((resource, prop, None, f"the {label} is not encrypted"))
        else:
            places.append((resource, prop, device.get("kmsKeyId"), None))
    return places


ebs_encrypted = encryption_policy(
    "ebs-encrypted",
    "Every EBS volume, instance block device and launch template volume is encrypted with a key of this stack.",
    ("aws:ebs/volume:Volume", "aws:ec2/volume:Volume", INSTANCE, "aws:ec2/launchTemplate:LaunchTemplate"),
    _ebs_encryption,
)


# --- hosts ------------------------------------------------------------------------------------------------------


@resource_policy("imdsv2-required", "HST-01")
def imdsv2_required(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Instances and launch templates require IMDSv2 tokens, and tokens do not leave the host (hop limit 1)."""
    if resource_type not in (INSTANCE, "aws:ec2/launchTemplate:LaunchTemplate"):
        return []
    options = props.get("metadataOptions") or {}
    if dig(options, "httpEndpoint") == "disabled":
        return []
    problems = []
    if dig(options, "httpTokens") != "required":
        problems.append("IMDSv2 is not required: set metadata_options.http_tokens='required'")
    hops = to_number(dig(options, "httpPutResponseHopLimit"), "httpPutResponseHopLimit", 1)
    if hops > 1:
        problems.append(f"metadata tokens reach {hops:g} hops: set http_put_response_hop_limit=1")
    return problems
