"""Behaviour of the host audit trail (LOG-03) and its retention (LOG-02) on a converged Debian 12 lab host."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lab.verify import sandboxed_exposure

RETENTION_DAYS = 400
PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 28, "yearly": 365}
COMPILED_RULES = "/etc/audit/audit.rules"
SCENARIO_DIR = Path(__file__).resolve().parent.parent


def compiled_rules(host) -> list[str]:
    with host.sudo():
        content = host.file(COMPILED_RULES).content_string
    return [line.strip() for line in content.splitlines() if line.strip() and not line.startswith("#")]


def kernel_audit_reachable(host) -> bool:
    with host.sudo():
        return host.run("auditctl -s").rc == 0


def run_role(*extra: str) -> subprocess.CompletedProcess[str]:
    """Run the converge playbook with only the always-tagged checks, as a user would with wrong variables."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(SCENARIO_DIR / "converge.yml"),
            "--tags",
            "validation-only",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(SCENARIO_DIR.parents[2])},
    )


# --- retention guard (LOG-02) -------------------------------------------------------------------------------------


def test_retention_below_400_days_is_refused_without_an_exception():
    result = run_role("-e", "audit_logging_retention_days=100")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "audit_logging_retention_days is 100, below the 400 days" in output
    assert "set audit_logging_retention_exception" in output


def test_retention_exception_is_accepted_and_printed():
    reason = "short-lived load-test host, logs shipped to CloudWatch"
    result = run_role(
        "-e", "audit_logging_retention_days=100", "-e", f"audit_logging_retention_exception='{reason}'"
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert f"Justification: {reason}" in result.stdout


# --- journald -----------------------------------------------------------------------------------------------------


def journald_settings(host) -> dict[str, str]:
    """The effective journald settings: the last assignment of each key across journald.conf and its drop-ins."""
    merged = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    pairs = (line.split("=", 1) for line in merged.splitlines() if re.match(r"^[A-Za-z]+=", line))
    return dict(pairs)


def test_journal_is_persistent_compressed_and_kept_400_days(host):
    settings = journald_settings(host)
    assert settings["Storage"] == "persistent"
    assert settings["Compress"] == "yes"
    retention = re.fullmatch(r"(\d+)day", settings["MaxRetentionSec"])
    assert retention and int(retention.group(1)) >= RETENTION_DAYS
    assert settings["SystemMaxUse"] == "4G"


def test_journal_is_written_to_disk(host):
    with host.sudo():
        header = host.check_output("journalctl --header")
    assert re.search(r"^File path: /var/log/journal/", header, re.MULTILINE)


def test_logged_message_survives_a_journald_restart(host):
    marker = f"secure-tenant-probe-{uuid.uuid4()}"
    with host.sudo():
        host.check_output(f"logger -t st-probe {marker}")
        host.check_output("journalctl --sync")
        host.check_output("systemctl restart systemd-journald")
        on_disk = host.check_output("journalctl --directory=/var/log/journal -t st-probe --no-pager -o cat")
    assert marker in on_disk


def test_rsyslog_writes_auth_events_to_a_file(host):
    marker = f"secure-tenant-auth-probe-{uuid.uuid4()}"
    with host.sudo():
        host.check_output(f"logger -p authpriv.notice {marker}")
        host.check_output("journalctl --sync")
        found = host.run(f"timeout 10 sh -c 'until grep -q {marker} /var/log/auth.log; do sleep 0.2; done'")
    assert found.rc == 0


# --- logrotate (LOG-02) -------------------------------------------------------------------------------------------


def rotation_patterns(host) -> list[tuple[list[str], str, int]]:
    with host.sudo():
        debug = host.run("logrotate --debug /etc/logrotate.conf")
    assert debug.rc == 0, debug.stderr
    found = re.findall(
        r"rotating pattern: (.*?) (daily|weekly|monthly|yearly) [^(]*\((\d+) rotations\)",
        debug.stderr,
        re.DOTALL,
    )
    return [(paths.split(), period, int(rotations)) for paths, period, rotations in found]


def test_every_rotated_log_is_kept_at_least_400_days(host):
    patterns = rotation_patterns(host)
    assert patterns
    short = [
        (paths, period, count)
        for paths, period, count in patterns
        if count * PERIOD_DAYS[period] < RETENTION_DAYS
    ]
    assert not short


@pytest.mark.parametrize(
    "log", ["/var/log/syslog", "/var/log/auth.log", "/var/log/dpkg.log", "/var/log/wtmp"]
)
def test_system_logs_are_rotated_by_the_retention_config(host, log):
    assert any(log in paths for paths, _, _ in rotation_patterns(host))


def test_rotated_logs_are_compressed_and_aged_by_the_retention(host):
    with host.sudo():
        config = host.file("/etc/logrotate.d/rsyslog").content_string
    assert re.search(r"^\s+compress$", config, re.MULTILINE)
    assert re.search(rf"^\s+maxage {RETENTION_DAYS}$", config, re.MULTILINE)


# --- auditd (LOG-03) ----------------------------------------------------------------------------------------------


def test_auditd_keeps_every_log_and_acts_before_the_disk_is_full(host):
    with host.sudo():
        conf = host.file("/etc/audit/auditd.conf").content_string
    settings = dict(re.findall(r"^(\w+) = (\S+)$", conf, re.MULTILINE))
    assert settings["max_log_file_action"] == "KEEP_LOGS"
    assert settings["space_left_action"] == "SYSLOG"
    assert settings["admin_space_left_action"] in {"SUSPEND", "SINGLE", "HALT"}
    assert settings["disk_full_action"] in {"SUSPEND", "SINGLE", "HALT"}


def test_compiled_rules_match_the_rules_directory(host):
    with host.sudo():
        check = host.check_output("augenrules --check 2>&1")
    assert "No change" in check


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ("-w /etc/passwd -p wa", "identity"),
        ("-w /etc/group -p wa", "identity"),
        ("-w /etc/shadow -p wa", "identity"),
        ("-w /etc/gshadow -p wa", "identity"),
        ("-w /etc/security/opasswd -p wa", "identity"),
        ("-w /etc/sudoers -p wa", "scope"),
        ("-w /etc/sudoers.d/ -p wa", "scope"),
        ("-w /etc/localtime -p wa", "time-change"),
        ("-w /var/log/lastlog -p wa", "logins"),
        ("-w /var/run/faillock/ -p wa", "logins"),
        ("-w /etc/ssh/ -p wa", "secure-tenant-config"),
        ("-w /etc/nftables.conf -p wa", "secure-tenant-config"),
        ("-w /etc/openvpn/ -p wa", "secure-tenant-config"),
        ("-w /etc/ssl/openssl.cnf -p wa", "secure-tenant-config"),
        ("-a always,exit -F path=/usr/bin/kmod -F perm=x -F auid>=1000 -F auid!=unset", "modules"),
    ],
)
def test_watch_rules_are_compiled(host, rule, key):
    assert f"{rule} -k {key}" in compiled_rules(host)


def syscall_rules(host, key: str) -> dict[str, set[str]]:
    rules = {}
    for line in compiled_rules(host):
        match = re.fullmatch(rf"-a always,exit -F arch=(b32|b64) -S (\S+) -k {key}", line)
        if match:
            rules[match.group(1)] = set(match.group(2).split(","))
    return rules


def test_clock_changes_are_audited_on_both_arches(host):
    rules = syscall_rules(host, "time-change")
    assert rules["b64"] == {"adjtimex", "settimeofday", "clock_settime"}
    assert rules["b32"] == {"adjtimex", "settimeofday", "clock_settime", "stime"}


def test_module_loads_are_audited_on_both_arches(host):
    rules = syscall_rules(host, "modules")
    for arch in ("b64", "b32"):
        assert rules[arch] == {"init_module", "finit_module", "delete_module"}


def test_every_audited_syscall_exists_in_its_arch_table(host):
    tables = {"b64": "x86_64", "b32": "i386"}
    for key in ("time-change", "modules"):
        for arch, syscalls in syscall_rules(host, key).items():
            for syscall in syscalls:
                assert host.run(f"ausyscall {tables[arch]} {syscall}").rc == 0, (arch, syscall)


def test_every_setuid_and_setgid_program_is_audited(host):
    with host.sudo():
        found = host.check_output("find /usr -xdev -type f -perm /6000").split()
    assert "/usr/bin/sudo" in found
    audited = {
        match.group(1)
        for line in compiled_rules(host)
        if (
            match := re.fullmatch(
                r"-a always,exit -F path=(\S+) -F perm=x -F auid>=1000 -F auid!=unset -k privileged", line
            )
        )
    }
    assert set(found) <= audited


def test_audit_rules_are_loaded_where_the_kernel_audit_subsystem_is_reachable(host):
    if kernel_audit_reachable(host):
        assert host.service("auditd").is_running
        with host.sudo():
            loaded = host.check_output("auditctl -l")
        assert "-k identity" in loaded
        assert "-k privileged" in loaded
    else:
        # A container shares its host's kernel: the rules are compiled for auditd's next start instead.
        assert compiled_rules(host)[0] == "-D"
        assert compiled_rules(host)[-1] == "-e 1"


# --- CloudWatch agent config --------------------------------------------------------------------------------------


def test_cloudwatch_agent_ships_each_file_to_the_stack_s_log_group_of_its_name(host):
    config = json.loads(
        host.file("/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json").content_string
    )
    collected = config["logs"]["logs_collected"]["files"]["collect_list"]
    assert {entry["log_group_name"]: entry["file_path"] for entry in collected} == {
        "/acme-lab/bastion/syslog": "/var/log/syslog",
        "/acme-lab/bastion/auth": "/var/log/auth.log",
        "/acme-lab/bastion/openvpn": "/var/log/openvpn.log",
        "/acme-lab/bastion/audit": "/var/log/audit/audit.log",
    }
    for entry in collected:
        # The stack owns retention and key; a retention here would need logs:PutRetentionPolicy the host lacks.
        assert "retention_in_days" not in entry
        assert entry["log_stream_name"] == "{instance_id}"


def test_openvpn_lines_from_the_journal_get_their_own_file_for_its_log_group(host):
    marker = f"secure-tenant-openvpn-probe-{uuid.uuid4()}"
    host.check_output(f"echo {marker} | systemd-cat -t openvpn -p info")
    with host.sudo():
        found = host.run(
            f"timeout 20 sh -c 'until grep -q {marker} /var/log/openvpn.log; do sleep 0.2; done'"
        )
        rotated = host.file("/etc/logrotate.d/secure-tenant-programs").content_string
    assert found.rc == 0
    assert "/var/log/openvpn.log" in rotated and f"maxage {RETENTION_DAYS}" in rotated


def test_a_log_group_without_a_file_of_its_name_is_refused_before_anything_changes():
    result = run_role(
        "-e", '{"audit_logging_cloudwatch_log_groups": ["/acme-lab/bastion/syslog", "/acme-lab/x/nginx"]}'
    )
    assert result.returncode != 0
    assert "no file for: nginx" in result.stdout + result.stderr


def test_rsyslog_runs_in_its_sandbox_and_recreates_rotated_files(host):
    exposure = sandboxed_exposure(host, "rsyslog.service")
    print(f"rsyslog.service: {exposure.value} {exposure.rating}")
    marker = f"secure-tenant-sandbox-probe-{uuid.uuid4()}"
    with host.sudo():
        # As logrotate does: move the file away and have rsyslog reopen, so it creates the file (root:adm, 0640).
        # The HUP goes to rsyslogd itself (its only process), as rsyslog-rotate's `systemctl kill -s HUP` does.
        host.run("mv -f /var/log/user.log /var/log/user.log.sandbox-test")
        host.check_output("systemctl kill --kill-whom=main --signal=HUP rsyslog.service")
        host.check_output(f"logger -p user.notice {marker}")
        found = host.run(f"timeout 10 sh -c 'until grep -q {marker} /var/log/user.log; do sleep 0.2; done'")
        created = host.file("/var/log/user.log")
        owner = (created.user, created.group, created.mode)
        host.run("rm -f /var/log/user.log.sandbox-test")
    assert found.rc == 0
    assert owner == ("root", "adm", 0o640)
