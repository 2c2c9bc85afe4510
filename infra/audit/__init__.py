"""AuditTrail: CloudTrail, GuardDuty, Security Hub, AWS Config and alerts (config, component, fakes)."""
