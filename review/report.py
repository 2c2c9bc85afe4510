"""The reviewer's report: what a stack would create or change, and whether it keeps the security baseline.

A preview is saved as JSON (`save`) so that the next one can be compared with it (`diff`): resources added,
changed (which inputs), replaced, removed. Deleting or replacing a key, a bucket, a log group or a firewall
loses data or protection, so those are flagged as high-risk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from review.offline import StackSnapshot
from review.verdict import Violation

HIGH_RISK_TYPES = frozenset(
    {
        "aws:kms/key:Key",
        "aws:kms/externalKey:ExternalKey",
        "aws:s3/bucket:Bucket",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:networkfirewall/firewall:Firewall",
        "aws:backup/vault:Vault",
        "aws:cloudtrail/trail:Trail",
    }
)
# Inputs AWS cannot change in place: a new value means delete and re-create.
REPLACED_WHEN_CHANGED: Mapping[str, frozenset[str]] = {
    "aws:ec2/vpc:Vpc": frozenset({"cidrBlock"}),
    "aws:ec2/subnet:Subnet": frozenset({"cidrBlock", "availabilityZone", "vpcId"}),
    "aws:kms/key:Key": frozenset({"customerMasterKeySpec", "keyUsage", "multiRegion"}),
    "aws:s3/bucket:Bucket": frozenset({"bucket", "bucketPrefix", "objectLockEnabled"}),
    "aws:cloudwatch/logGroup:LogGroup": frozenset({"name", "namePrefix"}),
    "aws:networkfirewall/firewall:Firewall": frozenset({"name", "vpcId"}),
    "aws:backup/vault:Vault": frozenset({"name"}),
    "aws:cloudtrail/trail:Trail": frozenset({"name"}),
    "aws:ec2/instance:Instance": frozenset({"ami", "subnetId", "userData"}),
}


@dataclass(frozen=True)
class Change:
    kind: str  # create | update | replace | delete
    type: str
    name: str
    keys: tuple[str, ...] = ()

    @property
    def high_risk(self) -> bool:
        return self.kind in ("replace", "delete") and self.type in HIGH_RISK_TYPES


@dataclass
class Review:
    snapshot: StackSnapshot
    verdicts: list[Violation]
    changes: list[Change] = field(default_factory=list)
    compared_with: str | None = None


def saved_form(snapshot: StackSnapshot) -> dict[str, Any]:
    """What a later preview is compared against: every custom resource's type, name and inputs."""
    return {
        "stack": snapshot.stack,
        "resources": {
            r.urn: {"type": r.type, "name": r.name, "inputs": r.inputs}
            for r in snapshot.resources
            if r.custom
        },
        "outputs": snapshot.outputs,
    }


def save(snapshot: StackSnapshot, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved_form(snapshot), indent=1, sort_keys=True, default=str))


def diff(previous: Mapping[str, Any], snapshot: StackSnapshot) -> list[Change]:
    """Changes from a saved preview to this one; a first preview (empty previous) creates everything."""
    before: Mapping[str, Any] = previous.get("resources", {})
    after = saved_form(snapshot)["resources"]
    changes = []
    for urn, now in after.items():
        if urn not in before:
            changes.append(Change("create", now["type"], now["name"]))
            continue
        old_inputs, new_inputs = before[urn]["inputs"], now["inputs"]
        changed = tuple(
            sorted(k for k in {*old_inputs, *new_inputs} if old_inputs.get(k) != new_inputs.get(k))
        )
        if changed:
            replaced = set(changed) & REPLACED_WHEN_CHANGED.get(now["type"], frozenset())
            changes.append(Change("replace" if replaced else "update", now["type"], now["name"], changed))
    changes += [Change("delete", old["type"], old["name"]) for urn, old in before.items() if urn not in after]
    return changes


def bastion_image(outputs: Mapping[str, Any]) -> str | None:
    """The Debian release and image the bastion boots, from the stack's `bastionImage` output."""
    image = outputs.get("bastionImage")
    if not image:
        return None
    return f"Debian {image['osRelease']}, {image['amiId']} ({image['name']})"


def _counts(review: Review) -> str:
    kinds = ("create", "update", "replace", "delete")
    return ", ".join(f"{sum(c.kind == kind for c in review.changes)} to {kind}" for kind in kinds)


def render_markdown(review: Review) -> str:
    """The report as a pull request comment."""
    snapshot, lines = review.snapshot, []
    outputs = snapshot.outputs
    lines.append(
        f"## Stack `{snapshot.stack}` — tenant `{outputs.get('tenant')}` ({outputs.get('environment')}), "
        f"{outputs.get('region')}"
    )
    mandatory = [v for v in review.verdicts if v.enforcement == "mandatory"]
    lines.append(
        f"\n**Policy pack:** {'PASS' if not mandatory else f'FAIL ({len(mandatory)} mandatory violations)'}"
        f", {len(review.verdicts) - len(mandatory)} advisory"
    )
    if review.verdicts:
        lines.append("\n| policy | control | level | resource | violation |\n|---|---|---|---|---|")
        lines += [
            f"| {v.policy} | {v.control} | {v.level} | `{v.resource}` | {v.message} |"
            for v in review.verdicts
        ]
    image = bastion_image(outputs)
    if image:
        lines.append(f"\n**Bastion image:** {image}")
    exceptions = snapshot.exceptions
    lines.append(
        "\n**Exceptions to the baseline:** "
        + ("none" if not exceptions else "; ".join(f"`{k}`: {why}" for k, why in exceptions.items()))
    )
    against = (
        f" against `{review.compared_with}`" if review.compared_with else " (no previous preview: all new)"
    )
    lines.append(f"\n**Changes{against}:** {_counts(review)}")
    risky = [c for c in review.changes if c.high_risk]
    if risky:
        lines.append("\n> [!WARNING]\n> High-risk changes (data or protection is lost):")
        lines += [f"> - **{c.kind}** `{c.type}` `{c.name}`" for c in risky]
    shown = [c for c in review.changes if c.kind != "create"] if review.compared_with else []
    if shown:
        lines.append("\n| change | type | name | inputs |\n|---|---|---|---|")
        lines += [f"| {c.kind} | `{c.type}` | `{c.name}` | {', '.join(c.keys)} |" for c in shown]
    return "\n".join(lines) + "\n"


def render_verdicts_text(review: Review) -> str:
    lines = []
    mandatory = [v for v in review.verdicts if v.enforcement == "mandatory"]
    lines.append(
        f"Policy pack: {'PASS' if not mandatory else 'FAIL'} "
        f"({len(mandatory)} mandatory, {len(review.verdicts) - len(mandatory)} advisory violations)"
    )
    lines += [f"  [{v.level}] {v.policy} ({v.control}) {v.resource}: {v.message}" for v in review.verdicts]
    if review.compared_with:
        lines.append(f"Changes against {review.compared_with}: {_counts(review)}")
        for change in review.changes:
            marker = " HIGH RISK" if change.high_risk else ""
            keys = f" ({', '.join(change.keys)})" if change.keys else ""
            lines.append(f"  {change.kind:8} {change.type} {change.name}{keys}{marker}")
    return "\n".join(lines)
