"""The sandbox drop-in of a probe service as the service itself sees it, its exposure, and the role refusing or
rolling back every drop-in that is malformed, too loose or breaks the service."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from lab.verify import converge_failures, sandboxed_exposure

UNIT = "sandbox-probe.service"
DROPIN = f"/etc/systemd/system/{UNIT}.d/50-secure-tenant-sandbox.conf"
REPORT = "/var/lib/sandbox-probe/report.json"
INSTANCE = "sandbox-host"


def probe_report(host: Any) -> dict[str, Any]:
    with host.sudo():
        report: dict[str, Any] = json.loads(host.file(REPORT).content_string)
    return report


def main_pid(host: Any) -> str:
    return str(host.check_output(f"systemctl show --property=MainPID --value {UNIT}"))


def test_probe_runs_confined(host: Any) -> None:
    report = probe_report(host)
    assert report["uid"] == 0
    assert report["no_new_privs"] == "1"
    assert report["seccomp"] == "2"
    assert report["capability_bounding_set"] == "0000000000000000"
    assert report["write_etc"] == "EROFS"
    assert report["list_root_home"] != "allowed"
    assert report["inet_socket"] == "EAFNOSUPPORT"
    assert report["mount"] == "EPERM"
    # PrivateDevices: the pseudo devices only, no kernel log or disks.
    assert "null" in report["devices"] and "kmsg" not in report["devices"]


def test_probe_has_a_private_tmp(host: Any) -> None:
    report = probe_report(host)
    assert report["write_tmp"] == "allowed"
    assert report["sees_host_tmp"] is False
    assert host.file("/tmp/sandbox-host-marker").exists


def test_probe_is_rated_ok_or_better(host: Any) -> None:
    exposure = sandboxed_exposure(host, UNIT)
    print(f"{UNIT}: {exposure.value} {exposure.rating}")


def test_dropin_resets_the_lists_it_sets(host: Any) -> None:
    content = host.file(DROPIN).content_string
    assert content.startswith("#")
    lines = content.splitlines()
    # No capability at all: the reset line and nothing after it.
    assert [line for line in lines if line.startswith("CapabilityBoundingSet=")] == ["CapabilityBoundingSet="]
    start = lines.index("SystemCallFilter=")
    assert lines[start + 1 : start + 3] == [
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
    ]
    assert "ReadWritePaths=/var/lib/sandbox-probe" in lines


@pytest.fixture
def untouched(host: Any) -> Iterator[None]:
    """The installed drop-in and the running probe process stay as they were."""
    with host.sudo():
        before = host.file(DROPIN).sha256sum
    pid = main_pid(host)
    yield
    with host.sudo():
        assert host.file(DROPIN).sha256sum == before
    assert main_pid(host) == pid
    assert host.service(UNIT).is_running


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    ("settings", "shown"),
    [
        ({"UMask": "0077\nProtectSystem=no"}, "values of [UMask]"),
        ({"Protect-System": "strict"}, "keys [Protect-System]"),
        ({"ReadWritePaths": {"path": "/var/lib/sandbox-probe"}}, "values of [ReadWritePaths]"),
        ({"SystemCallFilter": []}, "SystemCallFilter of sandbox-probe.service is empty"),
        ({"RestrictAddressFamilies": ""}, "RestrictAddressFamilies of sandbox-probe.service is empty"),
        ({"ReadWritePaths": ["/var/lib/sandbox-probe", "/"]}, "not plain absolute paths: /"),
        ({"ReadWritePaths": ["/var/lib/../../etc"]}, "not plain absolute paths: /var/lib/../../etc"),
        ({"ReadWritePaths": ["/var/lib/sandbox-probe /etc"]}, "makes /etc writable"),
        (
            {"ReadWritePaths": ["/var/lib/sandbox-etc-link"]},
            "makes /etc writable (directly or through a link)",
        ),
        ({"ReadWritePaths": ["/var/lib/sandbox-probe", "/var/lib/no-such-dir"]}, "missing on sandbox-host"),
        ({"BindReadOnlyPaths": ["/srv/no-such-dir:/srv/x"]}, "/srv/no-such-dir"),
    ],
)
def test_role_refuses_bad_settings_before_any_change(settings: dict[str, Any], shown: str) -> None:
    run, messages = converge_failures(INSTANCE, {"systemd_sandbox_settings": settings})
    assert run.returncode == 2, run.stdout
    assert any(shown in message for message in messages), messages


@pytest.mark.usefixtures("untouched")
def test_role_refuses_a_directive_systemd_does_not_know(host: Any) -> None:
    run, messages = converge_failures(
        INSTANCE,
        {
            "systemd_sandbox_settings": {
                "ReadWritePaths": ["/var/lib/sandbox-probe"],
                "ProtectSytem": "strict",
            }
        },
    )
    assert run.returncode == 2, run.stdout
    assert messages == ["failed to validate"], messages
    assert "Unknown key 'ProtectSytem'" in run.stdout and "refuses the sandbox drop-in" in run.stdout


@pytest.mark.usefixtures("untouched")
def test_role_refuses_a_value_systemd_cannot_parse(host: Any) -> None:
    run, _ = converge_failures(
        INSTANCE,
        {"systemd_sandbox_settings": {"ReadWritePaths": ["/var/lib/sandbox-probe"], "PrivateTmp": "maybe"}},
    )
    assert run.returncode == 2, run.stdout
    # systemd 252 (Debian 12) says "Failed to parse boolean value" and the value; 257 (Debian 13) "Failed to parse
    # PrivateTmp=maybe". Either way the checker shows it and refuses the drop-in.
    assert (
        re.search(r"Failed to parse (boolean value|PrivateTmp=maybe)", run.stdout) and "maybe" in run.stdout
    )
    assert "refuses the sandbox drop-in" in run.stdout


@pytest.mark.usefixtures("untouched")
def test_role_refuses_a_sandbox_rated_worse_than_ok(host: Any) -> None:
    # Every protection but one dropped: the candidate's exposure is far above 4.9.
    run, _ = converge_failures(
        INSTANCE,
        {"systemd_sandbox_baseline": {"NoNewPrivileges": True}, "systemd_sandbox_settings": {}},
    )
    assert run.returncode == 2, run.stdout
    assert re.search(
        r"exposure level for sandbox-probe.service: [5-9]\.[0-9] [A-Z]+, above the accepted 4.9", run.stdout
    )


def test_a_sandbox_that_breaks_the_service_is_rolled_back(host: Any) -> None:
    with host.sudo():
        before = host.file(DROPIN).sha256sum
    # Without its state directory writable the probe cannot write its report and exits, again and again.
    run, messages = converge_failures(
        INSTANCE, {"systemd_sandbox_settings": {"ReadWritePaths": ["/var/tmp"]}}
    )
    assert run.returncode == 2, run.stdout
    assert any(
        "sandbox-probe.service did not stay up with its new sandbox drop-in" in message
        and "Read-only file system" in message
        for message in messages
    ), messages
    # The previous drop-in is back, the probe runs in it, and the copy made for the rollback is gone.
    with host.sudo():
        assert host.file(DROPIN).sha256sum == before
        assert host.file(DROPIN).content_string.count("ReadWritePaths=/var/lib/sandbox-probe") == 1
        assert host.check_output(f"ls -A /etc/systemd/system/{UNIT}.d") == "50-secure-tenant-sandbox.conf"
    assert host.service(UNIT).is_running
    assert probe_report(host)["no_new_privs"] == "1"


def test_turning_the_sandbox_off_removes_it_and_on_brings_it_back(host: Any) -> None:
    run, messages = converge_failures(INSTANCE, {"systemd_sandbox_enabled": False})
    assert run.returncode == 0, messages
    assert not host.file(DROPIN).exists
    assert host.service(UNIT).is_running
    assert probe_report(host)["no_new_privs"] == "0"
    run, messages = converge_failures(INSTANCE, {})
    assert run.returncode == 0, messages
    assert probe_report(host)["no_new_privs"] == "1"
    sandboxed_exposure(host, UNIT)
