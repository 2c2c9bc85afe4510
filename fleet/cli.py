"""`secure-tenant`: onboard tenants and run the fleet's stacks.

secure-tenant tenant new NAME --env prod --region eu-west-1   # tenants/<tenant>/, ready for a first preview
secure-tenant tenant link                                     # root links to every tenant's stack files
secure-tenant fleet preview --offline [--tenant T] [--env E] [--parallel N]
secure-tenant fleet preview|up|refresh|drift|outputs [--tenant T] [--env E] [--parallel N]   # Pulumi CLI
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from fleet import tenants
from fleet.report import fleet_markdown, table
from fleet.tenants import TenantError
from lab import progress

OPERATIONS = ("preview", "up", "refresh", "drift", "outputs")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secure-tenant", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    tenant = commands.add_parser("tenant", help="onboard a tenant").add_subparsers(
        dest="action", required=True
    )
    new = tenant.add_parser("new", help="write tenants/<tenant>/ with a starting stack file per environment")
    new.add_argument("name", help="tenant id: 2-12 lowercase letters and digits, starting with a letter")
    new.add_argument("--env", action="append", help="prod or preprod; repeat for both (default: prod)")
    new.add_argument("--region", required=True, help="EU region, e.g. eu-west-1")
    new.add_argument("--zones", type=int, default=2, help="availability zones, 2 or 3 (default: 2)")
    tenant.add_parser("link", help="link every tenant stack file from the project root, where Pulumi looks")

    fleet = commands.add_parser("fleet", help="run an operation on many stacks")
    fleet.add_argument("operation", choices=OPERATIONS)
    fleet.add_argument("--tenant", action="append", default=[], help="only this tenant (repeatable)")
    fleet.add_argument("--env", action="append", default=[], help="only this environment (repeatable)")
    fleet.add_argument(
        "--parallel", type=int, default=os.cpu_count() or 1, help="stacks at once (default: cores)"
    )
    fleet.add_argument("--offline", action="store_true", help="preview only: under mocks, no Pulumi CLI")
    fleet.add_argument("--against", type=Path, help="--offline: a directory of an earlier run's <stack>.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "tenant":
            return _tenant(args)
        return _fleet(args)
    except TenantError as error:
        print(f"secure-tenant: {error}", file=sys.stderr)
        return 2


def _tenant(args: argparse.Namespace) -> int:
    root = tenants.ROOT
    if args.action == "link":
        made = tenants.link_stack_files(root)
        print("\n".join(f"linked {path.name}" for path in made) or "every stack file is linked")
        return 0
    written = tenants.new_tenant(args.name, args.env or ["prod"], args.region, args.zones, root)
    print("\n".join(f"wrote {path.relative_to(root)}" for path in written))
    stacks = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in written if p.parent == root]
    print(
        f"next: secure-tenant fleet preview --offline --tenant {args.name}   (then: pulumi stack init {stacks[0]})"
    )
    return 0


def _selected(args: argparse.Namespace) -> list[tenants.StackFile]:
    if args.parallel < 1:
        raise TenantError(f"--parallel {args.parallel}: give 1 or more stacks at once")
    if args.offline and args.operation != "preview":
        raise TenantError(f"--offline {args.operation}: only a preview runs offline; drop --offline")
    if args.against is not None and not args.offline:
        raise TenantError("--against compares offline previews: add --offline")
    if args.against is not None and not args.against.is_dir():
        raise TenantError(f"--against {args.against}: not a directory of an earlier run's <stack>.json files")
    stacks = tenants.stack_files()
    if problems := tenants.link_problems() + tenants.overlaps(stacks):
        raise TenantError("the tenant folders disagree with the project:\n  " + "\n  ".join(problems))
    selected = tenants.select(stacks, args.tenant, args.env)
    if not selected:
        raise TenantError("no stack selected: check --tenant and --env")
    return selected


def _fleet(args: argparse.Namespace) -> int:
    selected = _selected(args)
    if not args.offline:
        from fleet import automation

        return automation.run(args.operation, selected, args.parallel)
    # The provider classes load with the first stack: import only once the selection is valid.
    from fleet.offline import OUT, StackPreview, preview_fleet, summary_json

    names = [stack.stack for stack in selected]
    started, done = time.monotonic(), 0

    def show(result: StackPreview) -> None:
        nonlocal done
        done += 1
        detail = (
            result.error.splitlines()[-1]
            if result.error
            else f"{result.resources} resources, {result.policy_summary}"
        )
        progress.PRINTER.line(
            f"[{done}/{len(names)}] {result.stack}: {result.result} ({detail}) {result.seconds:.1f}s"
        )
        progress.PRINTER.show(
            f"[fleet preview {progress.elapsed(time.monotonic() - started)}] {done}/{len(names)} stacks"
        )

    results = preview_fleet(names, args.parallel, against=args.against, on_result=show)
    progress.PRINTER.done()
    seconds = time.monotonic() - started
    rows = [(r.stack, r.result, r.change_summary, r.policy_summary, f"{r.seconds:.1f}s") for r in results]
    print(table(("stack", "result", "changes", "policy verdicts", "duration"), rows))
    summary = summary_json(results, seconds, args.parallel)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1))
    (OUT / "summary.md").write_text(fleet_markdown(results))
    counts = summary["results"]
    print(
        f"\n{len(results)} stacks in {seconds:.1f}s ({seconds / len(results):.2f}s per stack, {args.parallel} "
        f"workers): {counts['pass']} pass, {counts['fail']} fail, {counts['error']} error; reports in "
        f"{OUT.relative_to(tenants.ROOT)}/ (summary.md: the fleet for the reviewer)"
    )
    return 0 if counts["pass"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
