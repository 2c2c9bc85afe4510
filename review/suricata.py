"""Which Suricata rules of the Network Firewall's rule groups a change adds, removes or rewrites.

Rules are matched by their `sid` (a rule without one by its text), so a rule whose action, match or message
changes shows as rewritten, with both versions, rather than as an unrelated removal and addition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.firewall.parser import parse_rule
from infra.policy_view import RULE_GROUP
from review.saved import SavedResources


@dataclass(frozen=True)
class RuleChange:
    kind: str  # added | removed | changed
    group: str
    sid: str
    rule: str  # as it is now (as it was, when removed)
    before: str = ""  # for a change: the rule as it was


def _sid(rule: str) -> str | None:
    """The rule's sid option, as the project's parser reads it (a `sid:` inside the message is not one)."""
    try:
        sid = parse_rule(rule).sid
    except ValueError:
        return None
    return None if sid is None else str(sid)


def rules_of(rule_group_inputs: Mapping[str, Any]) -> dict[str, str]:
    """A rule group's Suricata rules by sid (or by text), comments and blank lines left out."""
    source = (rule_group_inputs.get("ruleGroup") or {}).get("rulesSource") or {}
    text = source.get("rulesString") or ""
    rules: dict[str, str] = {}
    for line in str(text).splitlines():
        rule = line.strip()
        if rule and not rule.startswith("#"):
            rules[_sid(rule) or rule] = rule
    return rules


def _groups(resources: SavedResources) -> dict[str, dict[str, str]]:
    return {
        resource["name"]: rules_of(resource["inputs"])
        for resource in resources.values()
        if resource["type"] == RULE_GROUP
    }


def diff(before: SavedResources, after: SavedResources) -> list[RuleChange]:
    """The rule changes from `before` to `after`, group by group (a new group's rules are all added)."""
    old_groups, new_groups = _groups(before), _groups(after)
    changes = []
    for group in sorted({*old_groups, *new_groups}):
        old, new = old_groups.get(group, {}), new_groups.get(group, {})
        for key in sorted({*old, *new}, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k)):
            sid = key if key.isdigit() else "-"
            if key not in old:
                changes.append(RuleChange("added", group, sid, new[key]))
            elif key not in new:
                changes.append(RuleChange("removed", group, sid, old[key]))
            elif old[key] != new[key]:
                changes.append(RuleChange("changed", group, sid, new[key], old[key]))
    return changes
