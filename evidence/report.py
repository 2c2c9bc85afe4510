"""`make evidence`: one page per audit, for every control: status, what proves it, when it was checked.

Policy checks run the pack now on every stack of the fleet (the offline fleet preview, `secure-tenant fleet preview
--offline`), and the page ends with the fleet: one summary and a row per stack; test checks run the named tests now (pytest, JUnit XML);
molecule checks read the results of the last molecule run (build/molecule/results.json), with its time.
Waivers come from every tenant's waiver file (tenants/<tenant>/waivers.yaml): a control is `waived` in the tenant
environments a waiver covers, and `waiver expired` (a failure) where the waiver's last day has passed.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from evidence.controls import (
    ROOT,
    Control,
    Reference,
    approval_gate,
    document_title,
    load,
    molecule_check_name,
    problems,
    uncited,
    uncovered,
)
from fleet.report import counts as fleet_counts
from fleet.report import fleet_markdown
from infra import waivers
from infra.baseline import TENANT_ID
from infra.waivers import Waiver, WaiverError, load_waivers

if TYPE_CHECKING:
    from fleet.offline import StackPreview

OUT = ROOT / "build" / "evidence"
MOLECULE_RESULTS = ROOT / "build" / "molecule" / "results.json"


@dataclass(frozen=True)
class CheckResult:
    ref: Reference
    status: str  # pass | fail | not run | declared
    detail: str
    checked_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def fleet_results() -> list[StackPreview]:
    """Every tenant stack evaluated under mocks and judged by the pack, across the machine's cores."""
    from fleet.offline import preview_fleet
    from fleet.tenants import stack_files

    return preview_fleet([stack.stack for stack in stack_files()], os.cpu_count() or 1)


def policy_results(names: set[str], fleet: Sequence[StackPreview]) -> dict[str, tuple[str, str]]:
    """Per policy: fail with every violation in the fleet, not run while a stack could not be evaluated."""
    violations: dict[str, list[str]] = defaultdict(list)
    for stack in fleet:
        for violation in stack.verdicts:
            violations[violation.policy].append(f"{stack.stack}: {violation.resource}: {violation.message}")
    unevaluated = [stack.stack for stack in fleet if stack.result == "error"]
    checked = f"{len(fleet) - len(unevaluated)} stacks of the fleet"
    return {
        name: ("fail", "; ".join(violations[name]))
        if violations[name]
        else ("not run", f"no violation in {checked}; not evaluated: {', '.join(unevaluated)}")
        if unevaluated
        else ("pass", f"no violation in {checked}")
        for name in names
    }


def test_results(test_ids: set[str]) -> dict[str, tuple[str, str]]:
    if not test_ids:
        return {}
    junit = OUT / "junit.xml"
    files = sorted({test_id.partition("::")[0] for test_id in test_ids})
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *files],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )
    outcomes: dict[str, list[str]] = defaultdict(list)
    for case in ElementTree.parse(junit).iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        key = f"{module}.py::{case.get('name', '').split('[')[0]}"
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcomes[key].append("fail" if failed else "not run" if skipped else "pass")
    results = {}
    for test_id in test_ids:
        cases = outcomes.get(test_id.split("[")[0], [])
        status = (
            "not run"
            if not cases
            else "fail"
            if "fail" in cases
            else "not run"
            if "not run" in cases
            else "pass"
        )
        results[test_id] = (status, f"{cases.count('pass')}/{len(cases)} cases passed")
    return results


def molecule_results() -> dict[str, tuple[str, str, str]]:
    if not MOLECULE_RESULTS.is_file():
        return {}
    return {
        molecule_check_name(entry["role"], entry["scenario"]): (
            "pass" if entry["passed"] else "fail",
            f"molecule test in {entry['seconds']}s"
            + (f", passed on attempt {entry['attempts']}" if entry.get("attempts", 1) > 1 else ""),
            entry["finished_at"],
        )
        for entry in json.loads(MOLECULE_RESULTS.read_text())
    }


def collect(controls: list[Control], fleet: Sequence[StackPreview]) -> dict[str, list[CheckResult]]:
    refs = [ref for control in controls for ref in control.checks]
    now = _now()
    policies = policy_results({r.name for r in refs if r.kind == "policy"}, fleet)
    tests = test_results({r.name for r in refs if r.kind == "test"})
    molecule = molecule_results()
    results: dict[str, list[CheckResult]] = {}
    for control in controls:
        results[control.id] = []
        for ref in control.checks:
            if ref.kind == "policy":
                status, detail = policies[ref.name]
                results[control.id].append(CheckResult(ref, status, detail, now))
            elif ref.kind == "test":
                status, detail = tests[ref.name]
                results[control.id].append(CheckResult(ref, status, detail, now))
            elif ref.kind == "workflow":
                detail = (
                    f"the job waits for environment `{approval_gate(ref.name)}`: declared in the workflow, not "
                    "observed here (its required reviewers and prevent self-review are repository settings)"
                )
                results[control.id].append(CheckResult(ref, "declared", detail, now))
            else:
                status, detail, at = molecule.get(
                    ref.name, ("not run", "no molecule result yet: run make molecule", "-")
                )
                results[control.id].append(CheckResult(ref, status, detail, at))
    return results


@dataclass(frozen=True)
class WaiverStatus:
    """One waiver as it stands in one tenant environment."""

    tenant: str
    environment: str
    waiver: Waiver
    expired: bool

    @property
    def stack(self) -> str:
        return f"{self.tenant}-{self.environment}"

    @property
    def status(self) -> str:
        return "waiver expired" if self.expired else "waived"

    @property
    def detail(self) -> str:
        w = self.waiver
        return f"{w.setting}: {w.justification} (approved by {w.approved_by}, expires {w.expires})"


def waiver_statuses(today: date, tenants: Path | None = None) -> dict[str, list[WaiverStatus]]:
    """Each control's waivers per tenant environment, from every tenant's waiver file."""
    statuses: dict[str, list[WaiverStatus]] = defaultdict(list)
    for folder in sorted((tenants or waivers.TENANTS).iterdir()):
        if not (folder.is_dir() and re.fullmatch(TENANT_ID, folder.name)):
            continue
        for waiver in load_waivers(folder.name, tenants).waivers:
            for environment in waiver.environments:
                statuses[waiver.control].append(
                    WaiverStatus(folder.name, environment, waiver, waiver.expired(today))
                )
    return statuses


def stack_columns(statuses: dict[str, list[WaiverStatus]], fleet: Sequence[StackPreview] = ()) -> list[str]:
    """The tenant environments the report has a column for: the fleet's stacks and every waived one."""
    return sorted(
        {*(stack.stack for stack in fleet), *(s.stack for found in statuses.values() for s in found)}
    )


def stack_status(status: str, waived_here: list[WaiverStatus]) -> str:
    """A control's status in one tenant environment: its own, unless a waiver covers it there."""
    if any(s.expired for s in waived_here):
        return "waiver expired"
    return "waived" if waived_here else status


def control_status(checks: list[CheckResult], gap: str | None = None) -> str:
    statuses = {check.status for check in checks}
    if "fail" in statuses:
        return "fail"
    if gap is not None:
        return "gap"
    if "not run" in statuses or not checks:
        return "incomplete"
    return "declared" if "declared" in statuses else "pass"


def cited_requirement(control: Control) -> str:
    """The control's requirement and the policy line it implements, with the document that says it."""
    source = control.source
    return f'{control.requirement} (implements "{source.text}", {document_title(source.document)}, {source.document})'


def render_markdown(
    controls: list[Control],
    results: dict[str, list[CheckResult]],
    statuses: dict[str, list[WaiverStatus]],
    generated: str,
    fleet: Sequence[StackPreview] = (),
) -> str:
    lines = [f"# secure-tenant: control evidence\n\nGenerated {generated}.\n"]
    counts: dict[str, int] = defaultdict(int)
    for control in controls:
        counts[control_status(results[control.id], control.gap)] += 1
    found = [s for control in controls for s in statuses.get(control.id, [])]
    counts.update(
        {"waived": sum(not s.expired for s in found), "waiver expired": sum(s.expired for s in found)}
    )
    lines.append(", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n) + "\n")
    stacks = stack_columns(statuses, fleet)
    lines.append(
        f"| control | requirement | status | {' | '.join(stacks)} | implemented by | proof | checked |\n"
        f"|---|---|---|{'---|' * len(stacks)}---|---|---|"
    )
    for control in controls:
        checks = results[control.id]
        status = control_status(checks, control.gap)
        per_stack = " | ".join(
            stack_status(status, [s for s in statuses.get(control.id, []) if s.stack == stack])
            for stack in stacks
        )
        proof = "<br>".join(f"{c.status}: {c.ref.kind} `{c.ref.name}` ({c.detail})" for c in checks)
        if control.gap:
            proof = f"gap: {control.gap}" + (f"<br>{proof}" if proof else "")
        implemented = ", ".join(f"{r.kind} `{r.name}`" for r in control.implemented_by)
        checked = max((c.checked_at for c in checks), default="-")
        lines.append(
            f"| {control.id} | {cited_requirement(control)} | **{status}** | {per_stack} | {implemented} "
            f"| {proof} | {checked} |"
        )
    if found:
        lines.append(
            "\n## Waivers\n\n| control | tenant environment | status | setting, justification, approval |"
        )
        lines.append("|---|---|---|---|")
        # A justification is free text: a pipe in it would end its table cell.
        lines += [
            f"| {s.waiver.control} | {s.stack} | **{s.status}** | {s.detail.replace('|', '&#124;')} |"
            for s in found
        ]
    if fleet:
        lines.append("\n" + fleet_markdown(fleet))
    return "\n".join(lines) + "\n"


def render_html(
    controls: list[Control],
    results: dict[str, list[CheckResult]],
    statuses: dict[str, list[WaiverStatus]],
    generated: str,
    fleet: Sequence[StackPreview] = (),
) -> str:
    stacks = stack_columns(statuses, fleet)
    rows = []
    for control in controls:
        checks = results[control.id]
        status = control_status(checks, control.gap)
        per_stack = ""
        for stack in stacks:
            here = [s for s in statuses.get(control.id, []) if s.stack == stack]
            shown = stack_status(status, here)
            title = html.escape("; ".join(s.detail for s in here), quote=True)
            per_stack += f"<td class='{shown.replace(' ', '-')}' title='{title}'>{shown}</td>"
        proof = "".join(
            f"<li class='{c.status.replace(' ', '-')}'>{html.escape(c.status)}: {html.escape(c.ref.kind)} "
            f"<code>{html.escape(c.ref.name)}</code> ({html.escape(c.detail)}, {html.escape(c.checked_at)})</li>"
            for c in checks
        )
        proof += "".join(
            f"<li class='{s.status.replace(' ', '-')}'>{s.status} in {s.stack}: {html.escape(s.detail)}</li>"
            for s in statuses.get(control.id, [])
        )
        implemented = ", ".join(
            f"{html.escape(r.kind)} <code>{html.escape(r.name)}</code>" for r in control.implemented_by
        )
        rows.append(
            f"<tr><td>{control.id}</td><td>{html.escape(cited_requirement(control))}</td>"
            f"<td class='{status}'>{status}</td>{per_stack}<td>{implemented}</td><td><ul>{proof}</ul></td></tr>"
        )
    tally = fleet_counts(fleet)
    fleet_rows = "".join(
        f"<tr><td>{html.escape(r.stack)}</td><td class='{r.result}'>{r.result}</td><td>{r.resources}</td>"
        f"<td>{html.escape(r.policy_summary)}</td><td>{html.escape(', '.join(r.exceptions) or 'none')}</td>"
        f"<td>{html.escape(r.error.strip().splitlines()[-1] if r.error else '')}</td></tr>"
        for r in fleet
    )
    fleet_table = (
        f"<h2>Fleet: {len(fleet)} stacks, {tally['pass']} pass, {tally['fail']} fail, {tally['error']} error</h2>"
        "<table><tr><th>stack</th><th>result</th><th>resources</th><th>policy verdicts</th><th>exceptions</th>"
        f"<th>error</th></tr>{fleet_rows}</table>"
        if fleet
        else ""
    )
    headers = "".join(f"<th>{html.escape(stack)}</th>" for stack in stacks)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>secure-tenant control evidence</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px;vertical-align:top}.pass{color:#060}.fail,.waiver-expired{color:#b00;font-weight:bold}"
        ".incomplete,.not-run,.declared,.waived{color:#a60}</style></head><body>"
        f"<h1>secure-tenant: control evidence</h1><p>Generated {generated}.</p><table><tr><th>control</th>"
        f"<th>requirement</th><th>status</th>{headers}<th>implemented by</th><th>proof</th></tr>{''.join(rows)}"
        f"</table>{fleet_table}</body></html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    matrix = load()
    found = [f"{p.control}: {p.message}" for p in problems(matrix) + uncited(matrix)]
    found += [f"no control implements the policy line {line!r}" for line in uncovered(matrix)]
    if found:
        for problem in found:
            print(f"controls.yaml: {problem}", file=sys.stderr)
        return 2
    try:
        statuses = waiver_statuses(date.today())
    except WaiverError as error:
        print(error, file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    generated = _now()
    fleet = fleet_results()
    results = collect(matrix.controls, fleet)
    (OUT / "evidence.md").write_text(render_markdown(matrix.controls, results, statuses, generated, fleet))
    (OUT / "evidence.html").write_text(render_html(matrix.controls, results, statuses, generated, fleet))
    controls = [control_status(results[c.id], c.gap) for c in matrix.controls]
    waived = [s for found in statuses.values() for s in found]
    expired = [s for s in waived if s.expired]
    for status in expired:
        print(
            f"{status.waiver.control} in {status.stack}: waiver of {status.waiver.setting} expired on "
            f"{status.waiver.expires}: renew it in {waivers.waiver_file(status.tenant)} or meet "
            "the control",
            file=sys.stderr,
        )
    print(
        f"evidence for {len(controls)} controls: {controls.count('pass')} pass, {controls.count('fail')} fail, "
        f"{controls.count('incomplete')} incomplete, {controls.count('declared')} declared, "
        f"{controls.count('gap')} gap; {len(waived) - len(expired)} waived, {len(expired)} waiver expired; "
        f"fleet of {len(fleet)} stacks: {fleet_counts(fleet)} -> {OUT.relative_to(ROOT)}/evidence.md, evidence.html"
    )
    return 1 if "fail" in controls or expired else 0


if __name__ == "__main__":
    sys.exit(main())
