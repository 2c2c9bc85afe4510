"""The roles' own filters, offline: systemd_sandbox's checks of a unit's sandbox settings, the file states
os_baseline compares with what it would write, the record that lets the pki role skip an unchanged CA, and the
dpkg listing that lets a role skip apt when its packages are installed.

Each sandbox case is a setting somebody could slip past a weaker check; the systemd_sandbox molecule scenario runs
the same checks on a real host, through the role."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.role_plugins import load_filter_plugin

sandbox = load_filter_plugin("systemd_sandbox", "secure_tenant_sandbox")
BASELINE = {
    "ProtectSystem": "strict",
    "SystemCallFilter": ["@system-service"],
    "RestrictAddressFamilies": ["AF_UNIX"],
}
FORBIDDEN = ["/", "/etc", "/home", "/root", "/usr", "/var"]


def problems(settings: dict[str, Any], unit: str = "probe.service") -> str:
    return " ".join(sandbox.problems(BASELINE, settings, unit))


def test_settings_override_the_baseline_and_null_leaves_a_directive_out() -> None:
    merged = sandbox.effective(BASELINE, {"ProtectSystem": "full", "RestrictAddressFamilies": None})
    assert merged == {"ProtectSystem": "full", "SystemCallFilter": ["@system-service"]}


def test_good_settings_pass() -> None:
    assert (
        problems({"ReadWritePaths": ["/var/lib/probe", "-/run/probe"], "BindPaths": ["/dev/net/tun"]}) == ""
    )


@pytest.mark.parametrize(
    ("unit", "settings", "shown"),
    [
        ("probe", {}, "systemd_sandbox_unit is 'probe'"),
        (
            "probe.service\n",
            {},
            "systemd_sandbox_unit is",
        ),  # a trailing line break passes a regex ending in $
        ("probe.service", {"ProtectSystem\n": "no"}, "keys [ProtectSystem\n]"),
        ("probe.service", {"protectSystem": "no"}, "keys [protectSystem]"),
        ("probe.service", {"UMask": "0077\nProtectSystem=no"}, "values of [UMask]"),
        ("probe.service", {"ReadWritePaths": ["/var/lib/probe", "/etc\r"]}, "values of [ReadWritePaths]"),
        ("probe.service", {"ReadWritePaths": {"path": "/etc"}}, "values of [ReadWritePaths]"),
        ("probe.service", {"ReadWritePaths": [["/etc"]]}, "values of [ReadWritePaths]"),
        ("probe.service", {"SystemCallFilter": []}, "SystemCallFilter of probe.service is empty"),
        (
            "probe.service",
            {"RestrictAddressFamilies": ""},
            "RestrictAddressFamilies of probe.service is empty",
        ),
        (
            "probe.service",
            {"SystemCallArchitectures": False},
            "SystemCallArchitectures of probe.service is empty",
        ),
        (
            "probe.service",
            {"ReadWritePaths": ["/var/lib/../../etc"]},
            "plain absolute paths: /var/lib/../../etc",
        ),
        ("probe.service", {"ReadWritePaths": ["//etc"]}, "plain absolute paths: //etc"),
        ("probe.service", {"ReadWritePaths": ["/etc/"]}, "plain absolute paths: /etc/"),
        ("probe.service", {"ReadWritePaths": ["etc"]}, "plain absolute paths: etc"),
        ("probe.service", {"BindPaths": ["/srv/./x:/srv/y"]}, "plain absolute paths: /srv/./x"),
    ],
)
def test_settings_systemd_would_misread_are_refused(unit: str, settings: dict[str, Any], shown: str) -> None:
    assert shown in problems(settings, unit)


@given(
    st.lists(st.text(alphabet="/abc-\n\r ", min_size=1), min_size=1),
)
def test_any_line_break_in_a_list_value_is_refused(entries: list[str]) -> None:
    refused = "values of [ReadOnlyPaths]" in problems({"ReadOnlyPaths": entries})
    assert refused == any("\n" in entry or "\r" in entry for entry in entries)


def stat(
    key: str, path: str, *, exists: bool = True, link_to: str | None = None, optional: bool = False
) -> Any:
    found: dict[str, Any] = {"exists": exists}
    if exists:
        found |= {"islnk": link_to is not None} | ({"lnk_source": link_to} if link_to else {})
    return {"item": {"key": key, "path": path, "optional": optional}, "stat": found}


def path_problems(*looked_up: Any) -> str:
    return " ".join(sandbox.path_problems(list(looked_up), FORBIDDEN, "probe.service", "bastion"))


def test_paths_are_split_into_words_without_prefix_or_destination() -> None:
    named = sandbox.paths({"ReadWritePaths": "/var/lib/a -/run/b", "BindReadOnlyPaths": ["+-/srv/c:/srv/d"]})
    assert named == [
        {"key": "ReadWritePaths", "path": "/var/lib/a", "optional": False},
        {"key": "ReadWritePaths", "path": "/run/b", "optional": True},
        {"key": "BindReadOnlyPaths", "path": "/srv/c", "optional": True},
    ]


def test_a_second_path_in_one_entry_cannot_open_etc() -> None:
    named = sandbox.paths({"ReadWritePaths": ["/var/lib/probe /etc"]})
    assert "makes /etc writable" in path_problems(*(stat(entry["key"], entry["path"]) for entry in named))


def test_a_writable_link_is_judged_by_where_it_points() -> None:
    shown = path_problems(stat("ReadWritePaths", "/var/lib/etc-link", link_to="/etc"))
    assert "makes /etc writable (directly or through a link)" in shown
    assert path_problems(stat("ReadOnlyPaths", "/var/lib/etc-link", link_to="/etc")) == ""


def test_missing_paths_are_refused_unless_marked_optional() -> None:
    assert "missing on bastion: /srv/gone" in path_problems(stat("ReadOnlyPaths", "/srv/gone", exists=False))
    assert path_problems(stat("ReadOnlyPaths", "/srv/gone", exists=False, optional=True)) == ""


def test_each_opened_path_is_named_once() -> None:
    shown = path_problems(
        stat("ReadWritePaths", "/etc"), stat("ReadWritePaths", "/var/lib/x", link_to="/etc")
    )
    assert "makes /etc writable" in shown and "/etc, /etc" not in shown


files = load_filter_plugin("os_baseline", "secure_tenant_files")
FOUND = [{"path": "/etc/issue.net", "checksum": "ab12", "pw_name": "root", "gr_name": "adm", "mode": "0644"}]


def test_file_states_are_the_lines_the_roles_compare_with() -> None:
    # The roles build `PATH SHA1 OWNER GROUP MODE` from what they would write: a different group must not match.
    assert files.file_states(FOUND) == ["/etc/issue.net ab12 root adm 0644"]
    assert files.file_states(FOUND, checksum=False) == ["/etc/issue.net root adm 0644"]
    assert "/etc/issue.net ab12 root root 0644" not in files.file_states(FOUND)


pki_record = load_filter_plugin("pki", "secure_tenant_pki_record")
INPUTS = {"variables": {"pki_crl_valid_days": 90}, "role": ["ab12"]}
CA_KEY = {
    "path": "/ca/ca.key",
    "mode": "0600",
    "uid": 1000,
    "gid": 1000,
    "islnk": False,
    "isdir": False,
    "checksum": "c0ffee",
    "ctime": 1796200000.25,
}
CERTS = {**CA_KEY, "path": "/ca/certs", "mode": "0700", "isdir": True, "ctime": 1796200001.5}
CA = [CA_KEY, CERTS]
NOW = 1796200100.0


def test_neither_the_listing_order_nor_a_directory_s_change_time_counts() -> None:
    current = pki_record.fingerprint(CA, INPUTS)
    assert pki_record.fingerprint(list(reversed(CA)), INPUTS) == current
    # Writing the record changes its directory's ctime; the directory's entries still count.
    assert pki_record.fingerprint([CA_KEY, {**CERTS, "ctime": NOW}], INPUTS) == current


@pytest.mark.parametrize(
    "change",
    [
        {"mode": "0644"},
        {"uid": 0},
        {"gid": 0},
        {"checksum": "c0ffef"},
        {"islnk": True, "lnk_source": "/tmp/ca.key"},
        {"lnk_source": "/tmp/other.key"},
        {"ctime": 1796200000.5},  # rewritten and put back: same content and mode, a new change time
        {"path": "/ca/ca.key.old"},
    ],
    ids=["mode", "owner", "group", "content", "symlink", "link-target", "ctime", "renamed"],
)
def test_any_change_to_an_entry_changes_the_fingerprint(change: dict[str, Any]) -> None:
    assert pki_record.fingerprint([{**CA_KEY, **change}, CERTS], INPUTS) != pki_record.fingerprint(CA, INPUTS)


def test_an_added_or_removed_entry_or_a_changed_input_changes_the_fingerprint() -> None:
    current = pki_record.fingerprint(CA, INPUTS)
    assert pki_record.fingerprint([CA_KEY], INPUTS) != current
    assert pki_record.fingerprint([*CA, {**CA_KEY, "path": "/ca/private/extra.key"}], INPUTS) != current
    assert pki_record.fingerprint(CA, {**INPUTS, "variables": {"pki_crl_valid_days": 91}}) != current
    assert pki_record.fingerprint(CA, {**INPUTS, "role": ["ab13"]}) != current


@given(
    field=st.sampled_from(["mode", "checksum", "lnk_source", "path"]),
    value=st.text(min_size=1, max_size=20),
)
def test_no_single_field_value_other_than_its_own_keeps_the_fingerprint(field: str, value: str) -> None:
    changed = {**CA_KEY, field: value}
    if changed.get(field) != CA_KEY.get(field):
        assert pki_record.fingerprint([changed, CERTS], INPUTS) != pki_record.fingerprint(CA, INPUTS)


def test_a_record_is_current_only_with_its_fingerprint_and_within_its_age() -> None:
    current = pki_record.fingerprint(CA, INPUTS)
    written = pki_record.record(current, NOW - 10)
    assert pki_record.is_current(written, current, NOW, 3600)
    assert not pki_record.is_current(written, pki_record.fingerprint([CA_KEY], INPUTS), NOW, 3600)
    assert not pki_record.is_current(pki_record.record(current, NOW - 3600), current, NOW, 3600)
    assert pki_record.is_current(pki_record.record(current, NOW - 3599), current, NOW, 3600)


@pytest.mark.parametrize(
    "written",
    ["", "not a record", "{fp}", "{fp} {now} extra", "{fp} -5", "{fp} 12.5", "{fp} {future}", "{fp}0 {now}"],
    ids=[
        "empty",
        "garbled",
        "no-time",
        "extra-field",
        "negative",
        "fraction",
        "future",
        "longer-fingerprint",
    ],
)
def test_a_garbled_or_future_record_is_never_current(written: str) -> None:
    current = pki_record.fingerprint(CA, INPUTS)
    text = written.format(fp=current, now=int(NOW), future=int(NOW) + 600)
    assert not pki_record.is_current(text, current, NOW, 3600)


dpkg = load_filter_plugin("debian_release", "secure_tenant_packages")


def test_only_packages_with_an_installed_version_count_as_installed() -> None:
    listing = (
        "installed openssh-server\n"
        "half-configured aide\n"  # python3-apt counts it (and so did package_facts)
        "unpacked fail2ban\n"
        "config-files ulogd2\n"  # removed, its configuration kept: apt must install it again
        "not-installed nftables\n"  # known to dpkg, never installed
        "installed libpam-oath\n"
        "installed libpam-oath\n"  # Multi-Arch: same, installed for two architectures
    )
    assert dpkg.dpkg_installed(listing) == ["aide", "fail2ban", "libpam-oath", "openssh-server"]


@pytest.mark.parametrize("listing", ["", "\n", "installed\n", " \n"])
def test_a_listing_without_names_counts_nothing_as_installed(listing: str) -> None:
    assert dpkg.dpkg_installed(listing) == []
