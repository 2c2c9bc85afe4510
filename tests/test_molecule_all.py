"""Molecule runs: a failed scenario gets more attempts on new hosts, never silently, and three failures fail it."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import molecule_all


@pytest.fixture
def attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The outcomes the fake scenario runs return, in order; each run writes its log like molecule does."""
    outcomes: list[bool] = []
    monkeypatch.setattr(molecule_all, "ROOT", tmp_path)

    def run_once(role: str, scenario: str, running: object) -> molecule_all.ScenarioResult:
        passed = outcomes.pop(0)
        log = tmp_path / f"{role}-{scenario}.log"
        log.write_text("passed\n" if passed else "failed\n")
        return molecule_all.ScenarioResult(role, scenario, passed, 1.0, "now", log.name)

    monkeypatch.setattr(molecule_all, "_run_once", run_once)
    return outcomes


def test_a_scenario_that_fails_once_passes_on_its_second_attempt_and_says_so(
    attempts: list[bool], tmp_path: Path
) -> None:
    attempts.extend([False, True])
    result = molecule_all.run_scenario("pki", "default", {})
    assert (result.passed, result.attempts) == (True, 2)
    assert (tmp_path / "pki-default.attempt1.log").read_text() == "failed\n"  # the first run's log is kept
    assert (tmp_path / "pki-default.log").read_text() == "passed\n"


def test_a_scenario_that_fails_three_times_fails(attempts: list[bool], tmp_path: Path) -> None:
    attempts.extend([False, False, False, True])
    result = molecule_all.run_scenario("pki", "default", {})
    assert (result.passed, result.attempts) == (False, 3)
    assert attempts == [True]  # no fourth attempt
    assert {log.name for log in tmp_path.glob("pki-default.attempt*.log")} == {
        "pki-default.attempt1.log",
        "pki-default.attempt2.log",
    }


def test_a_passing_scenario_runs_once(attempts: list[bool]) -> None:
    attempts.extend([True, False])
    result = molecule_all.run_scenario("pki", "default", {})
    assert (result.passed, result.attempts) == (True, 1)
    assert attempts == [False]


def test_the_slowest_scenarios_start_first_by_the_last_run_else_by_the_ci_figures(tmp_path: Path) -> None:
    scenarios = [("audit_logging", "default"), ("openvpn", "default"), ("pki", "default"), ("pki", "tenants")]
    results = tmp_path / "results.json"
    assert molecule_all.slowest_first(scenarios, results) == [
        ("openvpn", "default"),
        ("pki", "tenants"),
        # Neither has an expected time: they keep their order, after the others.
        ("audit_logging", "default"),
        ("pki", "default"),
    ]
    results.write_text('[{"role": "audit_logging", "scenario": "default", "seconds": 900.0}]')
    assert molecule_all.slowest_first(scenarios, results)[0] == ("audit_logging", "default")
    results.write_text("{not json")
    assert molecule_all.slowest_first(scenarios, results)[0] == ("openvpn", "default")


def test_a_make_target_joins_the_pool_runs_once_even_when_it_fails_and_stays_out_of_the_scenario_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(molecule_all, "ROOT", tmp_path)
    monkeypatch.setattr(molecule_all, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(molecule_all, "discover", lambda roles: [("pki", "default")])
    monkeypatch.setattr(molecule_all.hosts, "check_host_tools", lambda: None)
    monkeypatch.setattr(molecule_all.hosts, "ensure_rootfs", lambda release: tmp_path)
    monkeypatch.setenv("MAKEFLAGS", "-j2 --jobserver-auth=3,4")
    started: list[tuple[list[str], Path | None, dict[str, str]]] = []
    job_cpu = {"make/smoke": 12_500_000, "pki/default": 30_000_000}  # usage_usec of each job's own cgroup

    @contextlib.contextmanager
    def job_cgroup(name: str) -> Iterator[Path]:
        cgroup = tmp_path / "cgroups" / name
        cgroup.mkdir(parents=True)
        yield cgroup
        # Read once the job is done, not at removal: a real cgroup's cpu.stat goes with it.
        (cgroup / "cpu.stat").unlink()

    def stream(argv, log, activity, env=None, cwd=None, show=True):  # type: ignore[no-untyped-def]
        shell, flag, script, cgroup, *command = argv
        assert (shell, flag, script) == ("sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"')
        started.append((command, cwd, dict(env or {})))
        job = Path(cgroup).relative_to(tmp_path / "cgroups").as_posix()
        (Path(cgroup) / "cpu.stat").write_text(f"usage_usec {job_cpu[job]}\nuser_usec 1\n")
        with open(env[molecule_all.hosts.CPU_RECORD_ENV], "a") as record:  # each job destroys one host
            record.write(json.dumps({"lab_id": "st9", "cpu_seconds": 20.25}) + "\n")
        return molecule_all.progress.Outcome(0 if "molecule" in command[0] else 2, 1.0, "", activity)

    monkeypatch.setattr(molecule_all.hosts, "job_cgroup", job_cgroup)
    monkeypatch.setattr(molecule_all.progress, "stream", stream)
    assert molecule_all.main(["--make", "smoke", "--jobs", "1"]) == 1
    # The make target is expected to take longer than a scenario with no figure: it starts first; failed, it
    # is not run again (the scenario would be).
    (make_argv, make_cwd, make_env), (scenario_argv, _, scenario_env) = started
    assert (make_argv, make_cwd) == (["make", "--no-print-directory", "smoke"], tmp_path)
    assert "MAKEFLAGS" not in make_env  # the parent make's job server descriptors do not reach it
    assert scenario_argv[1:] == ["test", "-s", "default"]
    assert make_env[molecule_all.hosts.CPU_RECORD_ENV] != scenario_env[molecule_all.hosts.CPU_RECORD_ENV]
    (entry,) = json.loads((tmp_path / "results.json").read_text())
    assert (entry["role"], entry["cpu_seconds"], entry["host_cpu_seconds"]) == ("pki", 30.0, 20.2)
    table = capsys.readouterr().out
    # Each job's CPU seconds: its own processes and its hosts'.
    assert re.search(r"^make/smoke\s+FAIL\s+1\.0\s+33\s+20$", table, re.MULTILINE), table
    assert re.search(r"^pki/default\s+pass\s+1\.0\s+50\s+20$", table, re.MULTILINE), table
    assert "1 passed (0 flaky: passed on a retry), 1 failed" in table
    assert "(2 s of jobs, 83 CPU s: 40 on lab hosts)" in table


def _room(busy_share: float, window: float = 0.0) -> molecule_all.CpuRoom:
    """A CpuRoom reading CPUs that are always `busy_share` busy."""
    ticks = iter(range(100, 10**9, 100))

    def read() -> tuple[float, float]:
        total = next(ticks)
        return round(total * busy_share), total

    return molecule_all.CpuRoom(0.75, window=window, read=read)


def test_busy_cpus_let_no_job_in_beyond_jobs() -> None:
    at_once: list[int] = []
    lock = threading.Lock()
    active = 0

    def run(item: int) -> int:
        nonlocal active
        with lock:
            active += 1
            at_once.append(active)
        time.sleep(0.02)
        with lock:
            active -= 1
        return item * 10

    results, most = molecule_all.run_pool(list(range(8)), run, 2, 4, _room(0.75))
    assert results == [item * 10 for item in range(8)]  # the items' order, whatever order they ended in
    assert max(at_once) == most == 2


def test_idle_cpus_let_jobs_in_up_to_max_jobs_and_no_more() -> None:
    # Each job waits until four run at once: the run fails unless the pool reaches four, and a fifth would break
    # the barrier's count.
    four = threading.Barrier(4, timeout=5)
    results, most = molecule_all.run_pool(
        list(range(8)), lambda item: four.wait() is not None, 2, 4, _room(0.74)
    )
    assert results == [True] * 8
    assert most == 4


def test_the_room_is_read_since_the_last_look_after_the_window_not_since_boot() -> None:
    now = 0.0
    ticks = [(9_000, 10_000)]  # busy for most of the time since boot
    room = molecule_all.CpuRoom(0.75, window=30.0, read=lambda: ticks[-1], clock=lambda: now)
    ticks.append((9_100, 11_000))  # then 10 % busy
    now = 29.0
    assert not room.available()  # too soon after the last start: its load does not show yet
    now = 30.0
    assert room.available()
    ticks.append((9_850, 12_000))  # then 75 % busy: no room
    now = 60.0
    assert not room.available()


def test_a_job_that_raises_stops_the_pool_only_after_the_others_end() -> None:
    ended: list[int] = []

    def run(item: int) -> int:
        if item == 0:
            raise RuntimeError("job 0 broke")
        time.sleep(0.05)
        ended.append(item)
        return item

    with pytest.raises(RuntimeError, match="job 0 broke"):
        molecule_all.run_pool([0, 1, 2], run, 2, 2, _room(1.0))
    assert sorted(ended) == [1, 2]
