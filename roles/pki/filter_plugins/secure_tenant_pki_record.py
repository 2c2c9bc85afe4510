"""The record of the pki role's last complete run, and whether it still describes the CA directory.

The CA host's work is skipped only while the record names exactly the fingerprint of now: the inputs (variables,
derived values, the role's own files) and every entry of the CA directory listing. Anything a complete run would
correct or act on is in an entry: content, mode, owner, link target, and a file's change time, which nobody can
set back (a directory's changes when the record itself is written, so it is left out; its entries are not).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

# Per entry of an ansible.builtin.find result (get_checksum, follow off).
ENTRY_FIELDS = ("path", "mode", "uid", "gid", "islnk", "lnk_source", "checksum")


def fingerprint(listing: Iterable[Mapping[str, Any]], inputs: Any) -> str:
    """SHA-256 of the inputs and of each listed entry's fields, in path order (find's order is the disk's)."""
    entries = [
        [*(entry.get(field, "") for field in ENTRY_FIELDS), 0 if entry["isdir"] else entry["ctime"]]
        for entry in sorted(listing, key=lambda entry: str(entry["path"]))
    ]
    document = json.dumps({"inputs": inputs, "entries": entries}, sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()


def record(current: str, now: float) -> str:
    """The record a complete run writes: `<fingerprint> <epoch seconds>`."""
    return f"{current} {int(now)}\n"


def is_current(written: str, current: str, now: float, max_age: int) -> bool:
    """Whether a record names this fingerprint and was written less than max_age seconds ago, not in the future."""
    fields = written.split()
    if len(fields) != 2 or fields[0] != current or not fields[1].isdigit():
        return False
    return 0 <= now - int(fields[1]) < max_age


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "secure_tenant_pki_fingerprint": fingerprint,
            "secure_tenant_pki_record": record,
            "secure_tenant_pki_record_is_current": is_current,
        }
