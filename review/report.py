"""The reviewer's report: what a stack would change against the last approved preview, and whether it keeps the
security baseline, as Markdown for the pull request and as text for the terminal.

A preview is saved (review/saved.py) so that the next one can be compared with it. The report opens with a
one-line verdict, then what a reviewer approves: what the internet can reach (review/exposure.py), the IAM, KMS
and bucket policy statements that change (review/statements.py), the Suricata rules added and removed
(review/suricata.py), the exceptions to the baseline, stateful resources replaced or deleted, the policy pack's
verdicts with their waivers, and every resource change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from review import exposure, statements, suricata
from review.offline import StackSnapshot
from review.saved import save, saved_form
from review.verdict import Violation

__all__ = ["Change", "Review", "diff", "render_markdown", "render_text", "save", "saved_form"]

# Resources that hold data or protection: deleting or replacing one loses it.
HIGH_RISK_TYPES = frozenset(
    {
        "aws:kms/key:Key",
        "aws:kms/externalKey:ExternalKey",
        "aws:s3/bucket:Bucket",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:networkfirewall/firewall:Firewall",
        "aws:networkfirewall/firewallPolicy:FirewallPolicy",
        "aws:networkfirewall/ruleGroup:RuleGroup",
        "aws:backup/vault:Vault",
        "aws:cloudtrail/trail:Trail",
        "aws:ebs/volume:Volume",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:dynamodb/table:Table",
        "aws:efs/fileSystem:FileSystem",
    }
)
# Inputs AWS cannot change in place (the provider's "forces replacement"): a new value means delete and re-create.
# A table of what the mocks know, not the provider's schema: the real `pulumi preview` job has the last word.
REPLACED_WHEN_CHANGED: Mapping[str, frozenset[str]] = {
    "aws:ec2/vpc:Vpc": frozenset({"cidrBlock"}),
    "aws:ec2/subnet:Subnet": frozenset({"cidrBlock", "availabilityZone", "vpcId"}),
    "aws:kms/key:Key": frozenset({"customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId"}),
    "aws:s3/bucket:Bucket": frozenset({"bucket", "bucketPrefix", "objectLockEnabled"}),
    "aws:cloudwatch/logGroup:LogGroup": frozenset({"name", "namePrefix"}),
    "aws:networkfirewall/firewall:Firewall": frozenset({"name", "vpcId"}),
    "aws:networkfirewall/firewallPolicy:FirewallPolicy": frozenset({"name"}),
    "aws:networkfirewall/ruleGroup:RuleGroup": frozenset({"name", "type", "capacity"}),
    "aws:backup/vault:Vault": frozenset({"name"}),
    "aws:cloudtrail/trail:Trail": frozenset({"name"}),
    "aws:ebs/volume:Volume": frozenset({"availabilityZone", "encrypted", "kmsKeyId", "snapshotId"}),
    "aws:ec2/instance:Instance": frozenset({"ami", "subnetId", "userData"}),
}
ENGINE_NOTE = (
    "Replacement is predicted from the inputs known to force one (review/report.py); only the engine knows for "
    "certain: the `pulumi preview` job of this pull request shows its plan."
)


@dataclass(frozen=True)
class Change:
    kind: str  # create | update | replace | delete
    type: str
    name: str
    keys: tuple[str, ...] = ()

    @property
    def high_risk(self) -> bool:
        return self.kind in ("replace", "delete") and self.type in HIGH_RISK_TYPES

    @property
    def forced_by(self) -> tuple[str, ...]:
        """The changed inputs that force the replacement."""
        return tuple(k for k in self.keys if k in REPLACED_WHEN_CHANGED.get(self.type, frozenset()))


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


@dataclass(frozen=True)
class ExceptionChange:
    kind: str  # added | removed | changed
    name: str
    justification: str


def exception_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[ExceptionChange]:
    changes = []
    for name in sorted({*before, *after}):
        if name not in before:
            changes.append(ExceptionChange("added", name, after[name]))
        elif name not in after:
            changes.append(ExceptionChange("removed", name, before[name]))
        elif before[name] != after[name]:
            changes.append(ExceptionChange("changed", name, after[name]))
    return changes


@dataclass
class Review:
    """One stack's review: the pack's verdicts and every diff against the previous preview (empty: none)."""

    snapshot: StackSnapshot
    verdicts: list[Violation]
    previous: Mapping[str, Any] = field(default_factory=dict)
    compared_with: str | None = None
    changes: list[Change] = field(init=False)
    exposure: exposure.ExposureDiff = field(init=False)
    statements: list[statements.StatementChange] = field(init=False)
    rules: list[suricata.RuleChange] = field(init=False)
    exceptions: list[ExceptionChange] = field(init=False)

    def __post_init__(self) -> None:
        before: Mapping[str, Any] = self.previous.get("resources", {})
        after = saved_form(self.snapshot)["resources"]
        self.changes = diff(self.previous, self.snapshot)
        self.exposure = exposure.diff(before, after)
        self.statements = statements.diff(before, after)
        self.rules = suricata.diff(before, after)
        previous_exceptions = dict(self.previous.get("outputs", {}).get("exceptions") or {})
        self.exceptions = exception_changes(previous_exceptions, self.snapshot.exceptions)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.verdicts if v.enforcement == "mandatory"]

    @property
    def high_risk(self) -> list[Change]:
        return [c for c in self.changes if c.high_risk]


def _count(items: int, one: str, many: str) -> str:
    return f"{items} {one if items == 1 else many}"


def verdict(review: Review) -> str:
    """One line: BLOCKED (a mandatory violation), REVIEW (what needs a reviewer's eye), or ROUTINE."""
    pack = (
        f"policy pack fails ({_count(len(review.mandatory), 'mandatory violation', 'mandatory violations')})"
        if review.mandatory
        else f"policy pack passes ({len(review.verdicts)} advisory)"
    )
    baseline = "" if review.compared_with else "; no approved baseline, so everything is new"
    if review.mandatory:
        return f"BLOCKED: {pack}{baseline}"
    counted = (
        (len(review.exposure.added), "new way in from the internet", "new ways in from the internet"),
        (len(review.exposure.removed), "way in closed", "ways in closed"),
        (len(review.statements), "policy statement changed", "policy statements changed"),
        (len(review.rules), "firewall rule changed", "firewall rules changed"),
        (len(review.exceptions), "exception changed", "exceptions changed"),
        (
            len(review.high_risk),
            "stateful resource replaced or deleted",
            "stateful resources replaced or deleted",
        ),
    )
    attention = [_count(amount, one, many) for amount, one, many in counted if amount]
    if not attention:
        return (
            f"ROUTINE: {pack}, nothing new reachable, no policy, rule, exception or stateful change{baseline}"
        )
    return f"REVIEW: {', '.join(attention)}; {pack}{baseline}"


# --- sections: the same tables rendered as Markdown and as text -----------------------------------------------


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    empty: str  # what an empty table means
    note: str = ""


def _counts(review: Review) -> str:
    kinds = ("create", "update", "replace", "delete")
    return ", ".join(f"{sum(c.kind == kind for c in review.changes)} to {kind}" for kind in kinds)


def sections(review: Review) -> list[Section]:
    first = not review.compared_with
    exposures = [
        (review.exposure.status(e) if not first else "", e.protocol, e.ports, e.source, e.path, e.target)
        for e in review.exposure.now
    ] + [("removed", e.protocol, e.ports, e.source, e.path, e.target) for e in review.exposure.removed]
    exceptions = review.snapshot.exceptions
    changed_exceptions = {c.name for c in review.exceptions}
    return [
        Section(
            "Reachable from the internet",
            ("change", "protocol", "port", "from", "through", "reaches"),
            exposures,
            "nothing",
        ),
        Section(
            "Policy statements changed (IAM, KMS, bucket)",
            ("change", "document", "resource", "Sid", "statement", "was"),
            [(s.kind, s.document, s.resource, s.sid, s.statement, s.before) for s in review.statements],
            "none",
            "" if not first else "No approved baseline: every statement is new.",
        ),
        Section(
            "Suricata rules added and removed",
            ("change", "rule group", "sid", "rule", "was"),
            [(r.kind, r.group, r.sid, r.rule, r.before) for r in review.rules],
            "none",
        ),
        Section(
            "Exceptions to the baseline",
            ("change", "exception", "justification"),
            [(c.kind, c.name, c.justification) for c in review.exceptions]
            + [("", name, why) for name, why in exceptions.items() if name not in changed_exceptions],
            "none",
        ),
        Section(
            "Stateful resources replaced or deleted (data or protection is lost)",
            ("change", "type", "name", "forced by"),
            [(c.kind, c.type, c.name, ", ".join(c.forced_by)) for c in review.high_risk],
            "none",
            ENGINE_NOTE if review.high_risk else "",
        ),
        Section(
            "Policy verdicts (waived: advisory by a named exception)",
            ("policy", "control", "level", "resource", "violation"),
            [(v.policy, v.control, v.level, v.resource, v.message) for v in review.verdicts],
            "no violation",
        ),
        Section(
            f"Changes {'against ' + str(review.compared_with) if review.compared_with else '(all new)'}: "
            + _counts(review),
            ("change", "type", "name", "inputs"),
            [(c.kind, c.type, c.name, ", ".join(c.keys)) for c in review.changes if c.kind != "create"],
            "no update, replacement or deletion",
        ),
    ]


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped (Suricata content matches use them), one line."""
    return " ".join(text.replace("|", "\\|").split()) if text else ""


def _heading(snapshot: StackSnapshot) -> str:
    outputs = snapshot.outputs
    return (
        f"Stack `{snapshot.stack}` — tenant `{outputs.get('tenant')}` ({outputs.get('environment')}), "
        f"{outputs.get('region')}"
    )


def _pack(review: Review) -> str:
    advisory = len(review.verdicts) - len(review.mandatory)
    return f"{'PASS' if not review.mandatory else 'FAIL'} ({len(review.mandatory)} mandatory, {advisory} advisory)"


def render_markdown(review: Review) -> str:
    """The report as a pull request comment."""
    lines = [f"## {_heading(review.snapshot)}", f"\n**Verdict:** {verdict(review)}"]
    lines.append(f"\n**Policy pack:** {_pack(review)}")
    image = bastion_image(review.snapshot.outputs)
    if image:
        lines.append(f"\n**Bastion image:** {image}")
    if review.high_risk:
        lines.append("\n> [!WARNING]\n> Stateful resources replaced or deleted: data or protection is lost.")
    for section in sections(review):
        lines.append(f"\n### {section.title}")
        if section.note:
            lines.append(f"\n{section.note}")
        if not section.rows:
            lines.append(f"\n{section.empty.capitalize()}.")
            continue
        lines.append("\n| " + " | ".join(section.columns) + " |\n|" + "---|" * len(section.columns))
        lines += [
            "| "
            + " | ".join(_code(column, value) for column, value in zip(section.columns, row, strict=True))
            + " |"
            for row in section.rows
        ]
    return "\n".join(lines) + "\n"


CODE_COLUMNS = frozenset({"type", "name", "resource", "statement", "was", "rule", "exception", "Sid"})


def _code(column: str, value: str) -> str:
    return f"`{_cell(value)}`" if value and column in CODE_COLUMNS else _cell(value)


def render_text(review: Review) -> str:
    """The report for the terminal: the verdict, then each section as indented lines."""
    lines = [f"Verdict: {verdict(review)}", f"Policy pack: {_pack(review)}"]
    for section in sections(review):
        lines.append(f"{section.title}: {'' if section.rows else section.empty}".rstrip())
        for row in section.rows:
            lines.append("  " + " | ".join(value for value in row if value))
        if section.note:
            lines.append(f"  ({section.note})")
    return "\n".join(lines)
