"""The secure-tenant CrossGuard policy pack (entry point for the Pulumi CLI: policy/__main__.py)."""
