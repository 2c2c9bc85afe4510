"""Offline fakes for the firewall: its endpoints, one per zone, as AWS reports them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from infra.fakes import OutputFake
from infra.network.fakes import zone_of


def _firewall_statuses(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    # One endpoint per subnet mapping, listed in reverse: AWS returns the sync states as a set in no order, so
    # nothing may pick an endpoint by position.
    sync_states = [
        {
            "availabilityZone": zone_of(mapping["subnetId"]),
            "attachments": [
                {"endpointId": f"vpce-preview-{mapping['subnetId']}", "subnetId": mapping["subnetId"]}
            ],
        }
        for mapping in reversed(args.inputs["subnetMappings"])
    ]
    return {"firewallStatuses": [{"syncStates": sync_states}]}


OUTPUT_FAKES: Mapping[str, OutputFake] = {"aws:networkfirewall/firewall:Firewall": _firewall_statuses}
