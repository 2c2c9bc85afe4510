"""The bench's target lines: each issue-23 target next to its floor, and the Mitogen strategy it measures."""

from __future__ import annotations

import configparser
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from bench.__main__ import DEV_SEC, ROOT, make_test_target, targets


def lab_results(first: float, rerun: float) -> dict[str, object]:
    def run(seconds: float, runs: list[float] | None = None) -> dict[str, object]:
        return {
            "seconds": seconds,
            "changed": 0,
            "ok": 150,
            "skipped": 50,
            "tasks": 200,
            "slowest": [],
            "runs": runs or [seconds],
        }

    return {
        "first converge": run(first),
        "no-change re-run": run(rerun, [rerun + 9, rerun, rerun - 5]),
        "no-change re-run, plain SSH (fallback)": run(rerun * 2),
        "AIDE initial database (floor)": 20.0,
        "PKI keys: 1 CA RSA-4096 + 3 RSA-2048 (floor)": 2.5,
        "ansible -m ping (floor)": 1.0,
        "fact gathering (floor)": 3.0,
        "apt-get install of what the converge added (floor)": 50.0,
    }


def test_each_target_is_printed_with_its_verdict_floor_and_per_task_cost() -> None:
    lines = targets(lab_results(first=170.0, rerun=30.0))
    first, rerun, rerun_tasks, plain, plain_tasks, *ratios = lines
    assert "target 180 s, met" in first
    assert "floor 72.5 s = apt 50.0 s + AIDE initial database 20.0 s + PKI keys" in first
    assert "target 40 s, met, changed=0" in rerun
    # One fact gathering plus one round trip per role of playbooks/bastion.yml (9 roles).
    assert "floor 12.0 s = facts 3.0 s + 9 roles x ping 1.0 s" in rerun
    # The Mitogen re-run is the median of several (--runs); the fallback is measured once.
    assert "median of 3 runs (25.0-39.0 s)" in rerun
    assert "median" not in plain
    assert "150 ok, 50 skipped; 0.15 s per task" in rerun_tasks
    assert "plain SSH (fallback)" in plain and "target 40 s, NOT met" in plain
    assert "0.30 s per task" in plain_tasks
    assert ratios[0].split()[4] == f"{170.0 / DEV_SEC['first converge']:.2f}"


@pytest.mark.parametrize(("seconds", "verdict"), [(900, "target 900 s, met"), (901, "target 900 s, NOT met")])
def test_make_test_is_judged_from_its_last_record_next_to_its_cpu_floor(
    seconds: int, verdict: str, tmp_path: Path
) -> None:
    record = tmp_path / "make-test.json"
    run = {"seconds": seconds, "cpu_busy_seconds": 2590, "cores": 2, "passed": True}
    record.write_text(json.dumps(run | {"finished_at": "2026-12-02T23:00:00+00:00", "commit": "06c4d62"}))
    line = make_test_target(record)
    assert line.split()[:4] == ["make", "test", "(s)", str(seconds)]
    assert f"{verdict}; floor 1295 s = CPU busy 2590 s / 2 cores; passed" in line
    assert "commit 06c4d62" in line
    record.write_text(json.dumps(run | {"passed": False, "finished_at": "now", "commit": "x"}))
    assert "FAILED" in make_test_target(record)  # a failed run's time is no figure of the whole suite


@pytest.mark.parametrize(
    "content", [None, "{", '{"seconds": 800}', '{"seconds": 800, "cpu_busy_seconds": 1, "cores": 0}']
)
def test_without_a_readable_record_the_bench_says_to_run_make_test(
    content: str | None, tmp_path: Path
) -> None:
    record = tmp_path / "make-test.json"
    if content is not None:
        record.write_text(content)
    line = make_test_target(record)
    assert "run `make test` first" in line and "met" not in line


def test_ansible_cfg_and_molecule_run_the_mitogen_linear_installed_in_this_environment() -> None:
    """ansible.cfg and molecule's base config choose mitogen_linear; both plugin paths must be where pip put it."""
    spec = importlib.util.find_spec("ansible_mitogen")
    assert spec is not None and spec.origin is not None
    installed = Path(spec.origin).parent / "plugins" / "strategy"
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    assert config["defaults"]["strategy"] == "mitogen_linear"
    assert (ROOT / config["defaults"]["strategy_plugins"]).resolve() == installed.resolve()
    molecule = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())["ansible"]["cfg"]
    assert molecule["defaults"]["strategy"] == "mitogen_linear"
    from_a_role = molecule["defaults"]["strategy_plugins"].replace(
        "${MOLECULE_PROJECT_DIRECTORY}", "roles/openssl"
    )
    assert (ROOT / from_a_role).resolve() == installed.resolve()
    assert (installed / "mitogen_linear.py").is_file()
