"""The report's Suricata rules: added, removed and rewritten rules of the Network Firewall's rule groups."""

from __future__ import annotations

from typing import Any

from review import suricata
from review.offline import StackSnapshot, evaluate_stack
from review.saved import saved_form
from review.suricata import RuleChange

DROP = 'drop http $HOME_NET any -> $EXTERNAL_NET 80 (msg:"only GET"; http.method; content:!"GET"; sid:1000001; rev:1;)'


def group(*lines: str, name: str = "acme-prod-nfw-tenant-rules") -> dict[str, Any]:
    rules = {"ruleGroup": {"rulesSource": {"rulesString": "\n".join(lines)}}}
    return {f"urn:{name}": {"type": "aws:networkfirewall/ruleGroup:RuleGroup", "name": name, "inputs": rules}}


def test_a_rule_rewritten_under_its_sid_shows_both_versions() -> None:
    alert = DROP.replace("drop", "alert", 1).replace("rev:1", "rev:2")
    assert suricata.diff(group(DROP), group(alert)) == [
        RuleChange("changed", "acme-prod-nfw-tenant-rules", "1000001", alert, DROP)
    ]


def test_comments_and_blank_lines_are_not_rules_and_a_rule_without_sid_is_known_by_its_text() -> None:
    before = group("# ACME's rules", "", DROP)
    after = group("# ACME's rules, reviewed", DROP, 'pass ip any any -> any any (msg:"everything";)')
    (change,) = suricata.diff(before, after)
    assert (change.kind, change.sid, change.rule) == (
        "added",
        "-",
        'pass ip any any -> any any (msg:"everything";)',
    )


def test_a_sid_inside_a_message_is_not_the_rules_sid() -> None:
    tricky = 'alert ip any any -> any any (msg:"see sid:42; upstream"; sid:1000009; rev:1;)'
    assert suricata.rules_of(group(tricky)["urn:acme-prod-nfw-tenant-rules"]["inputs"]) == {"1000009": tricky}


def test_a_removed_group_takes_its_rules_away() -> None:
    assert [(c.kind, c.sid) for c in suricata.diff(group(DROP), {})] == [("removed", "1000001")]


def test_allowing_an_egress_domain_adds_its_pass_rules(prod_stack: StackSnapshot) -> None:
    firewall = {
        "egressDomains": [
            {"domain": "deb.debian.org", "protocols": ["http", "tls"]},
            {"domain": "security.debian.org", "protocols": ["http", "tls"]},
            {"domain": "sts.eu-west-1.amazonaws.com"},
            {"domain": "secretsmanager.eu-west-1.amazonaws.com"},
            {"domain": "pypi.org"},
        ],
        "extraRulesFile": "tenants/acme/firewall.rules",
    }
    wider = evaluate_stack("acme-prod", {"secure-tenant:firewall": firewall})
    changes = suricata.diff(saved_form(prod_stack)["resources"], saved_form(wider)["resources"])
    assert [c.kind for c in changes] == ["added"]
    assert (
        changes[0].rule.startswith("pass tls $HOME_NET any -> $EXTERNAL_NET 443")
        and '"pypi.org"' in changes[0].rule
    )
