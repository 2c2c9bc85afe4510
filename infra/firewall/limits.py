"""What AWS Network Firewall accepts: its quotas and the Suricata features it leaves out, checked per rule,
per group and per policy before anything is sent to AWS."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from infra.firewall.rules import (
    ACTIONS,
    TENANT_SID_RANGE,
    VARIABLE,
    FirewallPolicyRules,
    Rule,
    RuleError,
    RuleGroup,
    ip_set_text,
)

# AWS Network Firewall quotas that cannot be raised (developer guide, "AWS Network Firewall quotas").
MAX_RULE_CHARS = 8_192  # per rule, with every variable expanded to its value
MAX_RULES_STRING_BYTES = 2_000_000  # per rule group
MAX_GROUP_CAPACITY = 30_000  # per stateful rule group
MAX_POLICY_CAPACITY = 30_000  # stateful rules per firewall policy, summed over its groups' capacities
MAX_GROUPS_PER_POLICY = 20

# The policy reserves each group's capacity, which cannot change without replacing the group: leave room.
MIN_GROUP_CAPACITY = 100

# Network Firewall's "Limitations and caveats for stateful rules": features it does not support.
UNSUPPORTED_KEYWORDS = {
    "dataset": "datasets are not supported",
    "datarep": "datasets are not supported",
    "iprep": "IP reputation is not supported",
    "lua": "Lua scripting is not supported",
    "luajit": "Lua scripting is not supported",
    "geoip": "GeoIP is not supported",
    "threshold": "thresholding is not supported",
    "detection_filter": "thresholding is not supported",
    "filestore": "file extraction is not supported",
    "filename": "file keywords are not allowed",
    "fileext": "file keywords are not allowed",
    "filemagic": "file keywords are not allowed",
    "filemd5": "file keywords are not allowed",
    "filesha1": "file keywords are not allowed",
    "filesha256": "file keywords are not allowed",
    "filesize": "file keywords are not allowed",
    "file.name": "file keywords are not allowed",
    "file.magic": "file keywords are not allowed",
    "cip_service": "ENIP/CIP keywords are not supported",
    "enip_command": "ENIP/CIP keywords are not supported",
    "hostbits": "hostbits track hosts, which is not supported",
    "priority": "the priority keyword is not allowed in STRICT_ORDER rule groups",
    # Not in the caveats list, but classtype carries a priority and AWS refuses it in STRICT_ORDER groups
    # ("RuleString invalid", AWS answer on re:Post); it would also reorder rules in Suricata.
    "classtype": "classtype implies a priority, which STRICT_ORDER rule groups refuse",
}
UNSUPPORTED_KEYWORD_PREFIXES = {"ike.": "the IKEv2 protocol is not supported"}
UNSUPPORTED_PROTOCOLS = {
    "sctp": "the SCTP protocol is not supported",
    "ftp-data": "FTP-data protocol detection is not supported",
    "ike": "the IKEv2 protocol is not supported",
    "ikev2": "the IKEv2 protocol is not supported",
    "enip": "ENIP/CIP is not supported",
}
# "pcre is only allowed with content, tls.sni, http.host and dns.query".
PCRE_BUFFERS = frozenset({"tls.sni", "http.host", "dns.query"})
_HOST_TRACKING = re.compile(r"\btrack\s+ip_(src|dst|pair)\b")
# Sticky buffers set the buffer the following content/pcre inspect; they are keywords without a value.
_STICKY_BUFFER = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")


def reserved_capacity(group: RuleGroup) -> int:
    """Twice what the rules need, in hundreds: capacity is fixed when AWS creates the group."""
    wanted = -(-2 * group.needed_capacity // 100) * 100
    return min(MAX_GROUP_CAPACITY, max(MIN_GROUP_CAPACITY, wanted))


def expanded_length(group: RuleGroup, rule: Rule) -> int:
    """The rule's length as AWS counts it: with every variable replaced by its value."""
    return len(VARIABLE.sub(lambda m: ip_set_text(group.ip_sets.get(m.group(1), ())), rule.text()))


def aws_problems(rule: Rule) -> list[str]:
    """Why AWS Network Firewall would refuse this rule in a STRICT_ORDER group (empty if it would not)."""
    problems = []
    if rule.action not in ACTIONS:
        problems.append(f"action {rule.action!r} is not supported: use one of {', '.join(ACTIONS)}")
    if rule.protocol in UNSUPPORTED_PROTOCOLS:
        problems.append(UNSUPPORTED_PROTOCOLS[rule.protocol])
    for required in ("msg", "sid", "rev"):
        if rule.option(required) is None:
            problems.append(f"it has no {required}")
    if rule.option("sid") is not None and (rule.sid is None or rule.sid < 1):
        problems.append(f"sid {rule.option('sid')} is not a positive number")
    if rule.option("rev") is not None and (rule.rev is None or rule.rev < 1):
        problems.append(f"rev {rule.option('rev')} is not a positive number")
    buffer, has_content = None, rule.option("content") is not None
    for keyword, value in rule.options:
        if keyword in UNSUPPORTED_KEYWORDS:
            problems.append(f"{keyword}: {UNSUPPORTED_KEYWORDS[keyword]}")
        problems += [
            f"{keyword}: {why}"
            for prefix, why in UNSUPPORTED_KEYWORD_PREFIXES.items()
            if keyword.startswith(prefix)
        ]
        if keyword == "xbits" and value and _HOST_TRACKING.search(value):
            problems.append("xbits: tracking by IP address is not supported")
        if keyword == "tag" and value and value.split(",")[0].strip() == "host":
            problems.append("tag:host is not supported")
        if keyword == "app-layer-protocol" and value and value.lstrip("!") in UNSUPPORTED_PROTOCOLS:
            problems.append(f"app-layer-protocol:{value}: {UNSUPPORTED_PROTOCOLS[value.lstrip('!')]}")
        if value is None and _STICKY_BUFFER.fullmatch(keyword):
            buffer = keyword
        if keyword == "pcre" and not has_content and buffer not in PCRE_BUFFERS:
            problems.append("pcre is only allowed with content or on tls.sni, http.host or dns.query")
    return problems


def check_group(group: RuleGroup, inherited: Iterable[str] = ("EXTERNAL_NET",)) -> None:
    """Refuse a group AWS would refuse: unsupported rules, undefined variables, size and capacity quotas."""
    # The baseline is fixed (and tested): only the tenant's rules and the allow-list vary with the config.
    key = "extraRulesFile" if group.key == "tenant" else "egressDomains"
    defined = {*group.ip_sets, *inherited}
    for rule in group.rules:
        where = f"rule sid {rule.sid} ({rule.msg})"
        problems = aws_problems(rule)
        problems += [
            f"${name} is not defined: use {', '.join(sorted(defined))}" for name in rule.variables - defined
        ]
        if expanded_length(group, rule) > MAX_RULE_CHARS:
            problems.append(f"it is longer than {MAX_RULE_CHARS} characters with its variables expanded")
        if problems:
            raise RuleError(key, f"{where}: " + "; ".join(problems))
    if len(group.rules_string.encode()) > MAX_RULES_STRING_BYTES:
        raise RuleError(
            key, f"the {group.key} rules exceed {MAX_RULES_STRING_BYTES} bytes: AWS refuses the group"
        )
    if group.needed_capacity > MAX_GROUP_CAPACITY:
        raise RuleError(
            key, f"the {group.key} group needs {group.needed_capacity} capacity, over {MAX_GROUP_CAPACITY}"
        )


def check_policy(policy: FirewallPolicyRules) -> None:
    """Check every group, then what the policy as a whole must respect: unique SIDs, capacity, group count."""
    for group in policy.groups:
        check_group(group)
    sids = [rule.sid for rule in policy.rules]
    duplicates = sorted({sid for sid in sids if sid is not None and sids.count(sid) > 1})
    if duplicates:
        raise RuleError("extraRulesFile", f"SIDs {duplicates} are used twice: every rule needs its own sid")
    if len(policy.groups) > MAX_GROUPS_PER_POLICY:
        raise RuleError("extraRulesFile", f"more than {MAX_GROUPS_PER_POLICY} stateful rule groups")
    total = sum(reserved_capacity(group) for group in policy.groups)
    if total > MAX_POLICY_CAPACITY:
        raise RuleError(
            "egressDomains",
            f"the rule groups reserve {total} capacity, over the policy's {MAX_POLICY_CAPACITY}",
        )


def check_tenant_rules(rules: Sequence[tuple[int, Rule]], shown_as: str) -> None:
    """The tenant's own rules: what AWS accepts, no pass, SIDs in the tenant range and increasing down the file.

    Increasing SIDs make the order AWS evaluates them in (the file's) the order Suricata sorts them in (by SID),
    so alert logs read in evaluation order and the tests can reproduce it.
    """
    previous: tuple[int, int] | None = None
    for number, rule in rules:
        problems = aws_problems(rule)
        if rule.action == "pass":
            problems.append(
                "a pass rule would let through what the baseline or the egress allow-list drops: tenant rules "
                "may only narrow (drop, reject, alert); open egress with firewall.egressDomains"
            )
        if rule.sid is not None and rule.sid not in TENANT_SID_RANGE:
            problems.append(
                f"sid {rule.sid} is outside {TENANT_SID_RANGE.start}-{TENANT_SID_RANGE.stop - 1}, "
                "the range kept for tenant rules so they never collide with generated ones"
            )
        if rule.sid is not None and previous is not None and rule.sid <= previous[0]:
            problems.append(
                f"sid {rule.sid} does not follow sid {previous[0]} of line {previous[1]}: "
                "number the rules in increasing order down the file, each sid once"
            )
        if problems:
            raise RuleError("extraRulesFile", f"{shown_as} line {number}: " + "; ".join(problems))
        if rule.sid is not None:
            previous = (rule.sid, number)
