"""ACC-04 on a real host: the hardened sshd seen from outside (ssh-audit, real logins) and inside (sshd -T)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.hosts import LabHost, ssh_command
from lab.verify import converge_failures, lab_host

SCENARIO_DIR = Path(__file__).resolve().parents[1]
ROLE_DIR = SCENARIO_DIR.parents[1]
# ssh-audit policy of each Debian release's hardened OpenSSH (banner and algorithm lists differ).
POLICY = str(ROLE_DIR / "files" / "ssh-audit-policy-Debian-{release}.txt")
SSH_AUDIT = Path(sys.executable).with_name("ssh-audit")  # the venv's ssh-audit, pinned in pyproject.toml
ASKPASS = SCENARIO_DIR / "askpass.sh"  # types the operator's real password (set in prepare.yml)


@pytest.fixture(scope="module")
def target(host) -> LabHost:
    return lab_host(host.backend.host)


def public_key(target: LabHost) -> str:
    return Path(f"{target.identity_file}.pub").read_text().split()[1]


def ssh(target: LabHost, user: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Log in from this machine as `user` with the stock OpenSSH client and run `true`.

    -v shows the server's answers; only the lab key is offered, and `options` override the lab's (BatchMode=yes).
    """
    env = {**os.environ, "SSH_ASKPASS": str(ASKPASS), "SSH_ASKPASS_REQUIRE": "force"}
    return subprocess.run(
        ssh_command(
            dataclasses.replace(target, user=user),
            "true",
            options=["-v", "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes", *options],
        ),
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def sshd_log_since(host, started: float) -> str:
    with host.sudo():
        return host.check_output(f"journalctl --unit ssh.service --since @{int(started) - 1} --output cat")


@pytest.fixture(scope="module")
def sshd_effective(host) -> dict[str, list[str]]:
    """`sshd -T`: every setting sshd derives from its configuration, defaults included (one list per key)."""
    with host.sudo():
        output = host.check_output("sshd -T")
    settings: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, []).append(value)
    return settings


def test_operator_in_the_allowed_group_logs_in_with_a_key(target: LabHost) -> None:
    result = ssh(target, "admin")
    assert result.returncode == 0, result.stderr


def test_correct_password_is_refused_because_only_public_keys_are_offered(target: LabHost) -> None:
    result = ssh(
        target,
        "admin",
        "-o",
        "BatchMode=no",  # lets the askpass helper type the password
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
    )
    assert result.returncode == 255
    offered = [line for line in result.stderr.splitlines() if "Authentications that can continue" in line]
    assert offered and all(line.endswith(": publickey") for line in offered), result.stderr
    assert "Permission denied (publickey)" in result.stderr


def test_root_is_refused_even_with_a_valid_key_and_an_allowed_group(host, target: LabHost) -> None:
    with host.sudo():
        assert public_key(target) in host.file("/root/.ssh/authorized_keys").content_string
    # root is in an allowed group (prepare.yml), so AllowGroups lets it through and PermitRootLogin decides.
    assert "operators" in host.user("root").groups
    started = time.time()
    result = ssh(target, "root")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr
    assert "ROOT LOGIN REFUSED" in sshd_log_since(host, started)


def test_account_outside_the_allowed_groups_is_refused_even_with_a_valid_key(host, target: LabHost) -> None:
    with host.sudo():
        assert public_key(target) in host.file("/home/outsider/.ssh/authorized_keys").content_string
    started = time.time()
    result = ssh(target, "outsider")
    assert result.returncode == 255
    assert "none of user's groups are listed in AllowGroups" in sshd_log_since(host, started)


def test_banner_is_shown_before_login(target: LabHost) -> None:
    result = ssh(target, "outsider")
    assert "Authorised access only." in result.stderr


def test_sshd_runs_with_keys_only_no_root_and_no_forwarding(sshd_effective: dict[str, list[str]]) -> None:
    expected = {
        "permitrootlogin": "no",
        "passwordauthentication": "no",
        "kbdinteractiveauthentication": "no",
        "authenticationmethods": "publickey",
        "pubkeyauthentication": "yes",
        "permitemptypasswords": "no",
        "hostbasedauthentication": "no",
        "allowgroups": "sshusers operators",
        "disableforwarding": "yes",
        "allowagentforwarding": "no",
        "allowtcpforwarding": "no",
        "allowstreamlocalforwarding": "no",
        "x11forwarding": "no",
        "permittunnel": "no",
        "loglevel": "VERBOSE",
        "subsystem": "sftp internal-sftp",
        "logingracetime": "30",
        "maxauthtries": "3",
        "maxsessions": "4",
        "clientaliveinterval": "300",
        "clientalivecountmax": "2",
        "compression": "no",
        "banner": "/etc/ssh/sshd-banner",
        "requiredrsasize": "3072",
    }
    assert {key: " ".join(sshd_effective[key]) for key in expected} == expected


def test_sshd_listens_only_on_the_management_address(
    sshd_effective: dict[str, list[str]], target: LabHost
) -> None:
    assert sshd_effective["listenaddress"] == [f"{target.address}:22"]


def test_sshd_keeps_restarting_until_its_listen_address_exists(host) -> None:
    """Debian's unit gives up on exit 255 (no address to bind); a bastion's VPN address appears after boot."""
    properties = host.check_output(
        "systemctl show ssh.service -p Restart -p RestartPreventExitStatus -p RestartUSec -p StartLimitIntervalUSec"
    )
    assert dict(line.split("=", 1) for line in properties.splitlines()) == {
        "Restart": "on-failure",
        "RestartPreventExitStatus": "",
        "RestartUSec": "5s",
        "StartLimitIntervalUSec": "0",
    }


def debian_release(host) -> str:
    return str(host.system_info.release).split(".")[0]


def test_sshd_offers_only_modern_algorithms(host, sshd_effective: dict[str, list[str]]) -> None:
    # Debian 13's OpenSSH 10 has the post-quantum ML-KEM hybrid, which comes first; Debian 12's 9.2 does not.
    kex = "mlkem768x25519-sha256 " if debian_release(host) == "13" else ""
    kex += "sntrup761x25519-sha512 sntrup761x25519-sha512@openssh.com curve25519-sha256 curve25519-sha256@libssh.org"
    kex += " diffie-hellman-group16-sha512 diffie-hellman-group18-sha512"
    ciphers = (
        "chacha20-poly1305@openssh.com aes256-gcm@openssh.com aes128-gcm@openssh.com aes256-ctr aes192-ctr"
    )
    ciphers += " aes128-ctr"
    macs = "hmac-sha2-512-etm@openssh.com hmac-sha2-256-etm@openssh.com umac-128-etm@openssh.com"
    assert sshd_effective["kexalgorithms"] == [",".join(kex.split())]
    assert sshd_effective["ciphers"] == [",".join(ciphers.split())]
    assert sshd_effective["macs"] == [",".join(macs.split())]
    assert sshd_effective["hostkey"] == ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"]


def test_only_ed25519_and_rsa_host_keys_of_at_least_3072_bits_remain(host) -> None:
    with host.sudo():
        keys = host.check_output("ls /etc/ssh/").split()
        rsa_bits = int(host.check_output("ssh-keygen -l -f /etc/ssh/ssh_host_rsa_key").split()[0])
    assert sorted(name for name in keys if name.startswith("ssh_host_")) == [
        "ssh_host_ed25519_key",
        "ssh_host_ed25519_key.pub",
        "ssh_host_rsa_key",
        "ssh_host_rsa_key.pub",
    ]
    assert rsa_bits >= 3072  # prepare.yml left a 2048-bit key, so the role had to replace it


def test_moduli_keep_only_groups_of_at_least_3072_bits(host) -> None:
    lines = host.file("/etc/ssh/moduli").content_string.splitlines()
    sizes = [int(line.split()[4]) + 1 for line in lines if line[:1].isdigit()]
    assert len(sizes) > 100
    assert min(sizes) >= 3072


def test_ssh_audit_policy_passes(host, target: LabHost) -> None:
    result = subprocess.run(
        [
            str(SSH_AUDIT),
            "--no-colors",
            "--policy",
            POLICY.format(release=debian_release(host)),
            target.address,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    assert "Passed" in result.stdout


def test_ssh_audit_reports_no_failure(target: LabHost) -> None:
    result = subprocess.run(
        [str(SSH_AUDIT), "--no-colors", target.address],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "(gen) software: OpenSSH" in result.stdout, result.stdout + result.stderr
    assert "[fail]" not in result.stdout, result.stdout
    # ssh-audit exits 0 when all is good, 2 for warnings (the classical key exchanges kept for older clients), 3 on
    # a failure.
    assert result.returncode in (0, 2), result.stdout


LOCKOUTS = {
    "account outside the allowed groups": (
        {"ssh_hardening_allow_groups": ["nobody-here"], "ssh_hardening_allow_group_members": []},
        "Ansible connects as 'admin', which is in none of ssh_hardening_allow_groups ['nobody-here']",
    ),
    "listen address Ansible does not use": (
        {"ssh_hardening_listen_addresses": ["10.8.0.1"]},
        "which is not in ssh_hardening_listen_addresses ['10.8.0.1']: sshd would stop answering there",
    ),
    "port Ansible does not use": (
        {"ssh_hardening_port": 2222},
        "Ansible is connected to port 22 but ssh_hardening_port is 2222",
    ),
}


@pytest.mark.parametrize("extra_vars, refusal", LOCKOUTS.values(), ids=LOCKOUTS.keys())
def test_role_refuses_a_configuration_that_would_lock_out_the_operator(
    host, extra_vars: dict[str, object], refusal: str
) -> None:
    """Run the role again with a setting that would cut Ansible off: it must stop and change nothing."""
    with host.sudo():
        before = host.file("/etc/ssh/sshd_config").sha256sum
    run, messages = converge_failures(host.backend.host, extra_vars)
    assert run.returncode != 0, run.stdout
    assert any(refusal in message for message in messages), messages
    with host.sudo():
        assert host.file("/etc/ssh/sshd_config").sha256sum == before
        assert not host.group("nobody-here").exists
