"""The bastion's stack config (key `bastion`): the OpenVPN host(s), the only admin path into the tenant."""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from infra.baseline import DEFAULT_VPN_PORT, DEFAULT_VPN_PROTOCOL, VpnProtocol
from infra.model import ConfigKeyError, ConfigModel

DEBIAN_CLOUD_TEAM_ACCOUNT = "136693071363"  # publishes Debian's official AMIs
# Debian releases the roles harden (roles/*/vars/Debian-<release>.yml); 13 (trixie, stable) is the default, 12
# (bookworm, oldstable) stays supported for bastions not yet rebuilt.
DEBIAN_RELEASES = (13, 12)
DEFAULT_DEBIAN_RELEASE = DEBIAN_RELEASES[0]


class BastionConfig(ConfigModel):
    """The OpenVPN bastion host(s), the only admin path into the tenant (stack key `bastion`)."""

    instance_type: str = "t3.small"
    ami_id: str | None = None
    # Picks the image of a new bastion; a running one keeps its image (ignore_changes), so a change here rebuilds
    # nothing: pin ami_id to move a bastion to another release deliberately.
    os_release: int = DEFAULT_DEBIAN_RELEASE
    per_zone: bool = False
    vpn_port: Annotated[int, Field(ge=1, le=65535)] = DEFAULT_VPN_PORT
    vpn_protocol: VpnProtocol = DEFAULT_VPN_PROTOCOL
    key_name: str | None = None
    root_volume_gb: Annotated[int, Field(ge=8, le=1024)] = 16
    data_volume_gb: Annotated[int | None, Field(ge=1, le=16384)] = None

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", value):
            raise ValueError(f"{value!r} is not an EC2 instance type: use e.g. t3.small")
        return value

    @field_validator("ami_id")
    @classmethod
    def _ami_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"ami-([0-9a-f]{8}|[0-9a-f]{17})", value):
            raise ValueError(f"{value!r} is not an AMI id: use e.g. ami-0123456789abcdef0, or leave it unset")
        return value

    @field_validator("os_release", mode="before")
    @classmethod
    def _os_release(cls, value: object) -> int:
        # Pulumi hands scalars over as text ("13"); True or 13.0 are no release numbers.
        if isinstance(value, bool) or str(value).strip() not in map(str, DEBIAN_RELEASES):
            supported = " or ".join(map(str, DEBIAN_RELEASES))
            raise ValueError(
                f"{value!r} is not a Debian release the roles harden: use {supported} "
                f"(default {DEFAULT_DEBIAN_RELEASE})"
            )
        return int(str(value))

    @model_validator(mode="after")
    def _vpn_port_is_not_ssh(self) -> Self:
        if self.vpn_protocol == "tcp" and self.vpn_port == 22:
            raise ConfigKeyError(
                "bastion.vpnPort", "TCP 22 is SSH, reachable only through the VPN: use e.g. 443"
            )
        return self
