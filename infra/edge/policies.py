"""EdgeProtection's policies: TLS 1.2+ on every listener, HTTP only redirects, RSA-2048 certificates of this
stack, WAF on every public ALB with managed groups, a rate limit and logging, Shield on public entries in prod."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.baseline import (
    ALB_TLS_POLICIES,
    WAF_RATE_LIMIT_RANGE,
)
from infra.policy_registry import resource_policy, stack_policy
from infra.policy_view import (
    CERTIFICATE,
    LISTENER_TYPES,
    LOAD_BALANCER_TYPES,
    WEB_ACL,
    Malformed,
    StackResource,
    StackView,
    dig,
    known,
    mapping_list,
    to_number,
)

# Listener policies that negotiate TLS 1.2 or 1.3 only, without the CBC "Ext" ciphers (ALB and NLB alike).
TLS12_PLUS_POLICIES = frozenset(ALB_TLS_POLICIES)


# The managed rule groups every web ACL runs, blocking (not only counting).
WAF_MANAGED_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


# --- the edge: TLS, WAF, Shield --------------------------------------------------------------------------------


@resource_policy("tls-1-2-on-every-listener", "EDGE-03")
def tls_on_every_listener(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every TLS-terminating listener (ALB HTTPS, NLB TLS, CloudFront) negotiates TLS 1.2/1.3 only."""
    if resource_type in LISTENER_TYPES:
        protocol = props.get("protocol")
        if protocol is None:
            return ["listener declares no protocol: set HTTPS or TLS (or HTTP redirecting to HTTPS)"]
        if not isinstance(protocol, str):
            raise Malformed(f"protocol {protocol!r} is not a listener protocol")
        if protocol.upper() in ("HTTPS", "TLS") and props.get("sslPolicy") not in TLS12_PLUS_POLICIES:
            return [f"{protocol.upper()} listener policy {props.get('sslPolicy')} allows TLS below 1.2"]
    if resource_type == "aws:cloudfront/distribution:Distribution":
        certificate = props.get("viewerCertificate") or {}
        version = dig(certificate, "minimumProtocolVersion")
        if dig(certificate, "cloudfrontDefaultCertificate") or not str(version).startswith("TLSv1.2"):
            return [f"CloudFront minimum protocol {version} is below TLSv1.2"]
    return []


@resource_policy("http-only-redirects-to-https", "EDGE-03")
def http_only_redirects(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Plain HTTP listeners only redirect to HTTPS."""
    if resource_type not in LISTENER_TYPES or str(props.get("protocol", "")).upper() != "HTTP":
        return []
    actions = mapping_list(props.get("defaultActions"), "defaultActions")
    if not actions or any(
        a.get("type") != "redirect" or str(dig(a, "redirect", "protocol")).upper() != "HTTPS" for a in actions
    ):
        return ["HTTP listener does something other than redirect to HTTPS"]
    return []


# What EDGE-04 allows: RSA with at least 2048 bits (ACM signs its certificates SHA-256 with RSA).
RSA_KEY_ALGORITHMS = ("RSA_2048", "RSA_3072", "RSA_4096")


@stack_policy("certificates-rsa-2048-of-this-stack", "EDGE-04")
def certificates_of_this_stack(stack: StackView) -> list[str]:
    """TLS listeners present an ACM certificate of this stack, RSA of at least 2048 bits, validated by DNS."""
    problems = []
    for certificate in stack.of(CERTIFICATE):
        algorithm = certificate.props.get("keyAlgorithm", "RSA_2048")  # ACM's default
        if algorithm not in RSA_KEY_ALGORITHMS:
            problems.append(f"certificate {certificate.name} key {algorithm} is not RSA of 2048 bits or more")
        if certificate.props.get("privateKey") is None and certificate.props.get("validationMethod") != "DNS":
            problems.append(f"certificate {certificate.name} is not validated by DNS")
    for listener in stack.of(*LISTENER_TYPES):
        if str(listener.props.get("protocol", "")).upper() not in ("HTTPS", "TLS"):
            continue
        if not any(t.type == CERTIFICATE for t in stack.targets(listener, "certificateArn")):
            problems.append(f"listener {listener.name} presents a certificate not declared in this stack")
    return problems


@stack_policy("waf-on-every-public-alb", "EDGE-01")
def waf_on_every_public_alb(stack: StackView) -> list[str]:
    """Every internet-facing application load balancer has a web ACL of this stack associated."""
    associations = stack.of("aws:wafv2/webAclAssociation:WebAclAssociation")
    problems = []
    for lb in stack.of(*LOAD_BALANCER_TYPES):
        if lb.props.get("internal") is True or lb.props.get("loadBalancerType") in ("network", "gateway"):
            continue
        mine = [a for a in associations if stack.refers(a, "resourceArn", lb)]
        if not mine:
            problems.append(f"public load balancer {lb.name} has no WAF web ACL")
        elif not any(t.type == WEB_ACL for a in mine for t in stack.targets(a, "webAclArn")):
            problems.append(
                f"public load balancer {lb.name} is associated with a web ACL not declared in this stack"
            )
    return problems


def _waf_rules(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return mapping_list(props.get("rules"), "rules")


@resource_policy("waf-managed-rule-groups", "EDGE-01")
def waf_managed_rule_groups(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Web ACLs run the AWS common and known-bad-inputs rule groups, blocking (not only counting)."""
    if resource_type != WEB_ACL:
        return []
    blocking = {
        dig(rule, "statement", "managedRuleGroupStatement", "name")
        for rule in _waf_rules(props)
        if dig(rule, "statement", "managedRuleGroupStatement", "vendorName") == "AWS"
        and dig(rule, "overrideAction", "count") is None
    }
    missing = [group for group in WAF_MANAGED_GROUPS if group not in blocking]
    return [f"web ACL does not block with {', '.join(missing)}"] if missing else []


@resource_policy("waf-rate-limit", "EDGE-01")
def waf_rate_limit(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Web ACLs block sources above a per-IP request rate."""
    if resource_type != WEB_ACL:
        return []
    for rule in _waf_rules(props):
        limit = dig(rule, "statement", "rateBasedStatement", "limit")
        if (
            limit is not None
            and dig(rule, "action", "block") is not None
            and (
                WAF_RATE_LIMIT_RANGE[0]
                <= to_number(limit, "rateBasedStatement.limit")
                <= WAF_RATE_LIMIT_RANGE[1]
            )
        ):
            return []
    return ["web ACL has no blocking rate-based rule"]


@stack_policy("waf-logging", "EDGE-01")
def waf_logging(stack: StackView) -> list[str]:
    """Every web ACL logs its requests."""
    configs = stack.of("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    return [
        f"web ACL {acl.name} does not log"
        for acl in stack.of(WEB_ACL)
        if not any(
            stack.refers(c, "resourceArn", acl) and c.props.get("logDestinationConfigs") for c in configs
        )
    ]


def _shield_covers(stack: StackView, protection: StackResource, entry: StackResource) -> bool:
    """Shield names an Elastic IP by its allocation (`…:eip-allocation/<id>`), anything else by its ARN."""
    value = protection.props.get("resourceArn")
    if entry.type == "aws:ec2/eip:Eip" and isinstance(value, str) and known(value):
        allocation = entry.props.get("allocationId") or entry.props.get("id")
        return value.endswith(f":eip-allocation/{allocation}")
    return stack.refers(protection, "resourceArn", entry)


@stack_policy("shield-on-public-entries-in-prod", "EDGE-02")
def shield_in_prod(stack: StackView) -> list[str]:
    """In a prod stack, internet-facing load balancers and the Elastic IPs of instances have Shield Advanced."""
    if stack.environment != "prod":
        return []
    protections = stack.of("aws:shield/protection:Protection")
    entries = [lb for lb in stack.of(*LOAD_BALANCER_TYPES) if lb.props.get("internal") is not True]
    # Elastic IPs of instances (the bastion) are public entries; those of NAT gateways only send.
    entries += [eip for eip in stack.of("aws:ec2/eip:Eip") if eip.props.get("instance")]
    return [
        f"public entry {entry.name} has no Shield protection"
        for entry in entries
        if not any(_shield_covers(stack, p, entry) for p in protections)
    ]
