"""The engine check: the real Suricata 7 loads every declared rule strictly, and reports what it refuses.

Suricata must be installed (scripts/apt-deps): these tests fail without it, they never skip.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.firewall.engine import engine_problems, suricata_binary
from review.offline import StackSnapshot
from tests.firewall_groups import declared_groups


def test_suricata_7_is_installed() -> None:
    version = subprocess.run([suricata_binary(), "-V"], capture_output=True, text=True, check=True).stdout
    assert "version 7." in version, f"AWS Network Firewall runs Suricata 7, this is: {version}"


def test_each_rule_group_loads_strictly_with_only_its_own_variables(example_stack: StackSnapshot) -> None:
    for group in declared_groups(example_stack):
        assert engine_problems(group.rules_string, group.ip_sets) == [], group.key


def test_each_rule_loads_on_its_own(example_stack: StackSnapshot) -> None:
    checks = [(group, line) for group in declared_groups(example_stack) for line in group.lines]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda check: engine_problems(check[1] + "\n", check[0].ip_sets), checks))
    refused = {line: problems for (_, line), problems in zip(checks, results, strict=True) if problems}
    assert refused == {}


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        (
            'alert tcp any any -> any any (msg:"x"; no_such_keyword; sid:1000001; rev:1;)',
            "unknown rule keyword",
        ),
        ('alert tcp $NOT_DEFINED any -> any any (msg:"x"; sid:1000001; rev:1;)', "NOT_DEFINED"),
        # A warning is fatal too: the Host buffer is lowercase already, so nocase betrays a mistake.
        (
            'alert http any any -> any any (msg:"x"; http.host; content:"a.org"; nocase; sid:1000001; rev:1;)',
            "nocase",
        ),
    ],
)
def test_the_engine_check_reports_what_suricata_refuses(rule: str, said: str) -> None:
    problems = engine_problems(rule + "\n", {"HOME_NET": ["10.0.0.0/16"]})
    assert problems and any(said in problem for problem in problems), problems
