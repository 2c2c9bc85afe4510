"""`secure-tenant fleet preview|up|refresh|drift|outputs`: the fleet's stacks through Pulumi's Automation API.

A thin layer: each stack gets its own `LocalWorkspace` on this project, is selected (or created, for preview and up)
and run with the policy pack and its own `--policy-pack-config` (its waived settings' policies advisory), as `make
pulumi-preview` runs one stack. Stacks run `parallel` at a time in threads (each waits on its own `pulumi` process);
one stack's failure is its row of the summary, never the end of the others. Every stack's whole output is kept in
build/fleet/<operation>/<stack>.log; `outputs` (and `up`) also save `pulumi stack output --json --show-secrets` as
build/fleet/outputs/<stack>.json, which the inventory reads offline (SECURE_TENANT_STACK_OUTPUTS).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pulumi import automation as auto

from fleet.report import table
from fleet.tenants import ROOT, StackFile
from infra.waivers import statements, waivers_in_force
from lab import progress
from review.pack_runner import policy_pack_config

OUT = ROOT / "build" / "fleet"
POLICY_PACK = str(ROOT / "policy")
# The operations that may create a stack the backend does not know yet; the others need it to exist.
CREATES_STACK = frozenset({"preview", "up"})


@dataclass
class StackRun:
    """One stack's run: the summary row and where its whole output is."""

    stack: str
    result: str = "ok"  # ok | changes | drift | failed
    changes: dict[str, int] = field(default_factory=dict)
    verdicts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    log: Path = OUT
    error: str = ""

    @property
    def change_summary(self) -> str:
        shown = {op: count for op, count in self.changes.items() if count and op != "same"}
        return ", ".join(f"{count} {op}" for op, count in sorted(shown.items())) or "none"


@dataclass(frozen=True)
class Run:
    """What one operation needs of a selected stack."""

    stack: auto.Stack
    policy_config: str
    output: Callable[[str], None]
    on_event: Callable[[auto.EngineEvent], None]

    def pack(self) -> dict[str, Any]:
        return {"policy_packs": [POLICY_PACK], "policy_pack_configs": [self.policy_config]}


def _preview(run: Run) -> Mapping[Any, int]:
    result = run.stack.preview(
        on_output=run.output, on_event=run.on_event, diff=True, color="never", **run.pack()
    )
    return result.change_summary


def _up(run: Run) -> Mapping[Any, int]:
    result = run.stack.up(on_output=run.output, on_event=run.on_event, diff=True, color="never", **run.pack())
    _save_outputs(run.stack.name, result.outputs)
    return result.summary.resource_changes or {}


def _refresh(run: Run) -> Mapping[Any, int]:
    result = run.stack.refresh(on_output=run.output, on_event=run.on_event, color="never")
    return result.summary.resource_changes or {}


def _drift(run: Run) -> Mapping[Any, int]:
    # As `make drift`: the real resources read back, then any difference from the program is an error.
    result = run.stack.preview(
        on_output=run.output,
        on_event=run.on_event,
        refresh=True,
        expect_no_changes=True,
        diff=True,
        color="never",
        **run.pack(),
    )
    return result.change_summary


def _outputs(run: Run) -> Mapping[Any, int]:
    _save_outputs(run.stack.name, run.stack.outputs())
    return {}


OPERATIONS: dict[str, Callable[[Run], Mapping[Any, int]]] = {
    "preview": _preview,
    "up": _up,
    "refresh": _refresh,
    "drift": _drift,
    "outputs": _outputs,
}


def _save_outputs(stack: str, outputs: auto.OutputMap) -> None:
    """As `pulumi stack output --json --show-secrets` prints them: what the inventory reads offline."""
    path = OUT / "outputs" / f"{stack}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({key: value.value for key, value in outputs.items()}, indent=1, sort_keys=True)
    )
    path.chmod(0o600)  # secret outputs are shown in clear


def policy_config_file(stack: StackFile) -> Path:
    """The stack's `--policy-pack-config`, from the exceptions its tenant's waiver file grants its environment (as
    `make policy-config`); an expired waiver stops this stack alone."""
    exceptions = statements(waivers_in_force(stack.tenant, stack.environment), role_variables=False)
    path = OUT / "policy-config" / f"{stack.stack}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(policy_pack_config(exceptions), indent=2) + "\n")
    return path


def workspace() -> auto.LocalWorkspace:
    """A workspace on this project: Pulumi.yaml and the root's stack files (links into tenants/)."""
    return auto.LocalWorkspace(work_dir=str(ROOT))


def run_stack(
    operation: str, stack: StackFile, make_workspace: Callable[[], auto.Workspace] = workspace
) -> StackRun:
    """One stack, start to end; whatever fails is written to its log and becomes its result."""
    started = time.monotonic()
    log = OUT / operation / f"{stack.stack}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    row = StackRun(stack.stack, log=log)
    with open(log, "w") as out:
        lock = threading.Lock()

        def write(text: str) -> None:
            with lock:
                out.write(text if text.endswith("\n") else text + "\n")
                out.flush()

        def on_event(event: auto.EngineEvent) -> None:
            if (policy := event.policy_event) is not None:
                row.verdicts.append(
                    f"{policy.enforcement_level} {policy.policy_name}: {policy.message.strip()}"
                )

        try:
            init = auto.Stack.create_or_select if operation in CREATES_STACK else auto.Stack.select
            selected = init(stack.stack, make_workspace())
            row.changes = dict(
                OPERATIONS[operation](Run(selected, str(policy_config_file(stack)), write, on_event))
            )
            changed = any(count for op, count in row.changes.items() if op != "same")
            row.result = "changes" if changed and operation in ("preview", "refresh") else "ok"
        except auto.errors.CommandError as error:
            row.result = (
                "drift" if operation == "drift" and "no changes were expected" in str(error) else "failed"
            )
            row.error = _last_line(str(error))
            write(str(error))
        except Exception as error:  # noqa: BLE001  # one stack's crash is its result; the fleet goes on
            row.result, row.error = "failed", f"{type(error).__name__}: {error}"
            write(traceback.format_exc())
    row.seconds = time.monotonic() - started
    return row


def _last_line(text: str) -> str:
    """The CLI's error line out of a CommandError's text (code, stdout, stderr)."""
    lines = [line.strip().removeprefix("stderr:").strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("code:", "stdout:"))]
    return next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")


def run_fleet(
    operation: str,
    stacks: list[StackFile],
    parallel: int,
    on_result: Callable[[StackRun], None] = lambda _: None,
    on_tick: Callable[[list[str]], None] = lambda _: None,
    make_workspace: Callable[[], auto.Workspace] = workspace,
) -> list[StackRun]:
    """Every stack through `operation`, at most `parallel` at once, in the order given.

    `on_result` hears of each stack as it ends, `on_tick` every second with the stacks still to finish: an `up`
    can be silent for minutes.
    """
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(run_stack, operation, stack, make_workspace) for stack in stacks]
        pending: dict[Future[StackRun], str] = {f: s.stack for f, s in zip(futures, stacks, strict=True)}
        while pending:
            finished, _ = wait(pending, timeout=1, return_when=FIRST_COMPLETED)
            for future in finished:
                del pending[future]
                on_result(future.result())
            on_tick(sorted(pending.values()))
    return [future.result() for future in futures]


def report(operation: str, results: list[StackRun], seconds: float, out: TextIO) -> None:
    rows = [
        (
            r.stack,
            r.result,
            r.change_summary,
            f"{len(r.verdicts)} ({sum(v.startswith('mandatory') for v in r.verdicts)} mandatory)",
            f"{r.seconds:.1f}s",
        )
        for r in results
    ]
    out.write(table(("stack", "result", "changes", "policy verdicts", "duration"), rows) + "\n")
    failed = [r for r in results if r.result in ("failed", "drift")]
    out.writelines(f"\n{r.stack}: {r.result}: {r.error} (whole output: {_shown(r.log)})\n" for r in failed)
    summary = {
        "operation": operation,
        "seconds": round(seconds, 1),
        "per_stack": [{**r.__dict__, "log": _shown(r.log)} for r in results],
    }
    (OUT / operation / "summary.json").write_text(json.dumps(summary, indent=1))
    out.write(
        f"\nfleet {operation}: {len(results)} stacks in {seconds:.1f}s, {len(failed)} failed or drifted\n"
    )


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def run(operation: str, stacks: list[StackFile], parallel: int) -> int:
    """The CLI's fleet run: progress while it runs, the summary table at the end; 1 if a stack failed or drifted."""
    started, done = time.monotonic(), 0

    def show(result: StackRun) -> None:
        nonlocal done
        done += 1
        detail = f": {result.error}" if result.error else f" ({result.change_summary})"
        progress.PRINTER.line(
            f"[{done}/{len(stacks)}] {result.stack}: {result.result}{detail} {result.seconds:.1f}s"
        )

    def tick(running: list[str]) -> None:
        waiting = (
            f": {', '.join(running[:parallel])}{' ...' if len(running) > parallel else ''}" if running else ""
        )
        elapsed = progress.elapsed(time.monotonic() - started)
        progress.PRINTER.show(
            f"[fleet {operation} {elapsed}] {done}/{len(stacks)} done, {len(running)} to go{waiting}"
        )

    results = run_fleet(operation, stacks, parallel, show, tick)
    progress.PRINTER.done()
    report(operation, results, time.monotonic() - started, sys.stdout)
    return 1 if any(r.result in ("failed", "drift") for r in results) else 0
