"""The Debian mirror this machine's apt uses, read the way apt reads its sources.

apt reads `/etc/apt/sources.list`, then `sources.list.d/*.list` (one-line format) and `*.sources` (deb822
stanzas) in name order. Only enabled `deb` entries count, comments never do, and the security archive is not
the main archive: its suites end in `-security`. `SECURE_TENANT_LAB_MIRROR` overrides what the files say.

Run as a script (`python3 lab/apt_sources.py`), it prints the mirror; scripts/apt-deps uses it before the
virtualenv exists, so this module imports nothing but the standard library.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

APT_DIR = Path("/etc/apt")
MIRROR_ENV = "SECURE_TENANT_LAB_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class AptSource:
    """One enabled binary-package source: where it is and which suites it serves."""

    uri: str
    suites: tuple[str, ...]


def _is_main_archive(suite: str) -> bool:
    # The security archive is a different repository on a different path, whatever its host is called.
    return not suite.endswith(("-security", "/updates"))


def parse_one_line(text: str) -> Iterator[AptSource]:
    """`deb [option=value ...] URI suite [component ...]` lines; `deb-src` and comments are not sources."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        line = re.sub(r"\[[^\]]*\]", " ", line)  # options such as [arch=amd64 signed-by=...]
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "deb":
            yield AptSource(fields[1].rstrip("/"), (fields[2],))


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    field = ""
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue  # a comment line inside or between stanzas
        if not raw.strip():
            if stanza:
                yield stanza
            stanza, field = {}, ""
        elif raw[0] in " \t" and field:
            stanza[field] += " " + raw.strip()  # a continuation line
        elif ":" in raw:
            field, value = raw.split(":", 1)
            field = field.strip().lower()
            stanza[field] = value.strip()


def parse_deb822(text: str) -> Iterator[AptSource]:
    """deb822 `.sources` stanzas: several URIs and suites each, `Enabled: no` honoured."""
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").lower() in {"no", "false", "0"}:
            continue
        if "deb" not in stanza.get("types", "").split():
            continue
        suites = tuple(stanza.get("suites", "").split())
        for uri in stanza.get("uris", "").split():
            yield AptSource(uri.rstrip("/"), suites)


def read_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    """Every enabled `deb` source, in the order apt reads the files."""
    sources: list[AptSource] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        sources += parse_one_line(main_list.read_text())
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.iterdir()) if parts.is_dir() else []:
        if path.suffix == ".list" and path.is_file():
            sources += parse_one_line(path.read_text())
        elif path.suffix == ".sources" and path.is_file():
            sources += parse_deb822(path.read_text())
    return sources


def _resolve_mirror_list(uri: str) -> str:
    """`mirror+file:///etc/apt/mirrors/debian.list` (Debian's cloud images) names a file of mirrors: the first."""
    if not uri.startswith("mirror+file:"):
        return uri
    mirror_list = Path(uri.removeprefix("mirror+file:").removeprefix("//"))
    if not mirror_list.is_file():
        return ""
    urls = [
        line.split()[0] for line in mirror_list.read_text().splitlines() if line.strip() and line[0] != "#"
    ]
    return urls[0].rstrip("/") if urls else ""


def debian_mirror(suite: str = "bookworm", apt_dir: Path = APT_DIR) -> str:
    """The main-archive mirror for `suite`: the override, a source serving that suite, any main-archive
    source (a mirror serves every release), then Debian's own redirector."""
    override = os.environ.get(MIRROR_ENV, "").strip()
    if override:
        return override.rstrip("/")
    sources = [
        AptSource(uri, source.suites)
        for source in read_sources(apt_dir)
        if any(map(_is_main_archive, source.suites))
        for uri in [_resolve_mirror_list(source.uri)]
        if uri.startswith(("http://", "https://"))
    ]
    for source in sources:
        if suite in source.suites:
            return source.uri
    return sources[0].uri if sources else DEFAULT_MIRROR


if __name__ == "__main__":
    print(debian_mirror(sys.argv[1] if len(sys.argv) > 1 else "bookworm"))
