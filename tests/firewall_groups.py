"""The firewall's rule groups as the stack declares them for AWS (what `pulumi up` would send), for the tests."""

from __future__ import annotations

from dataclasses import dataclass

from infra.firewall.parser import parse_rule
from infra.firewall.rules import Rule
from review.offline import StackSnapshot
from tests.stacks import prefix

# The baseline's SIDs are a contract with whoever reads the alert logs: they must not change.
BASELINE_SIDS = {
    100_001: "ACC-04 SSH into the tenant from outside the VPN range",
    100_002: "EDGE-03 egress on port 443 that is not TLS",
    100_003: "EDGE-03 TLS client offering nothing newer than TLS 1.1",
    100_004: "ACC-04 SSH out of the tenant",
    100_005: "EDGE-03 plain HTTP out of the tenant on a port other than 80",
}


@dataclass(frozen=True)
class DeclaredGroup:
    """One rule group as the stack declares it for AWS."""

    key: str
    priority: int
    capacity: int
    rules_string: str
    ip_sets: dict[str, list[str]]

    @property
    def lines(self) -> list[str]:
        return [line for line in self.rules_string.splitlines() if line.strip()]

    @property
    def rules(self) -> list[Rule]:
        return [parse_rule(line) for line in self.lines]


def declared_groups(stack: StackSnapshot) -> list[DeclaredGroup]:
    """The stateful rule groups in the order the policy evaluates them (by priority)."""
    (policy,) = stack.of_type("aws:networkfirewall/firewallPolicy:FirewallPolicy")
    priorities = {
        ref["resourceArn"]: ref["priority"]
        for ref in policy.inputs["firewallPolicy"]["statefulRuleGroupReferences"]
    }
    groups = [
        DeclaredGroup(
            key=group.name.removeprefix(f"{prefix(stack)}-nfw-").removesuffix("-rules"),
            priority=priorities[group.outputs["arn"]],
            capacity=group.inputs["capacity"],
            rules_string=group.inputs["ruleGroup"]["rulesSource"]["rulesString"],
            ip_sets={
                s["key"]: s["ipSet"]["definitions"]
                for s in group.inputs["ruleGroup"]["ruleVariables"]["ipSets"]
            },
        )
        for group in stack.of_type("aws:networkfirewall/ruleGroup:RuleGroup")
    ]
    return sorted(groups, key=lambda group: group.priority)


def strict_rules(stack: StackSnapshot) -> list[Rule]:
    return [rule for group in declared_groups(stack) for rule in group.rules]
