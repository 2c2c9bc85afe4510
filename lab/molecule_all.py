"""Run every role's molecule scenarios on lab hosts, side by side, and summarise them.

Scenarios are independent, so one failure never hides another: every scenario runs, its log is kept under
build/molecule/, and the run ends with a table, a results JSON (read by the evidence report) and the line
`N passed, N failed`.

`--make TARGET` adds a make target that also works on lab hosts (`make test` adds the smoke test and bastion-12) to
the same pool, so that all the lab work shares the job slots and ends together, instead of a fixed second queue that
idles while the other is still busy. A target runs once; its log is `make-<target>.log` beside the scenarios'.

`--jobs N` jobs always run side by side; `--max-jobs M` lets more in, one at a time, while the CPUs have room
(less than `--max-busy` percent busy over the last half minute, measured after the last start). Lab jobs spend
much of their time waiting on hosts (boot, apt, handshakes, timers), so a fixed count that keeps the cores busy
beside lint leaves them half idle once lint is done; one that fills them then would starve lint before.

A failed scenario runs again from scratch (new hosts), up to three attempts in all: lab hosts share two cores with
everything else, and Debian 13's systemd 257 in a lab container sometimes fails a service restart ("Failed to spawn
executor: No such file or directory", then restarts it by itself), which should not hide the rest of a CI run. A
retry is never silent: each failed attempt's report is printed, its log kept (`<role>-<scenario>.attemptN.log`), and
the summary and the results JSON count the scenario as flaky. A scenario that fails three times fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from lab import cputime, hosts, progress

Item = TypeVar("Item")
Result = TypeVar("Result")

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "build" / "molecule"
# The Debian release every scenario's hosts run (a platform's `release` in molecule.yml wins), handed to
# lab/molecule/create.yml and built once below: the lab's default (lab/hosts.py), or SECURE_TENANT_LAB_RELEASE.
RELEASE = hosts.DEFAULT_RELEASE
# Seconds per scenario of a full run on Debian 13 with Mitogen (issue 23), for a checkout whose build/molecule has no
# results yet: the slowest start first, so that none of them starts last while the other job slot idles.
# A checkout's own last run (results.json) overrides these; a scenario in neither starts after them.
# Make targets (`make/<target>`) are timed by these alone: results.json keeps the scenarios', which the evidence
# report reads.
EXPECTED_SECONDS = {
    "openvpn/default": 583.0,
    "os_baseline/default": 498.0,
    "make/bastion-12": 450.0,
    "pki/tenants": 408.0,
    "log_forwarding/default": 320.0,
    "intrusion_detection/default": 317.0,
    "make/smoke": 160.0,
}
# The role name of a make target in the pool.
MAKE = "make"
# How long a started job runs before the CPUs' load is read again for the next: long enough to include its boot.
LOAD_WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class ScenarioResult:
    role: str
    scenario: str
    passed: bool
    seconds: float
    finished_at: str
    log: str
    attempts: int = 1
    # CPU seconds of the job's own processes (on this machine) and of the lab hosts it booted, every attempt's.
    cpu_seconds: float = 0.0
    host_cpu_seconds: float = 0.0

    @property
    def total_cpu_seconds(self) -> float:
        return self.cpu_seconds + self.host_cpu_seconds


@dataclass
class CpuRoom:
    """Whether the CPUs have room for one more job: less than `max_busy` busy since the last look, which must be
    at least `window` seconds ago (so a job just started shows its load before the next one is let in)."""

    max_busy: float
    window: float = LOAD_WINDOW_SECONDS
    read: Callable[[], tuple[float, float]] = cputime.cpu_times
    clock: Callable[[], float] = time.monotonic
    _mark: tuple[float, float] = field(init=False)
    _since: float = field(init=False)

    def __post_init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self._mark, self._since = self.read(), self.clock()

    def available(self) -> bool:
        if self.clock() - self._since < self.window:
            return False
        (busy, total), (busy_before, total_before) = self.read(), self._mark
        self.restart()
        return (busy - busy_before) < self.max_busy * (total - total_before)


def run_pool(
    items: list[Item], run: Callable[[Item], Result], jobs: int, max_jobs: int, room: CpuRoom
) -> tuple[list[Result], int]:
    """Run every item in order of the list: `jobs` at once, up to `max_jobs` while `room` says the CPUs have
    room. The results in the items' order, and the most jobs that ran at once."""
    futures: dict[Future[Result], int] = {}
    waiting = list(enumerate(items))[::-1]
    most = 0
    with ThreadPoolExecutor(max_workers=max_jobs) as pool:
        while waiting:
            running = [future for future in futures if not future.done()]
            if len(running) < jobs or (len(running) < max_jobs and room.available()):
                index, item = waiting.pop()
                futures[pool.submit(run, item)] = index
                room.restart()
                most = max(most, len(running) + 1)
            else:
                wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
    return [future.result() for future in sorted(futures, key=futures.__getitem__)], most


def discover(roles: list[str]) -> list[tuple[str, str]]:
    found = sorted(
        (path.parents[2].name, path.parent.name) for path in ROOT.glob("roles/*/molecule/*/molecule.yml")
    )
    return [item for item in found if not roles or item[0] in roles]


def slowest_first(scenarios: list[tuple[str, str]], results: Path) -> list[tuple[str, str]]:
    """The scenarios, longest expected first (the last run's seconds, else EXPECTED_SECONDS), ties by name."""
    expected = dict(EXPECTED_SECONDS)
    try:
        expected |= {
            f"{r['role']}/{r['scenario']}": float(r["seconds"]) for r in json.loads(results.read_text())
        }
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no earlier run here, or an unreadable one: EXPECTED_SECONDS alone
    return sorted(scenarios, key=lambda item: -expected.get(f"{item[0]}/{item[1]}", 0.0))


def run_scenario(
    role: str, scenario: str, running: dict[str, progress.Activity], attempts: int = 3
) -> ScenarioResult:
    """Run one scenario, and again while it fails and attempts are left."""
    result = _run_once(role, scenario, running)
    for attempt in range(2, attempts + 1):
        if result.passed:
            break
        first_log = ROOT / result.log
        first_log.rename(first_log.with_suffix(f".attempt{attempt - 1}.log"))
        progress.PRINTER.line(f"RETRY {role}/{scenario}: attempt {attempt} of {attempts} on new hosts")
        again = _run_once(role, scenario, running)
        result = replace(
            again,
            attempts=attempt,
            cpu_seconds=result.cpu_seconds + again.cpu_seconds,
            host_cpu_seconds=result.host_cpu_seconds + again.host_cpu_seconds,
        )
    return result


def _run_once(role: str, scenario: str, running: dict[str, progress.Activity]) -> ScenarioResult:
    name = f"{role}/{scenario}"
    log = RESULTS_DIR / f"{role}-{scenario}.log"
    running[name] = activity = progress.Activity(name)
    if role == MAKE:
        argv = ["make", "--no-print-directory", scenario]
        # A make that started this pool hands its job server to its children only through file descriptors
        # that do not reach this one: the target runs as a make of its own.
        env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS")}
        cwd = ROOT
    else:
        argv = [str(Path(sys.executable).parent / "molecule"), "test", "-s", scenario]
        env = {
            **os.environ,
            "ANSIBLE_FORCE_COLOR": "0",
            "PY_COLORS": "0",
            # Molecule keys its state by the role folder's name alone: two checkouts testing the same role at once
            # would share (and destroy) each other's hosts. The state lives in this checkout instead.
            "MOLECULE_EPHEMERAL_DIRECTORY": str(RESULTS_DIR / "state" / f"{role}-{scenario}"),
            "SECURE_TENANT_LAB_RELEASE": RELEASE,
        }
        cwd = ROOT / "roles" / role
    # What the job costs the machine, whatever else runs beside it: its processes in a cgroup of their own, its
    # hosts' CPU seconds written by hosts.destroy() to a file of its own.
    host_cpu = RESULTS_DIR / "state" / f"{role}-{scenario}.hosts-cpu.jsonl"
    host_cpu.parent.mkdir(parents=True, exist_ok=True)
    host_cpu.unlink(missing_ok=True)
    with hosts.job_cgroup(name) as cgroup:
        outcome = progress.stream(
            hosts.in_cgroup(cgroup, argv),
            log,
            activity,
            env={**env, hosts.CPU_RECORD_ENV: str(host_cpu)},
            cwd=cwd,
            show=False,
        )
        cpu_seconds = hosts.cgroup_cpu_seconds(cgroup)
    del running[name]
    result = ScenarioResult(
        role,
        scenario,
        outcome.ok,
        round(outcome.seconds, 1),
        datetime.now(UTC).isoformat(timespec="seconds"),
        str(log.relative_to(ROOT)),
        cpu_seconds=round(cpu_seconds, 1),
        host_cpu_seconds=round(hosts.recorded_cpu_seconds(host_cpu), 1),
    )
    progress.PRINTER.line(
        f"{'PASS' if result.passed else 'FAIL'} {name} in {progress.elapsed(result.seconds)} (log: {result.log})"
    )
    if not result.passed:
        progress.PRINTER.line(outcome.failure_report(log.relative_to(ROOT)))
    return result


def _report_progress(running: dict[str, progress.Activity], finished: threading.Event, total: int) -> None:
    """Every few seconds: which scenarios run, at which molecule step and task."""
    started = time.monotonic()
    while not finished.wait(5):
        if running:
            states = "; ".join(activity.summary() for activity in list(running.values()))
            progress.PRINTER.show(
                f"molecule {progress.elapsed(time.monotonic() - started)} ({total} jobs): {states}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("roles", nargs="*", help="only these roles (default: all)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MOLECULE_JOBS", "2")))
    parser.add_argument(
        "--max-jobs",
        type=int,
        help="more jobs at once than --jobs, up to this many, while the CPUs have room",
    )
    parser.add_argument(
        "--max-busy",
        type=int,
        default=75,
        metavar="PERCENT",
        help="let another job in above --jobs only while the CPUs were less busy than this (default: %(default)s)",
    )
    parser.add_argument(
        "--make",
        action="append",
        default=[],
        metavar="TARGET",
        help="also run this make target in the pool, once (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or not 0 < args.max_busy <= 100:
        parser.error("--jobs must be at least 1 and --max-busy a percentage above 0, at most 100")
    max_jobs = max(args.max_jobs or args.jobs, args.jobs)
    jobs = discover(args.roles) + [(MAKE, target) for target in args.make]
    if not jobs:
        print("no molecule scenario found", file=sys.stderr)
        return 2
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    hosts.check_host_tools()
    hosts.ensure_rootfs(RELEASE)  # once, before scenarios race for it
    running: dict[str, progress.Activity] = {}
    finished = threading.Event()
    reporter = threading.Thread(target=_report_progress, args=(running, finished, len(jobs)), daemon=True)
    reporter.start()
    started = time.monotonic()
    results, most_at_once = run_pool(
        slowest_first(jobs, RESULTS_DIR / "results.json"),
        lambda item: run_scenario(item[0], item[1], running, attempts=1 if item[0] == MAKE else 3),
        args.jobs,
        max_jobs,
        CpuRoom(args.max_busy / 100),
    )
    seconds = time.monotonic() - started
    finished.set()
    progress.PRINTER.done()
    (RESULTS_DIR / "results.json").write_text(
        json.dumps([asdict(result) for result in results if result.role != MAKE], indent=2)
    )
    # Jobs share the cores, so a job's seconds depend on what ran beside it; its CPU seconds do not: they are what
    # the job costs (its own processes, and apart the lab hosts it booted).
    print(f"\n{'scenario':40} {'result':6} {'seconds':>8} {'CPU s':>7} {'on hosts':>9}")
    for result in results:
        outcome = ("pass" if result.passed else "FAIL") + (
            f" on attempt {result.attempts}" if result.attempts > 1 else ""
        )
        print(
            f"{result.role + '/' + result.scenario:40} {outcome:6} {result.seconds:8.1f} "
            f"{result.total_cpu_seconds:7.0f} {result.host_cpu_seconds:9.0f}"
        )
    failed = sum(not result.passed for result in results)
    flaky = sum(result.passed and result.attempts > 1 for result in results)
    print(
        f"molecule: {len(results) - failed} passed ({flaky} flaky: passed on a retry), {failed} failed "
        f"in {progress.elapsed(seconds)} with {args.jobs} jobs"
        + (
            f", up to {max_jobs} while the CPUs had room ({most_at_once} at most)"
            if max_jobs > args.jobs
            else ""
        )
        + f" ({sum(r.seconds for r in results):.0f} s of jobs, "
        f"{sum(r.total_cpu_seconds for r in results):.0f} CPU s: "
        f"{sum(r.host_cpu_seconds for r in results):.0f} on lab hosts)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
