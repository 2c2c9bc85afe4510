"""The dpkg filter the roles' package tasks share (roles/debian_release/tasks/packages.yml and installed.yml)."""

from __future__ import annotations

from typing import Any

# dpkg's states of a package with no installed version: never installed, or removed with its configuration kept.
NOT_INSTALLED = frozenset({"not-installed", "config-files"})


def dpkg_installed(listing: str) -> list[str]:
    """The packages that have an installed version, from `dpkg-query --show --showformat='${db:Status-Status}
    ${Package}\\n'`: the packages python3-apt (package_facts, the apt module's "present") counts as installed,
    half-configured ones included. Sorted, each once (a package installed for two architectures is one name)."""
    names = set()
    for line in listing.splitlines():
        status, _, name = line.strip().partition(" ")
        if name and status not in NOT_INSTALLED:
            names.add(name)
    return sorted(names)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"secure_tenant_dpkg_installed": dpkg_installed}
