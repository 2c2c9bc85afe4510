"""The firewall's stack config (key `firewall`): the egress allow-list and the tenant's own Suricata rules.

The tenant's rules file is read once, from the tenant's own folder; the whole policy is generated and checked by
the real engine once, when the stack config is validated (`checked_policy`), before any resource is declared.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from pathlib import Path
from typing import Literal

from pydantic import field_validator

from infra.firewall.engine import engine_problems
from infra.firewall.generate import firewall_rules
from infra.firewall.limits import check_tenant_rules
from infra.firewall.parser import parse_rules_file
from infra.firewall.rules import FirewallPolicyRules, Rule, RuleError
from infra.model import ConfigKeyError, ConfigModel

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# A lowercase domain name, or `.name` for the name and all its subdomains (the AWS domain list convention).
_EGRESS_DOMAIN = re.compile(r"\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
RULES_FILE_KEY = "firewall.extraRulesFile"


class EgressDomain(ConfigModel):
    """One allowed egress destination: a domain (`.domain` for its subdomains too) and the protocols to it."""

    domain: str
    protocols: tuple[Literal["tls", "http"], ...] = ("tls",)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _EGRESS_DOMAIN.fullmatch(value) or len(value.lstrip(".")) > 253:
            raise ValueError(
                f"{value!r} is not a domain name: use a lowercase name like deb.debian.org, or .example.com for "
                "example.com and all its subdomains (no * wildcards)"
            )
        return value

    @field_validator("protocols")
    @classmethod
    def _protocols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("list tls, http or both, each once")
        return value


class FirewallConfig(ConfigModel):
    """AWS Network Firewall in every zone (stack key `firewall`): egress allow-list and the tenant's own rules."""

    egress_domains: tuple[EgressDomain, ...] = ()
    # A Suricata rules file, relative to the project root, evaluated between the baseline and the allow-list.
    extra_rules_file: str | None = None

    @field_validator("egress_domains")
    @classmethod
    def _each_domain_once(cls, value: tuple[EgressDomain, ...]) -> tuple[EgressDomain, ...]:
        domains = [entry.domain for entry in value]
        twice = sorted({domain for domain in domains if domains.count(domain) > 1})
        if twice:
            raise ValueError(
                f"{', '.join(twice)} listed twice: list each domain once, with all its protocols"
            )
        return value

    @field_validator("extra_rules_file")
    @classmethod
    def _rules_file(cls, value: str | None) -> str | None:
        if value is not None and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise ValueError(
                f"{value} is not inside the project: use a relative path like tenants/acme/firewall.rules"
            )
        return value


def tenant_rules_path(rules_file: str, tenant: str) -> Path:
    """The tenant's rules file, a regular file inside tenants/<tenant>/ once every link is followed.

    Checked before the file is read, so that a link cannot make the preview read (and quote in its errors)
    a file from anywhere on the machine, or from another tenant.
    """
    folder = PROJECT_ROOT.resolve() / "tenants" / tenant
    path = (PROJECT_ROOT / rules_file).resolve()
    if not path.is_relative_to(folder):
        raise ConfigKeyError(
            RULES_FILE_KEY,
            f"{rules_file} is not inside tenants/{tenant}/ (links followed, it is {path}): keep the tenant's "
            f"rules in its own folder, e.g. tenants/{tenant}/firewall.rules",
        )
    if not path.exists():
        raise ConfigKeyError(
            RULES_FILE_KEY, f"{rules_file} does not exist in {PROJECT_ROOT}: create it or fix the path"
        )
    if not path.is_file():
        raise ConfigKeyError(RULES_FILE_KEY, f"{rules_file} is not a regular file: point at a rules file")
    return path


def read_tenant_rules(rules_file: str | None, tenant: str) -> tuple[tuple[int, Rule], ...]:
    """The tenant's rules with their line numbers, each one checked on its own."""
    if rules_file is None:
        return ()
    try:
        rules = parse_rules_file(tenant_rules_path(rules_file, tenant), rules_file)
        check_tenant_rules(rules, rules_file)
    except RuleError as error:
        raise ConfigKeyError(RULES_FILE_KEY, str(error)) from None
    if not rules:
        raise ConfigKeyError(RULES_FILE_KEY, f"{rules_file} has no rules: add some or remove extraRulesFile")
    return rules


def checked_policy(
    firewall: FirewallConfig,
    tenant: str,
    vpc_cidr: IPv4Network,
    vpn_client_cidr: IPv4Network,
    vpn: tuple[str, int],
) -> FirewallPolicyRules:
    """The firewall policy generated once, within AWS's quotas, its tenant rules loaded by the real Suricata."""
    extra_rules = read_tenant_rules(firewall.extra_rules_file, tenant)
    try:
        policy = firewall_rules(
            vpc_cidr,
            vpn_client_cidr,
            [(entry.domain, entry.protocols) for entry in firewall.egress_domains],
            [rule for _, rule in extra_rules],
            vpn,
        )
        line_names = [f"{firewall.extra_rules_file} line {number}" for number, _ in extra_rules]
        problems = [
            problem
            for group in policy.groups
            if group.key == "tenant"
            for problem in engine_problems(group.rules_string, group.ip_sets, line_names)
        ]
    except RuleError as error:
        raise ConfigKeyError(f"firewall.{error.key}", str(error)) from None
    except FileNotFoundError as error:
        raise ConfigKeyError(RULES_FILE_KEY, f"cannot check the rules: {error}") from None
    if problems:
        raise ConfigKeyError(RULES_FILE_KEY, "Suricata refuses the rules: " + " | ".join(problems))
    return policy
