"""What a find read, in the form os_baseline's loops compare with what they would write.

A loop item is skipped, without a round trip, when the line of the file it would write is among these lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def file_states(files: Iterable[Mapping[str, Any]], checksum: bool = True) -> list[str]:
    """One `PATH SHA1 OWNER GROUP MODE` line per file of a find result (`PATH OWNER GROUP MODE` without checksum)."""
    fields = (
        ("path", "checksum", "pw_name", "gr_name", "mode")
        if checksum
        else ("path", "pw_name", "gr_name", "mode")
    )
    return [" ".join(str(found[field]) for field in fields) for found in files]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"secure_tenant_file_states": file_states}
