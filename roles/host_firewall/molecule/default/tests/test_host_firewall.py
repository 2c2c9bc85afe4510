"""NET-06 on real hosts: default drop, the allowed services reachable from outside, drops logged."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from lab.hosts import ssh_command
from lab.verify import lab_host, run_playbook, sandboxed_exposure

CONVERGE = Path(__file__).resolve().parent.parent / "converge.yml"


@pytest.fixture(scope="module")
def address(host) -> str:
    return str(host.ansible.get_variables()["ansible_host"])


def connects(address: str, port: int, timeout: float = 3.0) -> bool | None:
    """True if a TCP connection opens, False if refused (no firewall in the way), None if nothing answers."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return False
    except TimeoutError:
        return None


def dpkg_status(host, package: str) -> str:
    return host.check_output(f"dpkg-query --show --showformat='${{db:Status-Status}}' {package}")


def journal_since(host, started: float, identifier: str) -> str:
    with host.sudo():
        return host.check_output(
            f"journalctl --identifier {identifier} --since @{int(started) - 1} --output cat"
        )


def test_ruleset_is_loaded_with_default_drop(host) -> None:
    with host.sudo():
        ruleset = host.check_output("nft list ruleset")
    assert "table inet host_firewall" in ruleset
    assert "type filter hook input priority filter; policy drop;" in ruleset
    assert "type filter hook forward priority filter; policy drop;" in ruleset
    output_policy = host.ansible.get_variables().get("host_firewall_output_policy", "accept")
    assert f"type filter hook output priority filter; policy {output_policy};" in ruleset


def test_ruleset_is_loaded_at_boot(host) -> None:
    assert host.service("nftables").is_enabled
    assert "table inet host_firewall {" in host.file("/etc/nftables.conf").content_string


def test_allowed_port_is_reachable_from_outside(address: str) -> None:
    assert connects(address, 8080) is True


def test_closed_port_is_filtered_although_a_service_listens_on_it(host, address: str) -> None:
    # prepare.yml started a listener there, so only the firewall can keep the connection from opening.
    assert host.socket("tcp://0.0.0.0:9090").is_listening
    assert connects(address, 9090) is None


def test_ssh_still_opens_new_connections(host) -> None:
    result = subprocess.run(
        ssh_command(lab_host(host.backend.host), "true", options=["-o", "ConnectTimeout=5"]),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_dropped_packets_are_logged(host, address: str) -> None:
    assert host.service("ulogd2").is_running
    started = time.time()
    connects(address, 9090)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = journal_since(host, started, "ulogd")
        if "DPT=9090" in log:
            break
        time.sleep(0.5)
    line = next(line for line in log.splitlines() if "DPT=9090" in line)
    assert line.startswith("host_firewall input drop:")
    assert "PROTO=TCP" in line and "SYN" in line


def test_rollback_was_disarmed_after_the_new_connection_confirmed_the_ruleset(host) -> None:
    with host.sudo():
        timers = host.check_output("systemctl list-timers --all --no-legend")
        saved = host.file("/var/lib/host_firewall/rollback.nft").content_string
    assert "host-firewall-rollback" not in timers
    assert saved.startswith("table inet host_firewall\ndelete table inet host_firewall\n")


def test_host_answers_pings(address: str) -> None:
    result = subprocess.run(
        ["nmap", "-n", "-sn", "-PE", "--disable-arp-ping", address],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Host is up" in result.stdout, result.stdout


def test_drop_logger_runs_in_its_sandbox_rated_ok_or_better(host) -> None:
    exposure = sandboxed_exposure(host, "ulogd2.service")
    print(f"ulogd2.service on {host.backend.get_hostname()}: {exposure.value} {exposure.rating}")
    # Root only until the NFLOG socket is open, then the ulog user.
    assert host.check_output("ps -o user= -C ulogd") == "ulog"


# The roles skip apt when dpkg-query says every package is installed (debian_release's packages helper). A package
# removed with its configuration kept is still listed by dpkg, as "config-files": it must count as missing.
def test_a_package_removed_with_its_configuration_kept_is_installed_again(host) -> None:
    with host.sudo():
        host.check_output("DEBIAN_FRONTEND=noninteractive apt-get remove --yes ulogd2")
        assert dpkg_status(host, "ulogd2") == "config-files"
    run, output = run_playbook(CONVERGE, "--limit", host.backend.host, "--tags", "ctl_net_06")
    assert run.returncode == 0, output
    with host.sudo():
        assert dpkg_status(host, "ulogd2") == "installed"
    assert host.service("ulogd2").is_running
