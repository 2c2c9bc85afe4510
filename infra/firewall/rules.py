"""Suricata rules as AWS Network Firewall gets them: typed rules, rule groups and the policy's groups in order."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

Action = Literal["pass", "drop", "reject", "alert"]
ACTIONS: tuple[Action, ...] = get_args(Action)
Option = tuple[str, str | None]
GroupKey = Literal["baseline", "tenant", "allow"]

BASELINE_PRIORITY, TENANT_PRIORITY, ALLOW_PRIORITY = 100, 200, 300
TENANT_SID_RANGE = range(1_000_000, 2_000_000)  # the conventional range for local rules
ALLOW_SID_BASE, ALLOW_SID_SPAN = 2_000_000_000, 100_000_000  # below 2**31, above every tenant SID

VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class RuleError(ValueError):
    """A rule or rule set AWS would refuse or that cannot work; `key` is the firewall config key to fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Rule:
    """One Suricata rule: header fields and options in order (msg, sid and rev are options like any other)."""

    action: str
    protocol: str
    source: str
    source_port: str
    direction: str
    destination: str
    destination_port: str
    options: tuple[Option, ...]

    @classmethod
    def build(
        cls,
        action: Action,
        protocol: str,
        header: tuple[str, str, str, str, str],
        msg: str,
        sid: int,
        matchers: Iterable[Option] = (),
        rev: int = 1,
    ) -> Rule:
        """A generated rule: msg first, then what it matches, then its identity."""
        if '"' in msg or ";" in msg or "\\" in msg:
            raise ValueError(f"rule message {msg!r} may not contain quotes, semicolons or backslashes")
        return cls(
            action,
            protocol,
            *header,
            options=(("msg", f'"{msg}"'), *matchers, ("sid", str(sid)), ("rev", str(rev))),
        )

    def option(self, keyword: str) -> str | None:
        return next((value for name, value in self.options if name == keyword), None)

    @property
    def msg(self) -> str | None:
        value = self.option("msg")
        return value[1:-1] if value and len(value) >= 2 and value[0] == value[-1] == '"' else value

    @property
    def sid(self) -> int | None:
        value = self.option("sid")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def rev(self) -> int | None:
        value = self.option("rev")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def variables(self) -> set[str]:
        header = (self.source, self.source_port, self.destination, self.destination_port)
        return {name for part in header for name in VARIABLE.findall(part)}

    def text(self) -> str:
        header = (
            self.action,
            self.protocol,
            self.source,
            self.source_port,
            self.direction,
            self.destination,
            self.destination_port,
        )
        options = " ".join(
            f"{name};" if value is None else f"{name}:{value};" for name, value in self.options
        )
        return f"{' '.join(header)} ({options})"


@dataclass(frozen=True)
class RuleGroup:
    """One stateful rule group as AWS gets it: rules in evaluation order, variables, priority in the policy."""

    key: GroupKey
    description: str
    priority: int
    rules: tuple[Rule, ...]
    ip_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def rules_string(self) -> str:
        return "\n".join(rule.text() for rule in self.rules) + "\n"

    @property
    def needed_capacity(self) -> int:
        # A bidirectional rule is two signatures in Suricata; count it twice to be safe.
        return sum(2 if rule.direction == "<>" else 1 for rule in self.rules)


@dataclass(frozen=True)
class FirewallPolicyRules:
    """Everything the stateful engine gets: the rule groups in priority order and the policy's HOME_NET."""

    home_net: tuple[str, ...]
    groups: tuple[RuleGroup, ...]

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule in the order AWS evaluates them under STRICT_ORDER."""
        return tuple(rule for group in self.groups for rule in group.rules)


def ip_set_text(definitions: Sequence[str]) -> str:
    return "[" + ",".join(definitions) + "]"
