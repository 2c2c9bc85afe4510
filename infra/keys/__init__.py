"""TenantKeys: the tenant's KMS keys, one per data class (config, component, fakes)."""
