"""Every `make` target and repository path that the project's messages tell a person to use exists.

A message that sends a newcomer to `make lab-deps` when there is no such target is a dead end; so is one that
names a file that moved. The strings are read from the code (Python string literals, role and playbook YAML,
shell scripts) and from the README, then checked against the Makefile and the tree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lab.checkout import checkout_files

ROOT = Path(__file__).resolve().parent.parent
# `make X` in backticks, after "run", or as a command line of its own (README code blocks, scripts).
MAKE_COMMAND = re.compile(r"(?:`|\b[Rr]un |^[ \t]*)make ([a-z][\w-]*)", re.MULTILINE)
TOP_DIRS = "scripts|lab|infra|policy|review|roles|playbooks|tenants|docs|evidence|vuln|bench|\\.ci|\\.github"
# A path of ours, not the tail of a URL, an ARN (`arn:aws:iam::aws:policy/...`) or an absolute path.
REPO_PATH = re.compile(rf"(?<![\w./~:-])((?:{TOP_DIRS})/[\w.-]+(?:/[\w.-]+)*)")


def tracked(*patterns: str) -> list[Path]:
    return [ROOT / name for name in checkout_files(ROOT, *patterns)]


def python_strings(path: Path) -> list[str]:
    """The string literals of a module, f-strings' literal parts included."""
    tree = ast.parse(path.read_text())
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def messages() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in tracked("*.py"):
        if "tests/" not in str(path.relative_to(ROOT)):
            found += [(path, text) for text in python_strings(path)]
    for path in [
        *tracked("roles/*.yml", "playbooks/*.yml", "scripts/*", ".ci/*", "Makefile"),
        ROOT / "README.md",
    ]:
        found.append((path, path.read_text()))
    return found


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return {
        name
        for line in re.findall(r"^([a-zA-Z][\w .-]*):(?!=)", makefile, re.MULTILINE)
        for name in line.split()
    }


def test_the_scanner_finds_what_a_message_names() -> None:
    text = "missing tools; run `make lab-deps` (see scripts/apt-deps and lab/hosts.py)\n  make demo\n"
    assert MAKE_COMMAND.findall(text) == ["lab-deps", "demo"]
    assert not MAKE_COMMAND.findall("packages=(iproute2 make openssl); make sure it works")
    assert REPO_PATH.findall(text) == ["scripts/apt-deps", "lab/hosts.py"]


def test_every_make_target_a_message_names_exists() -> None:
    targets = make_targets()
    named = {
        (path.relative_to(ROOT).as_posix(), word)
        for path, text in messages()
        for word in MAKE_COMMAND.findall(text)
    }
    assert named, "the scan found no `make` command at all: the scanner is broken"
    missing = sorted(f"{where}: make {target}" for where, target in named if target not in targets)
    assert not missing, f"messages name make targets the Makefile lacks: {missing}"


@pytest.mark.parametrize("placeholder", ["<tenant>", "{tenant}", "*"])
def test_paths_with_placeholders_are_not_checked_literally(placeholder: str) -> None:
    assert not REPO_PATH.fullmatch(f"tenants/{placeholder}/vpn-clients.yml")


def test_every_repository_path_a_message_names_exists() -> None:
    named = {
        (path.relative_to(ROOT).as_posix(), candidate.rstrip("."))
        for path, text in messages()
        for candidate in REPO_PATH.findall(text)
    }
    assert len(named) > 10, "the scan found almost no paths: the scanner is broken"
    missing = sorted(f"{where}: {name}" for where, name in named if not (ROOT / name).exists())
    assert not missing, f"messages name paths that do not exist: {missing}"
