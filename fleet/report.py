"""The fleet's summaries: a terminal table, and the Markdown summary the reviewer and the auditor read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleet.offline import StackPreview


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with columns as wide as their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )


def counts(results: Sequence[StackPreview]) -> dict[str, int]:
    return {kind: sum(r.result == kind for r in results) for kind in ("pass", "fail", "error")}


def fleet_markdown(results: Sequence[StackPreview], heading: str = "##") -> str:
    """One fleet summary, then a row per stack; the stacks that fail, error or risk data are spelt out below."""
    tally = counts(results)
    lines = [
        f"{heading} Fleet: {len(results)} stacks, {tally['pass']} pass, {tally['fail']} fail, {tally['error']} error",
        "",
        "| stack | result | resources | changes | policy verdicts | exceptions | high-risk changes |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{r.stack}` | **{r.result}** | {r.resources} | {r.change_summary} | {r.policy_summary} | "
        f"{', '.join(f'`{name}`' for name in r.exceptions) or 'none'} | {len(r.high_risk)} |"
        for r in results
    ]
    for r in results:
        if r.result == "pass" and not r.high_risk:
            continue
        lines.append(f"\n{heading}# `{r.stack}`: {r.result}")
        if r.error:
            lines.append(f"\n```\n{r.error.strip()}\n```")
        lines += [f"- [{v.level}] {v.policy} ({v.control}) `{v.resource}`: {v.message}" for v in r.verdicts]
        lines += [f"- high risk: {change}" for change in r.high_risk]
    return "\n".join(lines) + "\n"
