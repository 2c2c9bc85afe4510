"""The saved form of a preview: what the next preview of the stack is compared against (`--save`/`--against`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from review.offline import StackSnapshot

# A saved preview's resources: URN -> {"type", "name", "inputs", and "id"/"arn" where the engine knows them}.
SavedResources = Mapping[str, Mapping[str, Any]]


def saved_form(snapshot: StackSnapshot) -> dict[str, Any]:
    """Every custom resource's type, name and inputs (what a change is judged by), its id and ARN (what other
    resources name it by), and the stack outputs: as plain JSON values, so that a form read back from its file
    compares equal to one just computed, and no caller can change the snapshot through it."""
    form = {
        "stack": snapshot.stack,
        "resources": {
            r.urn: {
                "type": r.type,
                "name": r.name,
                "inputs": r.inputs,
                **{key: r.outputs[key] for key in ("id", "arn") if isinstance(r.outputs.get(key), str)},
            }
            for r in snapshot.resources
            if r.custom
        },
        "outputs": snapshot.outputs,
    }
    plain: dict[str, Any] = json.loads(json.dumps(form, default=str))
    return plain


def save(snapshot: StackSnapshot, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved_form(snapshot), indent=1, sort_keys=True))
