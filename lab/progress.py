"""Progress of long runs (ansible-playbook, molecule) while they run; the whole output is kept in a log.

A slow run and a hung one look the same when nothing is printed for minutes. These helpers read the child's
output line by line as it comes, write all of it to the log, and show the one thing a person needs: which step
and task is running, how many tasks are done (of how many, when known) and the elapsed time. On a terminal that
is one line rewritten in place; in a CI log, one line every few seconds at most. A failure names the failing
task, its error and the log, never a Python traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.+?)\]")
_MOLECULE_ACTION = re.compile(r"\[(?P<scenario>[\w.-]+) > (?P<action>[\w-]+)\] Executing")
_FAILURE = re.compile(r"^(?:fatal|failed): \[")
# pytest (molecule's verifier): the assertion lines of a failed test, and its one-line summary at the end.
_TEST_FAILURE = re.compile(r"^(?:E {3}|(?:FAILED|ERROR) \S+::)")
_LISTED_TASK = re.compile(r"^ {6}\S.*\tTAGS: ")
# In a CI log (no terminal), a progress line at most this often.
LOG_INTERVAL_S = 20.0


def elapsed(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes:02d}:{rest:02d}"


@dataclass
class Activity:
    """What a run is doing, read from its output: molecule step, current task, tasks done, failures."""

    label: str
    total_tasks: int | None = None
    action: str = ""
    task: str = ""
    tasks_done: int = 0
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _failed_task: str = ""

    def feed(self, line: str) -> None:
        if match := _MOLECULE_ACTION.search(line):
            self.action, self.task = match["action"], ""
        elif match := _TASK.match(line):
            self.task = match["name"]
            self.tasks_done += 1
        elif _FAILURE.match(line):
            if self._failed_task != self.task:
                self.failures.append(f"task: {self.task}")
                self._failed_task = self.task
            self.failures.append(line.rstrip()[:2000])
        elif _TEST_FAILURE.match(line):
            self.failures.append(line.rstrip()[:2000])

    def summary(self) -> str:
        # --list-tasks misses dynamic includes and handlers: the listed total is a floor, not a promise.
        total = max(self.total_tasks or 0, self.tasks_done)
        count = f"{self.tasks_done}/{total}" if self.total_tasks else str(self.tasks_done)
        step = f" {self.action}" if self.action else ""
        task = f" task {count}: {self.task}" if self.task else ""
        return f"[{self.label} {elapsed(time.monotonic() - self.started)}]{step}{task}"


class _Printer:
    """One progress line rewritten in place on a terminal, a line every LOG_INTERVAL_S in a log."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.last = 0.0
        self.lock = threading.Lock()

    def show(self, text: str) -> None:
        with self.lock:
            if self.tty:
                width = shutil.get_terminal_size().columns - 1
                sys.stdout.write("\r\033[K" + text[:width])
            elif time.monotonic() - self.last >= LOG_INTERVAL_S:
                sys.stdout.write(text + "\n")
            else:
                return
            self.last = time.monotonic()
            sys.stdout.flush()

    def line(self, text: str) -> None:
        """A line that stays (a result), above the progress line."""
        with self.lock:
            sys.stdout.write(("\r\033[K" if self.tty else "") + text + "\n")
            sys.stdout.flush()

    def done(self) -> None:
        if self.tty:
            with self.lock:
                sys.stdout.write("\r\033[K")
                sys.stdout.flush()


PRINTER = _Printer()


@dataclass(frozen=True)
class Outcome:
    returncode: int
    seconds: float
    output: str
    activity: Activity

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure_report(self, log: Path) -> str:
        """The failing task and its error, then where the whole output is."""
        detail = "\n".join(self.activity.failures[-30:]) or "\n".join(self.output.splitlines()[-15:])
        return f"{self.activity.label} failed after {elapsed(self.seconds)}:\n{detail}\nwhole output: {log}"


def stream(
    argv: Sequence[str],
    log: Path,
    activity: Activity,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    show: bool = True,
) -> Outcome:
    """Run `argv`, writing its output to `log` and its progress to `activity` (and the terminal if `show`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    with open(log, "w") as out:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert process.stdout is not None
        finished = threading.Event()
        if show:
            # A task can be silent for minutes (an apt transaction): the elapsed time still moves on screen.
            threading.Thread(target=_heartbeat, args=(activity, finished), daemon=True).start()
        for line in process.stdout:
            out.write(line)
            out.flush()
            lines.append(line)
            activity.feed(line)
            if show:
                PRINTER.show(activity.summary())
        returncode = process.wait()
        finished.set()
    if show:
        PRINTER.done()
    return Outcome(returncode, time.monotonic() - activity.started, "".join(lines), activity)


def _heartbeat(activity: Activity, finished: threading.Event) -> None:
    while not finished.wait(1 if PRINTER.tty else LOG_INTERVAL_S):
        PRINTER.show(activity.summary())


def count_tasks(
    playbook_argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> int:
    """The tasks ansible-playbook lists for this run (statically known ones), or 0 if it cannot list them."""
    listed = subprocess.run(
        [*playbook_argv, "--list-tasks"], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    return sum(bool(_LISTED_TASK.match(line)) for line in listed.stdout.splitlines())
