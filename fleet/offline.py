"""The offline fleet preview: every selected stack evaluated under Pulumi's mocks and judged by the policy pack.

Loading pulumi_aws's classes costs more than evaluating a stack, so it is paid once: this process evaluates the first
stack (which loads every class the program declares), then forks workers that inherit the loaded classes and
evaluate the rest, a stack at a time, across the machine's cores. One stack's failure (a bad config value, a
crash) is that stack's result; the others go on. Each stack leaves its preview, its reviewer's report and its saved
form under build/fleet/preview/.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from fleet.report import counts
from infra.config import ConfigError
from review import report
from review.offline import ROOT, evaluate_stack
from review.pack_runner import run_pack
from review.preview import render_text
from review.verdict import Violation

OUT = ROOT / "build" / "fleet" / "preview"


@dataclass(frozen=True)
class StackPreview:
    """What one stack's offline preview found: the summary row and the verdicts behind it."""

    stack: str
    result: str  # pass | fail | error
    seconds: float
    resources: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    verdicts: tuple[Violation, ...] = ()
    exceptions: dict[str, str] = field(default_factory=dict)
    high_risk: tuple[str, ...] = ()
    error: str = ""

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.verdicts if v.enforcement == "mandatory"]

    @property
    def policy_summary(self) -> str:
        if self.result == "error":
            return "-"
        advisory = len(self.verdicts) - len(self.mandatory)
        return f"{len(self.mandatory)} mandatory, {advisory} advisory"

    @property
    def change_summary(self) -> str:
        return ", ".join(f"{count} {kind}" for kind, count in self.changes.items() if count) or "none"


def preview_stack(stack: str, out: Path = OUT, against: Path | None = None) -> StackPreview:
    """One stack, evaluated and judged; every failure becomes the stack's result, never an exception."""
    started = time.monotonic()
    log = out / f"{stack}.log"
    try:
        snapshot = evaluate_stack(stack)
        previous = against / f"{stack}.json" if against is not None else None
        if previous is not None and previous.is_file():
            review = report.Review(
                snapshot, run_pack(snapshot), json.loads(previous.read_text()), str(previous)
            )
        else:
            review = report.Review(snapshot, run_pack(snapshot))
        log.write_text(render_text(snapshot) + "\n" + report.render_text(review) + "\n")
        (out / f"{stack}.md").write_text(report.render_markdown(review))
        report.save(snapshot, out / f"{stack}.json")
    except ConfigError as error:
        log.write_text(f"{error}\n")
        return StackPreview(stack, "error", time.monotonic() - started, error=str(error))
    except Exception as error:  # noqa: BLE001  # one stack's crash is its result; the fleet goes on
        log.write_text(traceback.format_exc())
        return StackPreview(
            stack, "error", time.monotonic() - started, error=f"{type(error).__name__}: {error}"
        )
    kinds = ("create", "update", "replace", "delete")
    return StackPreview(
        stack,
        "fail" if any(v.enforcement == "mandatory" for v in review.verdicts) else "pass",
        time.monotonic() - started,
        resources=sum(r.custom for r in snapshot.resources),
        changes={kind: sum(c.kind == kind for c in review.changes) for kind in kinds},
        verdicts=tuple(review.verdicts),
        exceptions=snapshot.exceptions,
        high_risk=tuple(f"{c.kind} {c.type} {c.name}" for c in review.changes if c.high_risk),
    )


def _settle_before_fork() -> None:
    """Leave nothing a forked child cannot inherit, and nothing it has to scan again.

    The evaluation ran blocking calls on its event loop's default executor; those threads would not exist in a
    child whose executor still counts them, so the loop is shut down and a fresh one set (its executor starts
    threads when first used). gc.freeze moves the loaded classes out of the collector's reach: children neither
    rescan nor copy them.
    """
    loop = asyncio.get_event_loop()
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    asyncio.set_event_loop(asyncio.new_event_loop())
    gc.collect()
    gc.freeze()


def preview_fleet(
    stacks: Sequence[str],
    workers: int,
    out: Path = OUT,
    against: Path | None = None,
    on_result: Callable[[StackPreview], None] = lambda _: None,
) -> list[StackPreview]:
    """Every stack's preview, in the order given; `workers` processes evaluate after the first stack."""
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, StackPreview] = {}
    for result in _previews(stacks, workers, out, against):
        results[result.stack] = result
        on_result(result)
    return [results[stack] for stack in stacks]


def _previews(stacks: Sequence[str], workers: int, out: Path, against: Path | None) -> Iterator[StackPreview]:
    if not stacks:
        return
    yield preview_stack(stacks[0], out, against)
    rest = list(stacks[1:])
    if workers <= 1 or len(rest) <= 1:
        yield from (preview_stack(stack, out, against) for stack in rest)
        return
    _settle_before_fork()
    # fork, not spawn or forkserver: the children must inherit the classes this process has loaded.
    with multiprocessing.get_context("fork").Pool(min(workers, len(rest))) as pool:
        yield from pool.imap_unordered(partial(preview_stack, out=out, against=against), rest)


def summary_json(results: Sequence[StackPreview], seconds: float, workers: int) -> dict[str, Any]:
    """The fleet's results as the evidence report and CI read them."""
    return {
        "seconds": round(seconds, 1),
        "workers": workers,
        "stacks": len(results),
        "results": counts(results),
        "per_stack": [
            {**asdict(r), "seconds": round(r.seconds, 2), "verdicts": [asdict(v) for v in r.verdicts]}
            for r in results
        ],
    }
