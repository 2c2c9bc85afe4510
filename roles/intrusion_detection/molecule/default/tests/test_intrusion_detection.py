"""Intrusion detection (LOG-04) on a real lab host: the AIDE baseline and its daily check, and fail2ban banning
real brute force, but never its operator.

Tests run in file order: AIDE must be clean right after converge, so its check comes first; the tampering test
comes last, because AIDE keeps reporting a tampered file (new inode and times) even after its content is restored.

This machine is the operator: its address on the host's link is in the jail's ignore list, as the bastion's
management ranges are, so its scan and failed logins must never ban it. The same from a second lab host (ids-peer)
must be banned. OpenVPN probes come from a second address of this machine (the attacker fixture).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra

from lab.hosts import ssh_command
from lab.verify import lab_host, sandboxed_exposure

# ids-peer is reached through its own fixture; every test here is about ids-host.
testinfra_hosts = ["ansible://ids-host"]

AIDE_CHECK = "aide --check --config /etc/aide/aide.conf"
BAN_TIMEOUT_S = 30
# A refused login takes well under a second, even on a busy machine.
LOGIN_TIMEOUT_S = 20
# Failed logins each side tries: twice the jail's maxretry.
FAILED_LOGINS = 10
# OpenVPN's P_CONTROL_HARD_RESET_CLIENT_V2 (opcode 7, key id 0): the first packet of every client session.
OPENVPN_HARD_RESET = bytes([7 << 3])


def run_as_root(host: Any, command: str) -> Any:
    with host.sudo():
        return host.run(command)


def banned(host: Any, jail: str) -> list[str]:
    status = run_as_root(host, f"fail2ban-client status {jail}")
    assert status.rc == 0, status.stderr
    match = re.search(r"Banned IP list:\s*(.*)$", status.stdout, re.MULTILINE)
    assert match, status.stdout
    return match.group(1).split()


def wait_until_banned(host: Any, jail: str, address: str) -> None:
    deadline = time.monotonic() + BAN_TIMEOUT_S
    while address not in banned(host, jail):
        assert time.monotonic() < deadline, f"{address} not banned by jail {jail} within {BAN_TIMEOUT_S}s"
        time.sleep(1)


def nft_ban_set(host: Any, jail: str) -> str:
    """The nftables set fail2ban's nftables-multiport action fills for this jail."""
    result = run_as_root(host, f"nft list set inet f2b-table addr-set-{jail}")
    assert result.rc == 0, result.stderr
    return result.stdout


def tcp_connects(address: str, port: int, source: str | None = None) -> bool:
    try:
        with socket.create_connection(
            (address, port), timeout=3, source_address=(source, 0) if source else None
        ):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def address(host: Any) -> str:
    return str(host.ansible.get_variables()["ansible_host"])


@pytest.fixture(scope="module")
def attacker(address: str) -> Iterator[str]:
    """A second address of this machine on the lab host's link, the source of every attack below.

    The lab host answers it like any neighbour on its /24; it is the last usable address of that network, which
    the lab never gives to a host. Removed again when the module's tests are done.
    """
    route = json.loads(
        subprocess.run(
            ["ip", "-j", "route", "get", address], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    link = json.loads(
        subprocess.run(
            ["ip", "-j", "-4", "addr", "show", "dev", route["dev"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]["addr_info"][0]
    network = ipaddress.ip_interface(f"{link['local']}/{link['prefixlen']}").network
    source = str(network.broadcast_address - 1)
    subprocess.run(["ip", "addr", "add", f"{source}/32", "dev", route["dev"]], check=True)
    yield source
    subprocess.run(["ip", "addr", "del", f"{source}/32", "dev", route["dev"]], check=True)


@pytest.fixture
def unban_afterwards(host: Any, attacker: str) -> Iterator[None]:
    yield
    result = run_as_root(host, f"fail2ban-client unban {attacker}")
    assert result.rc == 0, result.stderr


def test_aide_check_is_clean_right_after_converge(host: Any) -> None:
    result = run_as_root(host, AIDE_CHECK)
    assert result.rc == 0, result.stdout
    assert "found NO differences" in result.stdout


def test_aide_baseline_covers_binaries_etc_and_managed_configs(host: Any) -> None:
    config = host.file("/etc/aide/aide.conf").content_string
    for selection in [
        "/usr/bin SystemFile",
        "/usr/lib SystemFile",
        "/etc ConfigFile",
        "/etc/ssh ConfigFile",
        r"/etc/nftables\.conf ConfigFile",
        "/etc/openvpn ConfigFile",
        "/etc/ssl ConfigFile",
    ]:
        assert f"\n{selection}\n" in config
    # The baseline database is gzipped text, one line per entry starting with its path.
    entries = run_as_root(host, "zcat /var/lib/aide/aide.db")
    assert entries.rc == 0, entries.stderr
    for path in [
        "/usr/sbin/sshd",
        "/etc/ssh/sshd_config",
        "/etc/openvpn/server/lab.conf",
        "/etc/passwd",
        "/etc/fail2ban/jail.local",
    ]:
        assert re.search(rf"^{re.escape(path)} ", entries.stdout, re.MULTILINE), f"{path} not in the baseline"
    assert not re.search(r"^/etc/resolv\.conf ", entries.stdout, re.MULTILINE), "a volatile file is watched"


def test_daily_check_timer_is_enabled_and_scheduled(host: Any) -> None:
    timer = host.service("aide-check.timer")
    assert timer.is_enabled
    assert timer.is_running
    next_run = host.run("systemctl show aide-check.timer --property=NextElapseUSecRealtime --value")
    assert next_run.stdout.strip() not in {"", "n/a", "0"}, next_run.stdout
    assert host.run("systemctl show aide-check.timer --property=Triggers --value").stdout.strip() == (
        "aide-check.service"
    )
    assert not host.service("dailyaidecheck.timer").is_enabled


def journal_cursor(host: Any) -> str:
    """Where the journal ends now, so a test reads only what happened after (however slow the machine is)."""
    return shlex.quote(host.run("journalctl --show-cursor -n 0 --quiet").stdout.split("cursor: ")[-1].strip())


def test_daily_check_runs_unprivileged_and_reports_to_the_journal(host: Any) -> None:
    cursor = journal_cursor(host)
    started = run_as_root(host, "systemctl start aide-check.service")
    assert started.rc == 0, started.stderr
    assert host.run("systemctl show aide-check.service --property=Result --value").stdout.strip() == "success"
    assert host.run("systemctl show aide-check.service --property=User --value").stdout.strip() == "_aide"
    journal = run_as_root(host, f"journalctl -u aide-check.service --after-cursor={cursor} -o cat")
    assert "found NO differences" in journal.stdout


def test_fail2ban_runs_the_sshd_jail_on_the_journal_with_nftables_bans(host: Any) -> None:
    assert host.service("fail2ban").is_running
    assert host.service("fail2ban").is_enabled
    status = run_as_root(host, "fail2ban-client status sshd")
    assert status.rc == 0, status.stderr
    assert "Journal matches:" in status.stdout
    assert run_as_root(host, "fail2ban-client get sshd actions").stdout.split()[-1] == "nftables-multiport"
    assert run_as_root(host, "fail2ban-client get sshd maxretry").stdout.strip() == "5"


def failed_login(source: str, user: str, key: Path) -> subprocess.CompletedProcess[str]:
    """One login from this machine's address `source` with a key the host does not accept."""
    intruder = dataclasses.replace(lab_host("ids-host"), user=user, identity_file=str(key))
    return subprocess.run(
        ssh_command(intruder, "true", options=["-o", "IdentitiesOnly=yes", "-o", f"BindAddress={source}"]),
        check=False,
        capture_output=True,
        text=True,
        timeout=LOGIN_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def wrong_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("keys") / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@pytest.fixture(scope="module")
def management() -> str:
    """This machine's address as the host sees it (the host's gateway on the lab link), in the ignore list."""
    return lab_host("ids-host").gateway


@pytest.fixture(scope="module")
def peer() -> Any:
    return testinfra.get_host("ansible://ids-peer", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def peer_address(peer: Any) -> str:
    return str(peer.ansible.get_variables()["ansible_host"])


def test_the_management_address_is_never_banned_by_a_scan_and_failed_logins(
    host: Any, address: str, management: str, wrong_key: Path
) -> None:
    assert management in run_as_root(host, "fail2ban-client get sshd ignoreip").stdout
    cursor = journal_cursor(host)
    scan = subprocess.run(
        [
            str(Path(sys.executable).with_name("ssh-audit")),
            "--no-colors",
            "--port=22",
            "--timeout=10",
            address,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "(gen) banner: SSH-2.0-OpenSSH" in scan.stdout, scan.stdout + scan.stderr
    for attempt in range(FAILED_LOGINS):
        login = failed_login(management, "admin" if attempt % 2 else "nosuchuser", wrong_key)
        assert login.returncode == 255, login.stderr
    # fail2ban saw every failure and let it pass because of the ignore list, not because it missed them; it reads
    # the journal in its own time, so wait for it.
    deadline = time.monotonic() + BAN_TIMEOUT_S
    while True:
        journal = run_as_root(host, f"journalctl -u fail2ban -o cat --after-cursor={cursor}").stdout
        if journal.count(f"[sshd] Ignore {management} by ip") >= FAILED_LOGINS or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert journal.count(f"[sshd] Ignore {management} by ip") >= FAILED_LOGINS, journal
    assert management not in banned(host, "sshd")
    key_login = subprocess.run(
        ssh_command(lab_host("ids-host"), "true"), check=False, capture_output=True, text=True, timeout=30
    )
    assert key_login.returncode == 0, key_login.stderr


@pytest.fixture
def unban_peer_afterwards(host: Any, peer_address: str) -> Iterator[None]:
    yield
    result = run_as_root(host, f"fail2ban-client unban {peer_address}")
    assert result.rc == 0, result.stderr


@pytest.mark.usefixtures("unban_peer_afterwards")
def test_another_address_doing_the_same_is_banned_in_nftables(
    host: Any, address: str, peer: Any, peer_address: str
) -> None:
    cursor = journal_cursor(host)
    peer.run("rm -f /tmp/wrong_key /tmp/wrong_key.pub")
    assert peer.run("ssh-keygen -q -t ed25519 -N '' -f /tmp/wrong_key").rc == 0
    # Debian's ssh-audit; exit codes only grade the algorithms found. Debian 13's 3.3 also runs a DHEat rate test,
    # which crashes (BlockingIOError) when sshd drops its connections; 12's 2.5 has no such test or option. The
    # scan ends with 0: ssh's 255 would read as a broken connection to the peer.
    scan = peer.run(
        "rate=$(ssh-audit --help 2>&1 | grep -o -- --skip-rate-test | head -n 1); "
        f"timeout 120 ssh-audit --no-colors --port=22 --timeout=10 $rate {address}; true"
    )
    assert "(gen) banner: SSH-2.0-OpenSSH" in scan.stdout, scan.stdout + scan.stderr
    logins = peer.run(
        f"for i in $(seq {FAILED_LOGINS}); do user=$([ $((i % 2)) = 0 ] && echo admin || echo nosuchuser); "
        # ConnectTimeout covers the TCP connect only: a ban that lands mid-handshake drops the packets of a
        # connection already open, and ssh would wait for the server forever (timeout ends that attempt).
        "timeout 10 ssh -o BatchMode=yes -o ConnectTimeout=3 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        # ssh's own 255 would read as a broken connection to the peer: the loop ends with 0.
        f"-o IdentitiesOnly=yes -i /tmp/wrong_key $user@{address} true; done; true"
    )
    # sshd logged the peer: failed logins (OpenSSH 9.2), or connections its own per-source penalties dropped
    # (OpenSSH 9.8+ on Debian 13, where the scan alone earns one), which the role's sshd.local counts too.
    sshd_log = run_as_root(host, f"journalctl -u ssh -o cat --after-cursor={cursor}").stdout
    assert re.search(
        rf"user \S+ (?:from )?{re.escape(peer_address)} port "
        rf"|drop connection #\d+ from \[{re.escape(peer_address)}\]:\d+ .* penalty: ",
        sshd_log,
    ), sshd_log + logins.stderr
    wait_until_banned(host, "sshd", peer_address)
    assert peer_address in nft_ban_set(host, "sshd")
    assert peer.run(f"timeout 5 bash -c '</dev/tcp/{address}/22'").rc != 0, (
        "the banned peer still reaches sshd"
    )
    assert tcp_connects(address, 22), "the management address must not be banned"
    bans = run_as_root(host, f"journalctl -u fail2ban -o cat --after-cursor={cursor}")
    assert f"[sshd] Ban {peer_address}" in bans.stdout


def fail2ban_regex(host: Any, process: str, lines: list[str], filter_spec: str) -> Any:
    """fail2ban-regex's verdict (every matched line printed) on `lines` logged by `process` as syslog writes them."""
    log = "".join(f"Nov 23 09:15:0{n} ids-host {process}: {line}\n" for n, line in enumerate(lines))
    path = "/tmp/fail2ban-regex-input.log"
    assert host.run(f"printf %s {shlex.quote(log)} > {path}").rc == 0
    result = host.run(f"fail2ban-regex --print-all-matched {path} {shlex.quote(filter_spec)}")
    assert result.rc == 0, result.stderr
    return result


def test_the_unbanned_peer_reaches_sshd_again(host: Any, address: str, peer: Any, peer_address: str) -> None:
    assert peer_address not in banned(host, "sshd")
    assert peer.run(f"timeout 5 bash -c '</dev/tcp/{address}/22'").rc == 0


def test_openvpn_failure_filter_counts_each_failed_attempt_once(host: Any) -> None:
    # Lines as fail2ban's journal backend hands them to the filter (host, identifier[pid]: message), copied from
    # OpenVPN 2.6: a packet without the tls-crypt key; a handshake with an untrusted certificate (six lines, one
    # failure); a wrong password; and a successful connection, which must not count.
    lines = [
        "TLS Error: tls-crypt unwrapping failed from [AF_INET]198.51.100.7:47823",
        "tls-crypt unwrap error: packet authentication failed",
        "198.51.100.8:51559 VERIFY ERROR: depth=0, error=self-signed certificate: CN=rogue, serial=1610",
        "198.51.100.8:51559 Sent fatal SSL alert: unknown CA",
        "198.51.100.8:51559 TLS_ERROR: BIO read tls_read_plaintext error",
        "198.51.100.8:51559 TLS Error: TLS object -> incoming plaintext read error",
        "198.51.100.8:51559 TLS Error: TLS handshake failed",
        "alice-laptop/198.51.100.9:40112 TLS Auth Error: Auth Username/Password verification failed for peer",
        "bob-laptop/198.51.100.10:40113 Peer Connection Initiated with [AF_INET]198.51.100.10:40113",
    ]
    result = fail2ban_regex(host, "openvpn[812]", lines, "/etc/fail2ban/filter.d/openvpn-tls.conf")
    assert re.search(r"^Lines: 9 lines, 0 ignored, 3 matched, 6 missed", result.stdout, re.MULTILINE), (
        result.stdout
    )
    matched = result.stdout.split("Matched line(s):")[1].split("Missed line(s):")[0]
    for source in ["198.51.100.7:", "198.51.100.8:51559 TLS Error: TLS handshake failed", "198.51.100.9:"]:
        assert source in matched


def test_sshd_filter_counts_the_connections_sshd_s_penalties_drop(host: Any) -> None:
    # Lines as OpenSSH 10's listener logs them (IPv4 and IPv6 sources), and a successful login, which must not count.
    lines = [
        "drop connection #3 from [198.51.100.7]:57158 on [192.0.2.2]:22 penalty: failed authentication",
        (
            "drop connection #0 from [2001:db8::7]:40112 on [2001:db8::2]:22 penalty: connections without"
            " attempting authentication"
        ),
        "Accepted publickey for admin from 198.51.100.9 port 40113 ssh2: ED25519 SHA256:abc",
    ]
    result = fail2ban_regex(host, "sshd[64]", lines, "/etc/fail2ban/filter.d/sshd.local[mode=aggressive]")
    assert re.search(r"^Lines: 3 lines, \d+ ignored, 2 matched, ", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.usefixtures("unban_afterwards")
def test_openvpn_packets_without_the_tls_crypt_key_are_banned_in_nftables(
    host: Any, address: str, attacker: str
) -> None:
    maxretry = int(run_as_root(host, "fail2ban-client get openvpn maxretry").stdout)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((attacker, 0))
        for _ in range(maxretry + 1):
            probe.sendto(OPENVPN_HARD_RESET + os.urandom(56), (address, 1194))
            time.sleep(0.1)
    wait_until_banned(host, "openvpn", attacker)
    assert attacker in nft_ban_set(host, "openvpn")
    assert "udp dport" in run_as_root(host, "nft list chain inet f2b-table f2b-chain").stdout


def test_aide_reports_tampering_with_watched_files(host: Any) -> None:
    watched = ["/etc/ssh/sshd_config", "/etc/openvpn/server/lab.conf", "/etc/nftables.conf"]
    dropped = "/usr/sbin/aide-test-dropped"
    originals = {path: run_as_root(host, f"base64 -w0 {path}").stdout for path in watched}
    try:
        for path in watched:
            assert run_as_root(host, f"sh -c 'echo \"# tampered\" >> {path}'").rc == 0
        assert run_as_root(host, f"install -m 0755 /bin/true {dropped}").rc == 0
        result = run_as_root(host, AIDE_CHECK)
        # AIDE's status is a bit mask: 1 added, 2 removed, 4 changed; 14 and above are errors.
        assert result.rc & 1 and result.rc & 4 and result.rc < 8, result.stdout
        for path in [*watched, dropped]:
            assert re.search(rf"^[fd][^:]*: {re.escape(path)}$", result.stdout, re.MULTILINE), result.stdout
        # The daily check's unit fails and names the files in the journal, where monitoring looks.
        cursor = journal_cursor(host)
        assert run_as_root(host, "systemctl start aide-check.service").rc != 0
        assert host.run("systemctl show aide-check.service --property=Result --value").stdout.strip() == (
            "exit-code"
        )
        journal = run_as_root(host, f"journalctl -u aide-check.service -o cat --after-cursor={cursor}")
        assert "/etc/ssh/sshd_config" in journal.stdout
    finally:
        for path, content in originals.items():
            run_as_root(host, f"sh -c 'echo {content} | base64 -d > {path}'")
        run_as_root(host, f"rm -f {dropped}")
        run_as_root(host, "systemctl reset-failed aide-check.service")


@pytest.mark.parametrize("unit", ["fail2ban.service", "aide-check.service"])
def test_services_run_in_their_sandboxes_rated_ok_or_better(host: Any, unit: str) -> None:
    exposure = sandboxed_exposure(host, unit)
    print(f"{unit}: {exposure.value} {exposure.rating}")
