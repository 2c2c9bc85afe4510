"""Suricata rule text to `Rule`s: one rule per line, header fields and options; nothing is judged here."""

from __future__ import annotations

import re
from pathlib import Path

from infra.firewall.rules import Option, Rule, RuleError


def parse_rule(text: str) -> Rule:
    """Parse one rule line into header and options; raise ValueError saying what is malformed."""
    text = text.strip()
    start = text.find("(")
    if start < 0 or not text.endswith(")"):
        raise ValueError("a rule is `action protocol source port -> destination port (options;)`")
    header = _split_header(text[:start])
    if len(header) != 7:
        raise ValueError(
            f"the header has {len(header)} fields, not 7 (action protocol source port direction destination port)"
        )
    if header[4] not in ("->", "<>"):
        raise ValueError(f"direction {header[4]!r} is neither -> nor <>")
    action, protocol, source, source_port, direction, destination, destination_port = header
    return Rule(
        action,
        protocol,
        source,
        source_port,
        direction,
        destination,
        destination_port,
        options=_split_options(text[start + 1 : -1]),
    )


def _split_header(text: str) -> list[str]:
    fields: list[str] = []
    current, depth = "", 0
    for char in text.strip():
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            raise ValueError("unbalanced ] in the header")
        if char.isspace() and depth == 0:
            if current:
                fields.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise ValueError("unbalanced [ in the header")
    return [*fields, current] if current else fields


def _split_options(text: str) -> tuple[Option, ...]:
    options: list[Option] = []
    current, quoted, escaped = "", False, False
    for char in text:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            current, escaped = current + char, True
        elif char == '"':
            current, quoted = current + char, not quoted
        elif char == ";" and not quoted:
            options.append(_option(current))
            current = ""
        else:
            current += char
    if quoted:
        raise ValueError("a quoted option value is not closed")
    if current.strip():
        raise ValueError(f"option {current.strip()!r} does not end with ;")
    return tuple(options)


def _option(text: str) -> Option:
    keyword, colon, value = text.partition(":")
    keyword = keyword.strip()
    if not re.fullmatch(r"[a-z0-9_.-]+", keyword):
        raise ValueError(f"{keyword!r} is not a rule keyword")
    return (keyword, value.strip() if colon else None)


def parse_rules_file(path: Path, shown_as: str) -> tuple[tuple[int, Rule], ...]:
    """Every rule of a rules file with its line number; comments and blank lines are skipped."""
    rules = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            raise RuleError("extraRulesFile", f"{shown_as} line {number}: write each rule on one line")
        try:
            rules.append((number, parse_rule(line)))
        except ValueError as error:
            raise RuleError("extraRulesFile", f"{shown_as} line {number}: {error}") from None
    return tuple(rules)
