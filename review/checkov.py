"""`make checkov`: each stack, mocked and exported as a Terraform plan, scanned by checkov (an outside scanner).

A finding is either fixed or waived in policy/checkov-waivers.yaml with its reason; anything else fails, and so
does a waiver that no longer matches a finding once every stack was scanned. The results, for the reviewer's
report: build/checkov/<stack>.json and <stack>.md (the plan scanned is build/checkov/<stack>/tfplan.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from review.terraform_plan import stack_plan

ROOT = Path(__file__).resolve().parent.parent
WAIVERS = ROOT / "policy" / "checkov-waivers.yaml"
OUT = ROOT / "build" / "checkov"


class Waiver(BaseModel):
    """One checkov check set aside for some resources, with the reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: Annotated[str, StringConstraints(pattern=r"^CKV2?_AWS_\d+$")]
    resource: Annotated[str, StringConstraints(min_length=1)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=20)]

    def covers(self, finding: Finding) -> bool:
        return self.check == finding.check_id and fnmatchcase(finding.resource, self.resource)


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = Field(default_factory=list)


class WaiverError(ValueError):
    """The waiver file is malformed: the message names the entry, the key and the fix."""


def load_waivers(path: Path = WAIVERS) -> list[Waiver]:
    try:
        waivers = WaiverFile.model_validate(yaml.safe_load(path.read_text()) or {}).waivers
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise WaiverError(
            f"{path.name}: {problems} (each waiver: check CKV_AWS_<n> or CKV2_AWS_<n>, resource "
            "<terraform address or pattern>, reason of at least 20 characters)"
        ) from None
    seen = set()
    for waiver in waivers:
        if (waiver.check, waiver.resource) in seen:
            raise WaiverError(f"{path.name}: {waiver.check} for {waiver.resource} is listed twice: keep one")
        seen.add((waiver.check, waiver.resource))
    return waivers


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    resource: str
    guideline: str = ""


@dataclass
class StackScan:
    stack: str
    checkov_version: str
    passed: int
    failed: list[Finding] = field(default_factory=list)
    waived: list[tuple[Finding, Waiver]] = field(default_factory=list)


def run_checkov(checkov: Path, plan: Path) -> tuple[list[Finding], int, str]:
    """checkov's terraform_plan framework on one plan file: failed checks, the number passed, its version."""
    result = subprocess.run(
        [str(checkov), "-f", str(plan), "--framework", "terraform_plan", "-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(
            f"checkov failed on {plan} (exit {result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    report: dict[str, Any] = json.loads(result.stdout)
    summary = report.get("summary", report)
    if not summary.get("resource_count"):
        raise RuntimeError(f"checkov read no resource from {plan}: is it still a Terraform plan it accepts?")
    failed = [
        Finding(c["check_id"], c["check_name"], c["resource"], c.get("guideline") or "")
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    return failed, int(summary["passed"]), str(summary["checkov_version"])


def triage(
    stack: str, findings: list[Finding], passed: int, version: str, waivers: list[Waiver]
) -> StackScan:
    scan = StackScan(stack, version, passed)
    for finding in sorted(findings, key=lambda f: (f.check_id, f.resource)):
        waiver = next((w for w in waivers if w.covers(finding)), None)
        if waiver is None:
            scan.failed.append(finding)
        else:
            scan.waived.append((finding, waiver))
    return scan


def unused_waivers(waivers: list[Waiver], scans: list[StackScan]) -> list[Waiver]:
    used = {id(waiver) for scan in scans for _, waiver in scan.waived}
    return [waiver for waiver in waivers if id(waiver) not in used]


def render_markdown(scan: StackScan) -> str:
    title = (
        f"### checkov {scan.checkov_version} (Terraform plan of the mocked stack): {scan.passed} passed, "
        f"{len(scan.failed)} failed, {len(scan.waived)} waived"
    )
    lines = [title, ""]
    if scan.failed:
        lines += ["| failed | resource | check |", "|---|---|---|"]
        lines += [f"| {f.check_id} | `{f.resource}` | {f.check_name} |" for f in scan.failed]
        lines.append("")
    if scan.waived:
        lines += ["| waived | resource | reason |", "|---|---|---|"]
        lines += [f"| {f.check_id} | `{f.resource}` | {w.reason} |" for f, w in scan.waived]
        lines.append("")
    return "\n".join(lines)


def write(scan: StackScan, out: Path) -> None:
    data = {
        "stack": scan.stack,
        "checkov_version": scan.checkov_version,
        "passed": scan.passed,
        "failed": [asdict(f) for f in scan.failed],
        "waived": [{**asdict(f), "reason": w.reason, "waiver": w.resource} for f, w in scan.waived],
    }
    (out / f"{scan.stack}.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / f"{scan.stack}.md").write_text(render_markdown(scan))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m review.checkov", description=__doc__)
    parser.add_argument("stacks", nargs="+", help="stack names (Pulumi.<stack>.yaml)")
    parser.add_argument("--checkov", type=Path, default=ROOT / ".venv-checkov" / "bin" / "checkov")
    parser.add_argument("--waivers", type=Path, default=WAIVERS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        waivers = load_waivers(args.waivers)
    except WaiverError as error:
        print(f"checkov: {error}", file=sys.stderr)
        return 2
    scans = []
    for stack in args.stacks:
        plan = args.out / stack / "tfplan.json"
        plan.parent.mkdir(parents=True, exist_ok=True)
        plan.write_text(json.dumps(stack_plan(stack), indent=1) + "\n")
        scan = triage(stack, *run_checkov(args.checkov, plan), waivers)
        write(scan, args.out)
        scans.append(scan)
        print(
            f"checkov {stack}: {scan.passed} passed, {len(scan.failed)} failed, {len(scan.waived)} waived "
            f"-> {args.out / stack}.md"
        )
        for finding in scan.failed:
            print(f"  FAILED {finding.check_id} {finding.resource}: {finding.check_name}", file=sys.stderr)
    every_stack = {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml")}
    stale = unused_waivers(waivers, scans) if every_stack <= set(args.stacks) else []
    for waiver in stale:
        print(
            f"  STALE WAIVER {waiver.check} {waiver.resource}: matches no finding; remove it from "
            f"{args.waivers.name}",
            file=sys.stderr,
        )
    return 1 if stale or any(scan.failed for scan in scans) else 0


if __name__ == "__main__":
    sys.exit(main())
