"""Make OpenSSL release names comparable with ansible's `version` test.

OpenSSL 1.x names its patch releases with letters (1.1.1 < 1.1.1a < ... < 1.1.1w, 1.0.2z < 1.0.2za), which a
loose version comparison cannot order against numbers. Each letter becomes a number of its own (a=1 ... z=26):
1.1.1w -> 1.1.1.23 and 1.0.2za -> 1.0.2.26.1, so `is version(..., '>=')` orders every release correctly;
3.x releases pass through unchanged. A distribution package version (`[epoch:]upstream[-revision]`, e.g.
3.0.19-1~deb12u2 or 1.1.1w-0+deb11u1) is reduced to its upstream release first.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

_RELEASE = re.compile(r"(?:[0-9]+:)?(?P<numbers>[0-9]+(?:\.[0-9]+)*)(?P<letters>[a-z]*)(?:[-~+].*)?")


def openssl_comparable_version(release: str) -> str:
    """Return `release` as dotted numbers, letters spelled out as their place in the alphabet."""
    match = _RELEASE.fullmatch(str(release).strip())
    if match is None:
        raise AnsibleFilterError(
            f"openssl_comparable_version: {release!r} is not an OpenSSL release such as 3.0.19 or 1.1.1w"
        )
    letters = [str(ord(letter) - ord("a") + 1) for letter in match["letters"]]
    return ".".join([match["numbers"], *letters])


class FilterModule:
    """Filters of the openssl role."""

    def filters(self) -> dict[str, Any]:
        return {"openssl_comparable_version": openssl_comparable_version}
