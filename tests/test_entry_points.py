"""Every installed command, handed a broken input, answers with a message that names the input and the fix, exit
code 2 and no traceback. A new entry point without a broken-input case here fails the first test."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# (command, arguments, a file it reads and that file's text or None, what the refusal must say)
BROKEN: list[tuple[str, list[str], str | None, str]] = [
    ("secure-tenant-preview", ["--stack", "acme-prd"], None, "Pulumi.acme-prd.yaml: no such stack file"),
    (
        "secure-tenant-preview",
        ["--set", "secure-tenant:keys={adminRoleArns: [arn:aws:iam::999999999999:role/admin]}"],
        None,
        "secure-tenant:keys.adminRoleArns: arn:aws:iam::999999999999:role/admin not in account",
    ),
    ("secure-tenant-lab", ["create", "Bad_Name"], None, "hostname 'Bad_Name' must be lowercase"),
    ("secure-tenant-lab", ["create", "good", "--release", "99"], None, "unknown Debian release '99'"),
    ("secure-tenant-vuln-sla", ["{file}"], "{", "not valid JSON at line"),
    ("secure-tenant-vuln-sla", ["{file}"], "[1]", "item 1"),
    ("secure-tenant-vuln-sla", ["{missing}"], None, "cannot be read"),
    (
        "secure-tenant",
        ["tenant", "new", "../evil", "--region", "eu-west-1"],
        None,
        "NAME: '../evil' is not a tenant",
    ),
    ("secure-tenant", ["fleet", "preview", "--tenant", "acmee"], None, "--tenant acmee: no such stack"),
]


def test_every_entry_point_has_a_broken_input_case() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {command for command, *_ in BROKEN}


@pytest.mark.parametrize(
    ("command", "args", "text", "says"), BROKEN, ids=[f"{c[0]}-{i}" for i, c in enumerate(BROKEN)]
)
def test_a_broken_input_is_refused_in_one_message_without_a_traceback(
    tmp_path: Path, command: str, args: list[str], text: str | None, says: str
) -> None:
    given = tmp_path / "input.json"
    if text is not None:
        given.write_text(text)
    argv = [
        arg.replace("{file}", str(given)).replace("{missing}", str(tmp_path / "missing.json")) for arg in args
    ]
    result = subprocess.run(
        [str(BIN / command), *argv], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
