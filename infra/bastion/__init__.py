"""VpnBastion: the OpenVPN bastion, the only admin path (config, component, fakes)."""
