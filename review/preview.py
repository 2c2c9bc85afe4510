"""`secure-tenant-preview`: what a stack would create, evaluated offline, grouped by component and zone."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from infra.config import ConfigError
from review import report
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack

ALL_ZONES = "all zones"


def zone_of(resource: DeclaredResource, zones: list[str]) -> str:
    """The zone a resource serves, from the `-<zone suffix>` that Naming puts at the end of zonal names."""
    for zone in zones:
        if resource.name.endswith(f"-{zone[-1]}"):
            return zone
    return ALL_ZONES


def group(snapshot: StackSnapshot) -> dict[str, dict[str, list[DeclaredResource]]]:
    """Custom resources by top-level component, then by zone."""
    zones = list(snapshot.outputs.get("zones", []))
    grouped: dict[str, dict[str, list[DeclaredResource]]] = defaultdict(lambda: defaultdict(list))
    for resource in snapshot.resources:
        if not resource.custom:
            continue
        component = snapshot.component_of(resource)
        title = f"{component.type.rsplit(':', 1)[-1]} {component.name}" if component else "stack"
        grouped[title][zone_of(resource, zones)].append(resource)
    return grouped


def render_text(snapshot: StackSnapshot) -> str:
    outputs = snapshot.outputs
    lines = [
        f"Stack {snapshot.stack}: tenant {outputs.get('tenant')}, environment {outputs.get('environment')}, "
        + f"region {outputs.get('region')}, zones {', '.join(outputs.get('zones', []))}",
    ]
    exceptions = outputs.get("exceptions") or {}
    lines.append(
        "Exceptions to the baseline: "
        + ("none" if not exceptions else "; ".join(f"{name}: {why}" for name, why in exceptions.items()))
    )
    for component, zones in sorted(group(snapshot).items()):
        count = sum(len(resources) for resources in zones.values())
        lines.append(f"\n{component} ({count} resources)")
        for zone in sorted(zones, key=lambda z: (z != ALL_ZONES, z)):
            lines.append(f"  {zone}:")
            for resource in sorted(zones[zone], key=lambda r: (r.type, r.name)):
                lines.append(f"    + {resource.type:45} {resource.name}")
    lines.append("\nOutputs:")
    lines.extend(f"  {key}: {json.dumps(value)}" for key, value in sorted(outputs.items()))
    lines.append(f"\n{sum(r.custom for r in snapshot.resources)} resources to create")
    return "\n".join(lines)


def _override(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    return key, yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="secure-tenant-preview", description=__doc__)
    parser.add_argument("--stack", default="acme-prod", help="uses Pulumi.<stack>.yaml (default: acme-prod)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=_override,
        metavar="KEY=VALUE",
        help="override a stack config value, e.g. secure-tenant:zones=2",
    )
    parser.add_argument("--against", type=Path, help="a preview saved earlier with --save: show what changes")
    parser.add_argument("--save", type=Path, help="save this preview as JSON, for the next --against")
    parser.add_argument(
        "--markdown", type=Path, help="also write the reviewer's report as Markdown (PR comment)"
    )
    args = parser.parse_args(argv)
    try:
        snapshot = evaluate_stack(args.stack, dict(args.set))
    except ConfigError as error:
        print(f"secure-tenant-preview: {error}", file=sys.stderr)
        return 2
    from review.pack_runner import run_pack  # the pack imports pulumi_policy: load it once the stack is valid

    result = report.Review(snapshot, run_pack(snapshot))
    if args.against:
        result.changes = report.diff(json.loads(args.against.read_text()), snapshot)
        result.compared_with = str(args.against)
    else:
        result.changes = report.diff({}, snapshot)
    print(render_text(snapshot))
    print(report.render_verdicts_text(result))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report.render_markdown(result))
    if args.save:
        report.save(snapshot, args.save)
    return 1 if any(v.enforcement == "mandatory" for v in result.verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
