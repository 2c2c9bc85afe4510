"""The lab's Debian mirror is read from apt's sources the way apt reads them (real-world files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.apt_sources import DEFAULT_MIRROR, MIRROR_ENV, debian_mirror

# This machine's file (a Debian 12 cloud image with snapshot pins left as comments): the commented snapshot URL
# was once taken for the mirror, and debootstrap failed on every fresh machine.
SNAPSHOT_COMMENTS = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

SECURITY_FIRST = """\
Types: deb
URIs: https://security.example.org/debian
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: https://mirror.example.org/debian/ https://second.example.org/debian
Suites: trixie trixie-updates
Components: main non-free-firmware
"""

DISABLED_AND_SOURCE_ONLY = """\
Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Enabled: no

Types: deb-src
URIs: http://sources-only.example.org/debian
Suites: bookworm

Types: deb
URIs: http://enabled.example.org/debian
Suites: bookworm
"""

ONE_LINE = """\
# deb http://commented.example.org/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb-src http://src.example.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.de.debian.org/debian/ bookworm main
"""


def apt_tree(tmp_path: Path, sources_list: str = "", **parts: str) -> Path:
    (tmp_path / "sources.list.d").mkdir(parents=True)
    if sources_list:
        (tmp_path / "sources.list").write_text(sources_list)
    for name, text in parts.items():
        (tmp_path / "sources.list.d" / name.replace("_", ".", 1)).write_text(text)
    return tmp_path


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)


def test_commented_snapshot_urls_are_not_taken_for_the_mirror(tmp_path: Path) -> None:
    assert debian_mirror("bookworm", apt_tree(tmp_path, debian_sources=SNAPSHOT_COMMENTS)) == (
        "http://deb.debian.org/debian"
    )


def test_the_security_archive_is_not_the_main_archive(tmp_path: Path) -> None:
    apt_dir = apt_tree(tmp_path, debian_sources=SECURITY_FIRST)
    assert debian_mirror("trixie", apt_dir) == "https://mirror.example.org/debian"


def test_a_mirror_of_another_release_serves_the_requested_one(tmp_path: Path) -> None:
    apt_dir = apt_tree(tmp_path, debian_sources=SECURITY_FIRST)
    assert debian_mirror("bookworm", apt_dir) == "https://mirror.example.org/debian"


def test_disabled_stanzas_and_source_only_entries_are_skipped(tmp_path: Path) -> None:
    apt_dir = apt_tree(tmp_path, debian_sources=DISABLED_AND_SOURCE_ONLY)
    assert debian_mirror("bookworm", apt_dir) == "http://enabled.example.org/debian"


def test_one_line_format_with_options_comments_and_security_first(tmp_path: Path) -> None:
    assert debian_mirror("bookworm", apt_tree(tmp_path, ONE_LINE)) == "http://ftp.de.debian.org/debian"


def test_sources_list_is_read_before_the_parts_directory(tmp_path: Path) -> None:
    apt_dir = apt_tree(
        tmp_path, "deb http://first.example.org/debian bookworm main\n", debian_sources=SNAPSHOT_COMMENTS
    )
    assert debian_mirror("bookworm", apt_dir) == "http://first.example.org/debian"


def test_a_source_serving_the_exact_suite_wins_over_an_earlier_one(tmp_path: Path) -> None:
    apt_dir = apt_tree(
        tmp_path,
        a_list="deb http://backports.example.org/debian bookworm-backports main\n",
        b_sources=SNAPSHOT_COMMENTS,
    )
    assert debian_mirror("bookworm", apt_dir) == "http://deb.debian.org/debian"


def test_mirror_file_uris_of_debian_cloud_images_are_followed(tmp_path: Path) -> None:
    mirrors = tmp_path / "mirrors.list"
    mirrors.write_text("# cloud mirrors\nhttps://cdn-aws.deb.debian.org/debian/ priority:1\n")
    apt_dir = apt_tree(
        tmp_path / "apt",
        debian_sources=f"Types: deb\nURIs: mirror+file://{mirrors}\nSuites: trixie trixie-updates\n",
    )
    assert debian_mirror("trixie", apt_dir) == "https://cdn-aws.deb.debian.org/debian"


def test_the_environment_overrides_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, "http://local.example.org/debian/")
    assert debian_mirror("bookworm", apt_tree(tmp_path, ONE_LINE)) == "http://local.example.org/debian"


def test_no_usable_source_falls_back_to_debians_redirector(tmp_path: Path) -> None:
    apt_dir = apt_tree(
        tmp_path, debian_sources=DISABLED_AND_SOURCE_ONLY.split("\n\nTypes: deb\nURIs: http://en")[0]
    )
    assert debian_mirror("bookworm", apt_dir) == DEFAULT_MIRROR
