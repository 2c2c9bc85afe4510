"""The real Suricata engine as the last judge of rules: `suricata -T` with the variables AWS defines."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from infra.firewall.rules import ip_set_text

# What Suricata says about its rules file as a whole, once a rule failed: no news for whoever fixes the rule.
_ENGINE_NOISE = re.compile(r"rule files specified, but no rules were loaded|Loading signatures failed")
_ENGINE_FILE_LINE = re.compile(r"from file \S+ at line (\d+)")


def engine_config(ip_sets: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A minimal suricata.yaml for checking rules: the variables as AWS defines them, no outputs, no stats."""
    groups = {name: ip_set_text(definitions) for name, definitions in ip_sets.items()}
    # AWS always defines EXTERNAL_NET as the negation of the policy's HOME_NET.
    groups.setdefault("EXTERNAL_NET", "!$HOME_NET")
    return {
        "vars": {"address-groups": groups, "port-groups": {}},
        "stats": {"enabled": False},
        "outputs": [],
        "logging": {"default-log-level": "notice", "outputs": [{"console": {"enabled": True}}]},
        "app-layer": {
            "protocols": {"tls": {"enabled": True}, "http": {"enabled": True}, "ssh": {"enabled": True}}
        },
    }


def write_engine_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text("%YAML 1.1\n---\n" + yaml.safe_dump(dict(config), sort_keys=False))
    return path


def suricata_binary() -> str:
    found = shutil.which("suricata")
    if found is None:
        raise FileNotFoundError(
            "suricata is not installed: run scripts/apt-deps (Suricata 7 from bookworm-backports)"
        )
    return found


def engine_problems(
    rules: str, ip_sets: Mapping[str, Sequence[str]], line_names: Sequence[str] | None = None
) -> list[str]:
    """What the real Suricata says loading these rules strictly (`suricata -T`); empty when they all load.

    `line_names` say where each line of `rules` comes from (e.g. "acme.rules line 4"), for the messages.
    """
    with tempfile.TemporaryDirectory(prefix="secure-tenant-suricata-") as directory:
        work = Path(directory)
        (work / "rules").write_text(rules)
        result = subprocess.run(
            [
                suricata_binary(),
                "-T",
                "--init-errors-fatal",
                "-c",
                str(write_engine_config(work / "suricata.yaml", engine_config(ip_sets))),
                "-S",
                str(work / "rules"),
                "-l",
                str(work),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def where(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return (
            f"at {line_names[number - 1]}"
            if line_names and number <= len(line_names)
            else f"at line {number}"
        )

    said = [
        _ENGINE_FILE_LINE.sub(where, line)
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith(("E:", "W:")) and not _ENGINE_NOISE.search(line)
    ]
    if result.returncode != 0:
        return said or [f"suricata -T exited with {result.returncode}"]
    return said
