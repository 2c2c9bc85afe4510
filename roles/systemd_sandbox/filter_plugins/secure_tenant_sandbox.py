"""The sandbox settings of a unit, merged and checked in Python.

The same checks written in Jinja re-templated the merged settings at every reference: they took a second or more per
confined unit on every run, six units on a bastion. Each function here returns what the role's asserts and template
read; the messages name the variable to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Directives that take paths (a leading - ignores a missing path, + is relative to RootDirectory=).
PATH_KEYS = (
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "ExecPaths",
    "NoExecPaths",
    "BindPaths",
    "BindReadOnlyPaths",
)
# Directives whose empty assignment lifts the restriction instead of tightening it.
NEVER_EMPTY = ("SystemCallFilter", "RestrictAddressFamilies", "SystemCallArchitectures")
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\-]+(@[A-Za-z0-9:_.\-]*)?\.service")
DIRECTIVE = re.compile(r"[A-Z][A-Za-z0-9]*")
PLAIN_PATH = re.compile(r"(/[A-Za-z0-9_@%+=,.:~-]+)+")
DOT_PART = re.compile(r"(^|/)\.\.?(/|$)")


def effective(baseline: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline with the service's settings over it; a null value leaves the directive out."""
    return {key: value for key, value in {**baseline, **settings}.items() if value is not None}


def _entries(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, int, float)) else list(value)


def _well_formed(value: Any) -> bool:
    """A string, number or boolean, or a list of those, without a line break (which would add directives)."""
    if isinstance(value, Mapping) or not isinstance(value, (int, float, Iterable)):
        return False
    entries = _entries(value)
    return all(isinstance(entry, (str, int, float)) for entry in entries) and not any(
        "\r" in str(entry) or "\n" in str(entry) for entry in entries
    )


def paths(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every path the merged settings name: its directive, the path without its -/+ prefix or Bind*'s :destination,
    and whether a leading - marks it as allowed to be missing."""
    named = []
    for key in PATH_KEYS:
        for entry in _entries(settings.get(key, [])):
            for word in str(entry).split():
                bare = word.lstrip("-+")
                prefix = word[: len(word) - len(bare)]
                named.append({"key": key, "path": bare.split(":")[0], "optional": "-" in prefix})
    return named


def problems(baseline: Mapping[str, Any], settings: Mapping[str, Any], unit: str) -> list[str]:
    """What is wrong with the unit name and its sandbox settings, one message per kind of problem."""
    found = []
    if not UNIT_NAME.fullmatch(unit):
        found.append(
            f"systemd_sandbox_unit is '{unit}'; name the service to confine, such as fail2ban.service or"
            " openvpn-server@server.service (the calling role sets it)."
        )
    merged = effective(baseline, settings)
    bad_keys = [key for key in [*settings, *baseline] if not DIRECTIVE.fullmatch(str(key))]
    bad_values = [key for key, value in merged.items() if not _well_formed(value)]
    if bad_keys or bad_values:
        found.append(
            f"The sandbox settings of {unit} are not systemd directives: keys [{', '.join(map(str, bad_keys))}] must"
            " be directive names as in systemd.exec(5) (ProtectSystem), and values of"
            f" [{', '.join(bad_values)}] must be a string, number, boolean or list of those, without line breaks."
            " Fix systemd_sandbox_settings (or systemd_sandbox_baseline)."
        )
    # An empty filter is what systemd reads as no filter at all.
    lifted = [key for key in NEVER_EMPTY if key in merged and not merged[key]]
    if lifted:
        found.append(
            f'{", ".join(lifted)} of {unit} is empty, which systemd reads as "no restriction"; list what the'
            " service may use (RestrictAddressFamilies: [AF_UNIX], or [none] for no sockets), or set the key to"
            " null to keep the unit's own setting."
        )
    # Paths are read only once the values are known to be strings or lists of them.
    named = [] if bad_values else [entry["path"] for entry in paths(merged)]
    bad_paths = [path for path in named if not PLAIN_PATH.fullmatch(path) or DOT_PART.search(path)]
    if bad_paths:
        found.append(
            f"The sandbox of {unit} names paths that are not plain absolute paths: {', '.join(bad_paths)}; write"
            " each as /dir/name, without //, . or .. parts or a trailing slash (a leading - marks a path that may"
            " be missing)."
        )
    return found


def path_problems(
    looked_up: Iterable[Mapping[str, Any]], forbidden: Iterable[str], unit: str, hostname: str
) -> list[str]:
    """Missing paths, and write access that would undo the read-only system or the hidden homes.

    `looked_up` is the results of stat on each entry of `paths`; a link is judged by where it points, as a writable
    link to /etc is a writable /etc.
    """
    found = []
    results = list(looked_up)
    missing = [
        result["item"]["path"]
        for result in results
        if not result["item"]["optional"] and not result["stat"]["exists"]
    ]
    if missing:
        found.append(
            f"The sandbox of {unit} names paths missing on {hostname}: {', '.join(missing)}. systemd would refuse to"
            " start the service (status 226/NAMESPACE); create them first, or prefix a path that may be missing"
            " with -."
        )
    writable = [result for result in results if result["item"]["key"] == "ReadWritePaths"]
    targets = [result["stat"]["lnk_source"] for result in writable if result["stat"].get("islnk")]
    opened = list(
        dict.fromkeys(
            path for path in [*targets, *(r["item"]["path"] for r in writable)] if path in forbidden
        )
    )
    if opened:
        found.append(
            f"The sandbox of {unit} makes {', '.join(opened)} writable (directly or through a link), which undoes"
            " ProtectSystem/ProtectHome; give ReadWritePaths only the directories the service writes"
            " (systemd_sandbox_forbidden_writable_paths lists what is refused)."
        )
    return found


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "secure_tenant_sandbox_effective": effective,
            "secure_tenant_sandbox_paths": paths,
            "secure_tenant_sandbox_problems": problems,
            "secure_tenant_sandbox_path_problems": path_problems,
        }
