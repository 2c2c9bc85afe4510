"""The rule model: generated rules carry msg, sid and rev; groups count what AWS reserves for them."""

from __future__ import annotations

import pytest

from infra.firewall.limits import MIN_GROUP_CAPACITY, expanded_length, reserved_capacity
from infra.firewall.rules import FirewallPolicyRules, Rule, RuleGroup

HEADER = ("$HOME_NET", "any", "->", "$EXTERNAL_NET", "443")


def test_a_built_rule_has_its_message_first_and_its_identity_last() -> None:
    rule = Rule.build("drop", "tls", HEADER, "EDGE-03 old TLS", 42, [("flow", "to_server")], rev=3)
    assert rule.text() == (
        'drop tls $HOME_NET any -> $EXTERNAL_NET 443 (msg:"EDGE-03 old TLS"; flow:to_server; sid:42; rev:3;)'
    )
    assert (rule.msg, rule.sid, rule.rev, rule.variables) == (
        "EDGE-03 old TLS",
        42,
        3,
        {"HOME_NET", "EXTERNAL_NET"},
    )


@pytest.mark.parametrize("msg", ['say "hi"', "a; sid:1", "back\\slash"])
def test_a_message_that_could_break_out_of_its_quotes_is_refused(msg: str) -> None:
    with pytest.raises(ValueError, match="may not contain quotes, semicolons or backslashes"):
        Rule.build("alert", "tcp", HEADER, msg, 1)


def test_a_bidirectional_rule_counts_twice_and_capacity_is_reserved_in_hundreds_with_room() -> None:
    one_way = Rule.build("pass", "tcp", HEADER, "one way", 1)
    both_ways = Rule.build("pass", "udp", ("$EXTERNAL_NET", "any", "<>", "$HOME_NET", "1194"), "both", 2)
    small = RuleGroup("allow", "d", 300, (one_way, both_ways))
    assert small.needed_capacity == 3
    assert reserved_capacity(small) == MIN_GROUP_CAPACITY
    large = RuleGroup(
        "allow", "d", 300, tuple(Rule.build("pass", "tcp", HEADER, "r", n) for n in range(1, 151))
    )
    assert reserved_capacity(large) == 300


def test_a_rules_length_counts_its_variables_expanded_as_aws_does() -> None:
    rule = Rule.build("alert", "tcp", ("$HOME_NET", "any", "->", "any", "443"), "m", 1)
    group = RuleGroup("baseline", "d", 100, (rule,), {"HOME_NET": ("10.0.0.0/16", "10.1.0.0/16")})
    assert expanded_length(group, rule) == len(rule.text()) - len("$HOME_NET") + len(
        "[10.0.0.0/16,10.1.0.0/16]"
    )


def test_the_policy_lists_every_rule_in_strict_evaluation_order() -> None:
    first, second, third = (Rule.build("alert", "tcp", HEADER, f"r{n}", n) for n in (1, 2, 3))
    policy = FirewallPolicyRules(
        ("10.0.0.0/16",),
        (RuleGroup("baseline", "d", 100, (first, second)), RuleGroup("allow", "d", 300, (third,))),
    )
    assert policy.rules == (first, second, third)
    assert policy.groups[0].rules_string == f"{first.text()}\n{second.text()}\n"
