"""EdgeProtection: ALB, certificate, WAF and Shield Advanced (config, component, fakes)."""
