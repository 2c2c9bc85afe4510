"""Which statements of the stack's IAM, KMS and bucket policies a change adds, removes or changes.

A reviewer approves permissions statement by statement, not as a blob of JSON: each document is split into its
statements, matched by `Sid` (a statement without one is known by its content, so editing it shows as removed
and added), and compared field by field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from review.saved import SavedResources

# Where each resource type keeps a policy document, and what a reviewer calls that document.
DOCUMENTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "aws:iam/role:Role": (("assumeRolePolicy", "IAM trust policy"),),
    "aws:iam/rolePolicy:RolePolicy": (("policy", "IAM role policy"),),
    "aws:iam/policy:Policy": (("policy", "IAM policy"),),
    "aws:kms/key:Key": (("policy", "KMS key policy"),),
    "aws:kms/externalKey:ExternalKey": (("policy", "KMS key policy"),),
    "aws:kms/keyPolicy:KeyPolicy": (("policy", "KMS key policy"),),
    "aws:s3/bucketPolicy:BucketPolicy": (("policy", "bucket policy"),),
}
FIELDS = (
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)


@dataclass(frozen=True)
class StatementChange:
    kind: str  # added | removed | changed
    document: str  # "KMS key policy"
    resource: str
    sid: str
    statement: str  # the statement as it is now (as it was, when removed), in one line
    fields: tuple[str, ...] = ()  # for a change: the fields that differ
    before: str = ""  # for a change: those fields as they were


def _statements(value: Any) -> dict[str, Mapping[str, Any]]:
    """A policy document's statements by Sid (or by content); a value that is not a policy is one statement."""
    document = value
    if isinstance(value, str):
        try:
            document = json.loads(value)
        except json.JSONDecodeError:
            return {"(not JSON)": {"Document": value}}
    raw = document.get("Statement", []) if isinstance(document, Mapping) else document
    statements: dict[str, Mapping[str, Any]] = {}
    for statement in raw if isinstance(raw, list) else [raw]:
        if not isinstance(statement, Mapping):
            statement = {"Statement": statement}
        sid = str(statement.get("Sid") or json.dumps(statement, sort_keys=True))
        # Two statements with one Sid (IAM refuses that, KMS does not): keep both, numbered.
        key, number = sid, 2
        while key in statements:
            key, number = f"{sid} #{number}", number + 1
        statements[key] = statement
    return statements


def _label(statement: Mapping[str, Any]) -> str:
    return str(statement.get("Sid") or "(no Sid)")


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def describe(statement: Mapping[str, Any], fields: tuple[str, ...] = FIELDS) -> str:
    """`Effect=Allow Principal={"Service":"..."} Action=kms:Decrypt ...`: the statement's fields on one line."""
    shown = [f"{name}={_compact(statement[name])}" for name in fields if name in statement]
    return " ".join(shown) or _compact(statement)


def _documents(resources: SavedResources) -> Iterator[tuple[tuple[str, str, str], Any]]:
    """((urn, input, document kind), document) of every policy document the resources declare."""
    for urn, resource in resources.items():
        for prop, kind in DOCUMENTS.get(resource["type"], ()):
            value = resource["inputs"].get(prop)
            if value is not None:
                yield (urn, prop, kind), value


def diff(before: SavedResources, after: SavedResources) -> list[StatementChange]:
    """The statement changes from `before` to `after`; a new document's statements are all added."""
    old_documents, new_documents = dict(_documents(before)), dict(_documents(after))
    changes: list[StatementChange] = []
    for place in sorted({*old_documents, *new_documents}):
        urn, _prop, kind = place
        name = (after.get(urn) or before[urn])["name"]
        old = _statements(old_documents[place]) if place in old_documents else {}
        new = _statements(new_documents[place]) if place in new_documents else {}
        for sid in sorted({*old, *new}):
            label = _label(new.get(sid) or old[sid])
            if sid not in old:
                changes.append(StatementChange("added", kind, name, label, describe(new[sid])))
            elif sid not in new:
                changes.append(StatementChange("removed", kind, name, label, describe(old[sid])))
            elif old[sid] != new[sid]:
                differ = tuple(f for f in {*old[sid], *new[sid]} if old[sid].get(f) != new[sid].get(f))
                ordered = tuple(f for f in FIELDS if f in differ) + tuple(sorted(set(differ) - set(FIELDS)))
                changes.append(
                    StatementChange(
                        "changed",
                        kind,
                        name,
                        label,
                        describe(new[sid], ordered),
                        ordered,
                        describe(old[sid], ordered) or "(absent)",
                    )
                )
    return changes
