"""LogArchive: the tenant's log archive bucket (config, component, fakes)."""
