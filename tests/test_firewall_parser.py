"""Rule text to typed rules: headers with lists, quoted options, and the line of a file each rule came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.firewall.parser import parse_rule, parse_rules_file
from infra.firewall.rules import RuleError


def test_a_rule_is_split_into_its_header_and_its_options_in_order() -> None:
    rule = parse_rule(
        'drop tls [10.0.0.0/8,!10.1.0.0/16] any -> $EXTERNAL_NET 443 (msg:"a; b"; tls.sni; sid:7; rev:2;)'
    )
    assert (rule.action, rule.protocol, rule.source, rule.destination_port) == (
        "drop",
        "tls",
        "[10.0.0.0/8,!10.1.0.0/16]",
        "443",
    )
    assert rule.options == (("msg", '"a; b"'), ("tls.sni", None), ("sid", "7"), ("rev", "2"))
    assert (rule.msg, rule.sid, rule.rev) == ("a; b", 7, 2)


def test_a_parsed_rule_prints_back_to_the_same_rule() -> None:
    text = 'pass http $HOME_NET any -> $EXTERNAL_NET 80 (msg:"m"; flow:to_server,established; sid:1000001; rev:1;)'
    assert parse_rule(text).text() == text
    assert parse_rule(parse_rule(text).text()) == parse_rule(text)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("alert tcp any any -> any any", "a rule is `action protocol"),
        ('alert tcp any -> any any (msg:"m";)', "the header has 6 fields"),
        ('alert tcp any any => any any (msg:"m";)', "direction '=>'"),
        ('alert tcp [any any -> any any (msg:"m";)', "unbalanced ["),
        ('alert tcp any] any -> any any (msg:"m";)', "unbalanced ]"),
        ('alert tcp any any -> any any (msg:"m; sid:1;)', "not closed"),
        ('alert tcp any any -> any any (msg:"m"; sid:1)', "does not end with ;"),
        ('alert tcp any any -> any any (Msg Text:"m";)', "is not a rule keyword"),
    ],
)
def test_malformed_rules_are_refused_saying_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_rule(text)
    assert says in str(raised.value)


def test_a_rules_file_gives_each_rule_with_its_line_skipping_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "tenant.rules"
    path.write_text(
        '# the tenant\'s rules\n\nalert tcp any any -> any any (msg:"a"; sid:1000001; rev:1;)\n'
        '   # indented comment\ndrop tcp any any -> any any (msg:"b"; sid:1000002; rev:1;)\n'
    )
    assert [(number, rule.msg) for number, rule in parse_rules_file(path, "tenant.rules")] == [
        (3, "a"),
        (5, "b"),
    ]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (
            'alert tcp any any -> any any (msg:"a"; \\\n sid:1000001; rev:1;)\n',
            "line 1: write each rule on one line",
        ),
        ('\nalert tcp any any -> any any (msg:"a; rev:1;)\n', "line 2: a quoted option value is not closed"),
    ],
)
def test_a_bad_line_is_refused_with_the_file_and_line_and_the_key_to_fix(
    tmp_path: Path, content: str, says: str
) -> None:
    path = tmp_path / "tenant.rules"
    path.write_text(content)
    with pytest.raises(RuleError) as raised:
        parse_rules_file(path, "tenants/x/tenant.rules")
    assert raised.value.key == "extraRulesFile"
    assert str(raised.value) == f"tenants/x/tenant.rules {says}"
