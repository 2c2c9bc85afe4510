"""Run a command and say how long it took and how much CPU the machine spent meanwhile.

`make test` runs under it: `python -m lab.cputime --label "all phases" --record build/make-test.json -- make ...`.
Its lab hosts run in their own cgroups, not as children of the command, so the CPU time is the whole machine's
(/proc/stat), which on a quiet CI machine is the run's. That time divided by the cores is the shortest the run
could take with the same work however it were scheduled: `make bench` prints the record next to issue 23's target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def cpu_times(stat: Path = Path("/proc/stat")) -> tuple[float, float]:
    """Busy and total seconds of all CPUs since boot. Waiting for the disk (iowait) counts as idle: a CPU that waits
    is free for other work."""
    # user nice system idle iowait irq softirq steal (guest time is counted in user already)
    ticks = [int(value) for value in stat.read_text().split("\n", 1)[0].split()[1:9]]
    per_second = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / per_second, sum(ticks) / per_second


def commit() -> str:
    """The checkout's commit, marked when tracked files differ from it (the record then describes no commit)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no")
    return (git("rev-parse", "--short", "HEAD") or "unknown") + ("+changes" if changed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.cputime", description=__doc__)
    parser.add_argument("--label", required=True, help="what the command is, for the last line")
    parser.add_argument("--record", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("command", nargs="+", help="the command (after --)")
    args = parser.parse_args(argv)
    busy_before, _ = cpu_times()
    started = time.monotonic()
    status = subprocess.run(args.command, check=False).returncode
    seconds = round(time.monotonic() - started)
    busy = round(cpu_times()[0] - busy_before)
    cores = os.cpu_count() or 1
    print(
        f"{args.label} {'passed' if status == 0 else 'FAILED'} in {seconds} s; the CPUs were busy {busy} s "
        f"({100 * busy // max(seconds * cores, 1)} % of {cores} cores: no schedule of this work takes less than "
        f"{busy // cores} s here)"
    )
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "label": args.label,
            "passed": status == 0,
            "seconds": seconds,
            "cpu_busy_seconds": busy,
            "cores": cores,
            "commit": commit(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        args.record.write_text(json.dumps(record, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
