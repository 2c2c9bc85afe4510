"""lab.cputime: the wall time and the machine's CPU time of a command, the record `make bench` reads."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from lab import cputime


def test_cpu_times_count_waiting_for_the_disk_as_idle(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    tick = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal guest guest_nice; then one line per CPU, not read
    stat.write_text(f"cpu  100 10 50 700 90 5 5 40 30 0\ncpu0 {tick * 1000} 0 0 0 0 0 0 0 0 0\n")
    assert cputime.cpu_times(stat) == pytest.approx((210 / tick, 1000 / tick))


@pytest.mark.parametrize("exit_code", [0, 3])
def test_the_command_s_status_time_and_cpu_are_reported_and_recorded(
    exit_code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readings = iter([(100.0, 1000.0), (460.4, 1500.0)])
    monkeypatch.setattr(cputime, "cpu_times", lambda: next(readings))
    monkeypatch.setattr(cputime.os, "cpu_count", lambda: 2)
    record = tmp_path / "build" / "make-test.json"
    status = cputime.main(
        [
            "--label",
            "make test: all phases",
            "--record",
            str(record),
            "--",
            sys.executable,
            "-c",
            f"import sys; sys.exit({exit_code})",
        ]
    )
    assert status == exit_code
    line = capsys.readouterr().out
    outcome = "passed" if exit_code == 0 else "FAILED"
    assert line.startswith(f"make test: all phases {outcome} in ")
    assert "the CPUs were busy 360 s" in line and "takes less than 180 s here" in line
    saved = json.loads(record.read_text())
    assert saved["passed"] is (exit_code == 0)
    assert (saved["cpu_busy_seconds"], saved["cores"]) == (360, 2)
    assert saved["commit"]
