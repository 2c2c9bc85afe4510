"""TenantNetwork: the VPC, four subnet tiers per zone, flow logs and endpoints (config, component, fakes)."""
