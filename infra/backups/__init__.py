"""Backups: AWS Backup vault, plans and restore tests (config, component, fakes)."""
