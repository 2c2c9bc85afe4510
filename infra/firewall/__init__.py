"""ZoneFirewall: AWS Network Firewall in every zone and its Suricata rules (model, parser, AWS limits,
generator, engine check, config, component, fakes)."""
