"""What the roles' molecule tests (testinfra) share: running a playbook against the scenario's hosts, and
reaching a scenario's lab host with the same ssh command the lab itself uses.

Only valid inside `molecule verify`, which sets the MOLECULE_* environment variables read here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab import hosts

# Colour codes would split the words the tests look for.
_PLAIN = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
# Machine-readable results, whatever stdout callback and result format the scenario's ansible.cfg sets.
_JSON_RESULTS = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
PLAYBOOK_TIMEOUT_S = 600


def _molecule_env(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise RuntimeError(
            f"{name} is not set: run the test through molecule (python -m lab.molecule_all ROLE)"
        ) from None


def _ansible_playbook(
    playbook: Path | str, args: tuple[str, ...], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            # The venv's ansible-playbook, the one molecule runs, whatever PATH says.
            str(Path(sys.executable).with_name("ansible-playbook")),
            "--inventory",
            _molecule_env("MOLECULE_INVENTORY_FILE"),
            *args,
            str(playbook),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=PLAYBOOK_TIMEOUT_S,
        env={**os.environ, **_PLAIN, **env},
    )


def run_playbook(playbook: Path | str, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `ansible-playbook` on the scenario's inventory with colour off.

    Returns the run and its whole output (stdout, then stderr where ansible reports failures) folded onto one
    line, so a message ansible wrapped across lines is still found as written.
    """
    run = _ansible_playbook(playbook, args, {})
    return run, " ".join((run.stdout + run.stderr).split())


def converge_failures(
    instance: str, extra_vars: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Apply the scenario's converge.yml again to one platform with extra vars, with JSON results.

    Returns the run and the `msg` of every failed task and failed loop item, whatever the scenario's stdout
    callback is.
    """
    run = _ansible_playbook(
        Path(_molecule_env("MOLECULE_SCENARIO_DIRECTORY")) / "converge.yml",
        ("--limit", instance, "--extra-vars", json.dumps(extra_vars)),
        _JSON_RESULTS,
    )
    # Other enabled callbacks (profile_tasks) may print around the JSON document.
    start = ("\n" + run.stdout).find("\n{\n")
    if start < 0:
        raise ValueError(f"ansible-playbook printed no JSON results:\n{run.stdout}{run.stderr}")
    report, _ = json.JSONDecoder().raw_decode(run.stdout[start:])
    outcomes: list[dict[str, Any]] = [
        outcome for play in report["plays"] for task in play["tasks"] for outcome in task["hosts"].values()
    ]
    messages = [
        str(item["msg"])
        for outcome in outcomes
        for item in [outcome, *outcome.get("results", [])]
        if item.get("failed") and "msg" in item
    ]
    return run, messages


def lab_host(instance: str) -> hosts.LabHost:
    """The lab host molecule booted for the platform `instance` (its instance config keeps the lab id)."""
    config = yaml.safe_load(Path(_molecule_env("MOLECULE_INSTANCE_CONFIG")).read_text())
    lab_ids = [entry["lab_id"] for entry in config if entry["instance"] == instance]
    if len(lab_ids) != 1:
        raise RuntimeError(
            f"{len(lab_ids)} lab hosts recorded for platform {instance!r} in molecule's instance config"
        )
    return hosts.load(lab_ids[0])


# systemd 252 (src/analyze/analyze-security.c) rates an exposure, counted in tenths, by the first lower bound it
# reaches: OK is 1.0-4.9, so "OK or better" is anything below 5.0.
EXPOSURE_RATINGS = (
    (10.0, "DANGEROUS"),
    (9.0, "UNSAFE"),
    (7.5, "EXPOSED"),
    (5.0, "MEDIUM"),
    (1.0, "OK"),
    (0.1, "SAFE"),
    (0.0, "PERFECT"),
)
ACCEPTED_RATINGS = ("OK", "SAFE", "PERFECT")
SANDBOX_DROPIN = "50-secure-tenant-sandbox.conf"


@dataclass(frozen=True)
class Exposure:
    """The overall exposure `systemd-analyze security UNIT` gives a unit, and its rating."""

    unit: str
    value: float
    rating: str


def parse_exposure(unit: str, output: str) -> Exposure:
    """Read the overall exposure line of `systemd-analyze security UNIT`."""
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9]+\.[0-9]) ([A-Z]+)", output)
    if match is None:
        raise ValueError(f"no overall exposure for {unit} in systemd-analyze output:\n{output}")
    return Exposure(unit, float(match[1]), match[2])


def rating_of(value: float) -> str:
    """The rating systemd 252 gives an exposure value."""
    return next(name for bound, name in EXPOSURE_RATINGS if value >= bound)


def sandboxed_exposure(host: Any, unit: str) -> Exposure:
    """The exposure of `unit` on a testinfra host, which must run with the systemd_sandbox drop-in.

    Fails unless the drop-in is installed and systemd rates the unit OK or better, by its number (below 5.0) and
    by its label, and the two agree.
    """
    with host.sudo():
        dropin = host.file(f"/etc/systemd/system/{unit}.d/{SANDBOX_DROPIN}")
        if not dropin.exists:
            raise AssertionError(f"{unit} has no sandbox drop-in ({dropin.path})")
        exposure = parse_exposure(unit, host.check_output(f"systemd-analyze security --no-pager {unit}"))
    if not (
        exposure.value < 5.0
        and exposure.rating in ACCEPTED_RATINGS
        and rating_of(exposure.value) == exposure.rating
    ):
        raise AssertionError(f"{unit} is not rated OK or better: {exposure}")
    return exposure
