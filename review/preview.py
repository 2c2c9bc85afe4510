"""`secure-tenant-preview`: what a stack would create, evaluated offline, grouped by component and zone."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from infra.config import ConfigError
from review import report
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack

ALL_ZONES = "all zones"
_CONFIG_KEY = re.compile(r"[a-z][a-z0-9-]*:[A-Za-z][A-Za-z0-9]*")


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
    image = report.bastion_image(outputs)
    if image:
        lines.append(f"Bastion image: {image}")
    exceptions = snapshot.exceptions
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


class UsageError(Exception):
    """A command-line value is wrong; the message names the option and the fix."""


def _override(text: str) -> tuple[str, Any]:
    key, equals, value = text.partition("=")
    if not equals or not _CONFIG_KEY.fullmatch(key):
        raise UsageError(f"--set {text!r}: write namespace:key=value, e.g. --set secure-tenant:zones=2")
    if not value.strip():
        raise UsageError(f"--set {key}=: an empty value would drop the stack file's {key}: give the value")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as error:
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise UsageError(
            f"--set {key}: {value!r} is not a YAML value ({problem}): quote it or fix it"
        ) from None


def _previous(path: Path) -> dict[str, Any]:
    """A preview saved earlier with --save."""
    try:
        saved = json.loads(path.read_text())
    except OSError as error:
        raise UsageError(
            f"--against {path}: cannot read it ({error.strerror}): give a file --save wrote"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(f"--against {path}: not JSON, so not a preview --save wrote: give one") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("resources"), dict):
        raise UsageError(f"--against {path}: JSON, but not a preview --save wrote (no resources): give one")
    return saved


def _approved(directory: Path, stack: str) -> Path | None:
    """This stack's approved preview in `directory`; None (all new) until the first merge has stored one."""
    path = directory / f"{stack}.json"
    if path.is_file():
        return path
    print(
        f"secure-tenant-preview: no approved preview {path} yet (stored after the first merge): "
        "everything is reported as new",
        file=sys.stderr,
    )
    return None


def _writable(option: str, path: Path | None) -> None:
    """Refuse an output path before the preview runs, rather than fail after it."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"{option} {path}: cannot create {path.parent} ({error.strerror}): pick another path"
        ) from None
    if (
        path.is_dir()
        or not os.access(path.parent, os.W_OK)
        or (path.exists() and not os.access(path, os.W_OK))
    ):
        raise UsageError(f"{option} {path}: not a file that can be written: pick another path")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="secure-tenant-preview", description=__doc__)
    parser.add_argument("--stack", default="acme-prod", help="uses Pulumi.<stack>.yaml (default: acme-prod)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a stack config value, e.g. secure-tenant:zones=2",
    )
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument(
        "--against", type=Path, help="a preview saved earlier with --save: show what changes"
    )
    baseline.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="the approved previews, <stack>.json each (CI: branch review-baseline): compare with this stack's, "
        "or report everything as new when it has none yet",
    )
    parser.add_argument("--save", type=Path, help="save this preview as JSON, for the next --against")
    parser.add_argument(
        "--markdown", type=Path, help="also write the reviewer's report as Markdown (PR comment)"
    )
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="write the stack's `pulumi preview --policy-pack-config` (its exceptions' policies advisory)",
    )
    args = parser.parse_args(argv)
    try:
        overrides = dict(map(_override, args.set))
        against = _approved(args.baseline, args.stack) if args.baseline else args.against
        previous = _previous(against) if against else {}
        _writable("--save", args.save)
        _writable("--markdown", args.markdown)
        _writable("--policy-config", args.policy_config)
        snapshot = evaluate_stack(args.stack, overrides)
    except (UsageError, ConfigError) as error:
        print(f"secure-tenant-preview: {error}", file=sys.stderr)
        return 2
    # The pack imports pulumi_policy: load it once the stack is valid.
    from review.pack_runner import policy_pack_config, run_pack

    result = report.Review(snapshot, run_pack(snapshot), previous, str(against) if against else None)
    print(render_text(snapshot))
    print(report.render_text(result))
    if args.markdown:
        args.markdown.write_text(report.render_markdown(result))
    if args.save:
        report.save(snapshot, args.save)
    if args.policy_config:
        args.policy_config.write_text(json.dumps(policy_pack_config(snapshot.exceptions), indent=2) + "\n")
    return 1 if any(v.enforcement == "mandatory" for v in result.verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
