"""Run every role's molecule scenarios on lab hosts, side by side, and summarise them.

Scenarios are independent, so one failure never hides another: every scenario runs, its log is kept under
build/molecule/, and the run ends with a table, a results JSON (read by the evidence report) and the line
`N passed, N failed`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from lab import hosts

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "build" / "molecule"


@dataclass(frozen=True)
class ScenarioResult:
    role: str
    scenario: str
    passed: bool
    seconds: float
    finished_at: str
    log: str


def discover(roles: list[str]) -> list[tuple[str, str]]:
    found = sorted(
        (path.parents[2].name, path.parent.name) for path in ROOT.glob("roles/*/molecule/*/molecule.yml")
    )
    return [item for item in found if not roles or item[0] in roles]


def run_scenario(role: str, scenario: str) -> ScenarioResult:
    log = RESULTS_DIR / f"{role}-{scenario}.log"
    started = time.monotonic()
    with open(log, "w") as output:
        completed = subprocess.run(
            [str(Path(sys.executable).parent / "molecule"), "test", "-s", scenario],
            check=False,
            cwd=ROOT / "roles" / role,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"},
        )
    seconds = round(time.monotonic() - started, 1)
    result = ScenarioResult(
        role,
        scenario,
        completed.returncode == 0,
        seconds,
        datetime.now(UTC).isoformat(timespec="seconds"),
        str(log.relative_to(ROOT)),
    )
    print(
        f"{'PASS' if result.passed else 'FAIL'} {role}/{scenario} in {seconds}s (log: {result.log})",
        flush=True,
    )
    if not result.passed:
        print("".join(log.read_text().splitlines(keepends=True)[-60:]), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("roles", nargs="*", help="only these roles (default: all)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MOLECULE_JOBS", "2")))
    args = parser.parse_args(argv)
    scenarios = discover(args.roles)
    if not scenarios:
        print("no molecule scenario found", file=sys.stderr)
        return 2
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    hosts.check_host_tools()
    hosts.ensure_rootfs()  # once, before scenarios race for it
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda item: run_scenario(*item), scenarios))
    (RESULTS_DIR / "results.json").write_text(json.dumps([asdict(result) for result in results], indent=2))
    print(f"\n{'scenario':40} {'result':6} seconds")
    for result in results:
        print(
            f"{result.role + '/' + result.scenario:40} {'pass' if result.passed else 'FAIL':6} {result.seconds}"
        )
    failed = sum(not result.passed for result in results)
    print(f"molecule: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
