"""The tenant stack: one component per concern, wired together. `__main__.py` only calls `build_tenant`."""

from __future__ import annotations

import pulumi

from infra.config import TenantConfig
from infra.keys import TenantKeys, TenantKeysArgs
from infra.naming import Naming
from infra.network import TenantNetwork, TenantNetworkArgs


def build_tenant(config: TenantConfig) -> None:
    """Declare every resource of one tenant environment and export what Ansible and reviewers need."""
    naming = Naming.for_tenant(config)
    naming.register_tagging()

    keys = TenantKeys(naming.name("keys"), TenantKeysArgs(naming=naming, region=config.region))
    network = TenantNetwork(
        naming.name("network"),
        TenantNetworkArgs(naming=naming, config=config, flow_log_key_arn=keys.keys["logs"].arn),
    )

    pulumi.export("tenant", config.tenant)
    pulumi.export("environment", config.environment)
    pulumi.export("region", config.region)
    pulumi.export("zones", [zone.name for zone in config.availability_zones])
    pulumi.export("vpcId", network.vpc.id)
    pulumi.export("vpcCidr", str(config.vpc_cidr))
    pulumi.export("vpnClientCidr", str(config.vpn_client_cidr))
    pulumi.export("exceptions", config.exceptions)
