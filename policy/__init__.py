"""The secure-tenant CrossGuard policy pack: only the entry point the Pulumi CLI loads (policy/__main__.py).

The policies live with their concerns (infra/<concern>/policies.py) and are gathered by infra/policy_pack.py.
"""
