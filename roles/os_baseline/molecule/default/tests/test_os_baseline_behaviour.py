"""Behaviour of the OS baseline (HST-01) that the router flag does not touch, proven on the plain host.

Both hosts of the scenario run the same converge apart from os_baseline_is_router (test_os_baseline.py checks what
it changes, on both): logins, passwords, apt's security updates, debsums and the role's refusals are the same code
on either, so each is proven once, where it is quicker.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from lab.verify import converge_failures, run_playbook

testinfra_hosts = ["ansible://baseline-host"]

STRONG_PASSWORD = "Correct-Horse-Battery-9-Staple"
YESCRYPT_COST_8 = "$y$jCT$"
CONVERGE = Path(__file__).resolve().parent.parent / "converge.yml"


def set_password(host, user: str, password: str):
    with host.sudo():
        return host.run(f"printf '%s:%s\\n' {user} '{password}' | chpasswd")


@pytest.mark.parametrize("weak", ["short1A!", "alllowercaseletters", "NoDigitsOrSymbolsHere"])
def test_weak_password_is_refused_by_pam_pwquality(host, weak):
    result = set_password(host, "pamprobe", weak)
    assert result.rc != 0
    assert "BAD PASSWORD" in result.stdout + result.stderr


def test_strong_password_is_accepted_and_hashed_with_yescrypt_at_cost_8(host):
    result = set_password(host, "pamprobe", STRONG_PASSWORD)
    assert result.rc == 0, result.stderr
    with host.sudo():
        shadow = host.check_output("getent shadow pamprobe")
    # yescrypt's parameter field: j9T is Debian's default cost 5, jCT cost 8 (pam_unix rounds=8).
    assert shadow.split(":")[1].startswith(YESCRYPT_COST_8)


def authenticate(host, user: str, password: str):
    with host.sudo():
        return host.run(f"printf '%s\\n' '{password}' | pamtester login {user} authenticate")


def test_account_locks_after_repeated_failures(host):
    assert set_password(host, "pamprobe", STRONG_PASSWORD).rc == 0
    with host.sudo():
        host.check_output("faillock --user pamprobe --reset")
        deny = int(
            re.search(
                r"^deny = (\d+)$", host.file("/etc/security/faillock.conf").content_string, re.MULTILINE
            ).group(1)
        )
    assert authenticate(host, "pamprobe", STRONG_PASSWORD).rc == 0
    for _ in range(deny):
        assert authenticate(host, "pamprobe", "wrong-password").rc != 0
    locked = authenticate(host, "pamprobe", STRONG_PASSWORD)
    with host.sudo():
        host.check_output("faillock --user pamprobe --reset")
    assert locked.rc != 0
    assert "locked" in locked.stdout + locked.stderr


def pending_security_updates(host) -> list[str]:
    """Packages whose candidate comes from the Debian security archive, as apt itself simulates it."""
    simulation = host.run("apt-get --simulate -o Debug::NoLocking=true dist-upgrade")
    assert simulation.rc == 0, simulation.stderr
    return [
        line.split()[1]
        for line in simulation.stdout.splitlines()
        if line.startswith("Inst ") and " Debian-Security:" in line
    ]


def test_no_security_update_is_pending_after_converge(host):
    assert pending_security_updates(host) == []


def downgradable_security_update(host) -> tuple[str, str]:
    """A package installed from the security archive that goes back to the main archive's version alone."""
    for package in host.file("/var/tmp/security-pending-before").content_string.split():
        if host.check_output(f"dpkg-query -W -f='${{Essential}}' {package}") == "yes":
            continue  # a downgraded essential package is not worth the risk to the rest of the run
        madison = host.check_output(f"apt-cache madison {package}")
        main = [line.split("|")[1].strip() for line in madison.splitlines() if "-security" not in line]
        if not main:
            continue
        simulation = host.run(f"apt-get --simulate --allow-downgrades install {package}={main[0]}")
        if (
            simulation.rc == 0
            and sum(line.startswith("Inst ") for line in simulation.stdout.splitlines()) == 1
        ):
            return package, main[0]
    raise AssertionError("no security update of this host can be downgraded on its own")


def test_a_package_behind_its_security_update_is_found_and_patched_by_the_next_converge(host):
    package, old = downgradable_security_update(host)
    with host.sudo():
        downgrade = host.run(
            f"DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades {package}={old}"
        )
        assert downgrade.rc == 0, downgrade.stderr
        assert pending_security_updates(host) == [package]
    run, output = run_playbook(CONVERGE, "--limit", host.backend.host, "--tags", "ctl_hst_02")
    assert run.returncode == 0, output
    assert "Install the pending security updates now" in output
    assert re.search(r"changed=[1-9]", output.split("PLAY RECAP")[-1]), output
    with host.sudo():
        assert pending_security_updates(host) == []


def test_unattended_upgrades_run_by_the_daily_timer_take_the_security_archive(host):
    log = "/var/log/unattended-upgrades/unattended-upgrades.log"
    with host.sudo():
        before = host.run(f"wc -l < {log}").stdout.strip() or "0"
        started = host.run("systemctl start apt-daily-upgrade.service")
        assert started.rc == 0, started.stderr
        assert (
            host.check_output("systemctl show apt-daily-upgrade.service --property=Result --value")
            == "success"
        )
        new_lines = host.check_output(f"tail -n +{int(before) + 1} {log}")
    codename = host.system_info.codename
    assert (
        f"Allowed origins are: origin=Debian,codename={codename}-security,label=Debian-Security" in new_lines
    )


def test_a_service_using_a_replaced_library_is_restarted_after_apt(host):
    # sshd maps libcrypto (libssl3, libssl3t64 on Debian 13); reinstalling the library replaces the file sshd has
    # mapped.
    library = "libssl3t64" if str(host.system_info.release).startswith("13") else "libssl3"
    with host.sudo():
        before = host.check_output("systemctl show ssh.service --property=ExecMainPID --value")
        assert "libcrypto.so.3" in host.check_output(f"cat /proc/{before}/maps")
        reinstall = host.run(f"DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall {library}")
        assert reinstall.rc == 0, reinstall.stderr
        after = host.check_output("systemctl show ssh.service --property=ExecMainPID --value")
    assert after != before, reinstall.stdout
    assert host.service("ssh").is_running


def test_debsums_check_fails_and_names_a_changed_package_file(host):
    # rgrep is a shell script of package grep: appending a comment changes its checksum, not its behaviour.
    path = "/usr/bin/rgrep"
    with host.sudo():
        original = host.check_output(f"base64 -w0 {path}")
        cursor = host.check_output("journalctl --show-cursor -n 0 --quiet").split("cursor: ")[-1]
        try:
            host.check_output(f"sh -c 'echo \"# tampered\" >> {path}'")
            started = host.run("systemctl start debsums-check.service")
            journal = host.check_output(
                f"journalctl -u debsums-check.service -o cat --after-cursor={shlex.quote(cursor)}"
            )
        finally:
            host.run(f"sh -c 'echo {original} | base64 -d > {path}'")
            host.run("systemctl reset-failed debsums-check.service")
    assert started.rc != 0
    assert path in journal


def test_login_sessions_get_their_own_temporary_directory(host):
    with host.sudo():
        tmpdir = host.check_output("su -s /bin/sh -c 'echo $TMPDIR' pamprobe")
        uid = host.check_output("id -u pamprobe")
        directory = host.file(tmpdir)
        assert tmpdir == f"/tmp/user/{uid}"
        assert (directory.user, directory.mode) == ("pamprobe", 0o700)


def test_login_defs_raise_the_hashing_cost_of_the_shadow_tools(host):
    login_defs = host.file("/etc/login.defs").content_string
    assert re.search(r"^YESCRYPT_COST_FACTOR\s+8$", login_defs, re.MULTILINE)
    assert re.search(r"^SHA_CRYPT_MIN_ROUNDS\s+65536$", login_defs, re.MULTILINE)
    # chpasswd --crypt-method hashes by itself (not through PAM), with login.defs' cost.
    with host.sudo():
        hashed = host.run(f"printf 'pamprobe:%s\\n' '{STRONG_PASSWORD}' | chpasswd --crypt-method YESCRYPT")
        assert hashed.rc == 0, hashed.stderr
        assert host.check_output("getent shadow pamprobe").split(":")[1].startswith(YESCRYPT_COST_8)


def test_module_names_modprobe_cannot_match_are_refused(host):
    _, messages = converge_failures(
        host.backend.host,
        {"os_baseline_blocked_kernel_modules": ["cramfs", "/lib/modules/udf.ko", "usb storage"]},
    )
    assert any(
        "os_baseline_blocked_kernel_modules has entries that are not module names: /lib/modules/udf.ko, usb storage"
        in message
        for message in messages
    ), messages


def test_blocking_a_module_the_roles_need_is_refused_in_either_spelling(host):
    _, messages = converge_failures(
        host.backend.host, {"os_baseline_blocked_kernel_modules": ["cramfs", "tun", "nf-tables", "nft_ct"]}
    )
    assert any(
        "would block modules this host needs: tun, nf_tables, nft_ct" in message for message in messages
    ), messages
