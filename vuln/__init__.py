"""Vulnerability remediation SLA (control VUL-01): CVSS 3.1 findings in, mitigation and fix deadlines out."""
