"""The bastion as a whole, after playbooks/bastion.yml: run by `make demo` (and bench) against a lab host.

Each role's own molecule scenario proves its details; these check that the roles hold together on one host.
"""

from __future__ import annotations

import re
from ipaddress import ip_network

import pytest
from testinfra.host import Host

pytestmark = pytest.mark.lab


def test_sshd_takes_keys_only_and_refuses_root(host: Host) -> None:
    with host.sudo():
        effective = host.check_output("sshd -T")
    assert "passwordauthentication no" in effective
    assert "permitrootlogin no" in effective
    assert "allowgroups sshusers" in effective


def test_firewall_drops_by_default_and_admits_the_vpn_port(host: Host) -> None:
    with host.sudo():
        ruleset = host.check_output("nft list ruleset")
    assert "policy drop" in ruleset
    assert "udp dport 1194" in ruleset


def test_the_bastion_forwards_for_the_vpn(host: Host) -> None:
    assert host.sysctl("net.ipv4.ip_forward") == 1


def test_system_openssl_refuses_tls_below_1_2(host: Host) -> None:
    assert "MinProtocol = TLSv1.2" in host.file("/etc/ssl/openssl.cnf").content_string


def test_journal_is_kept_on_disk(host: Host) -> None:
    assert host.file("/var/log/journal").is_directory


def test_fail2ban_guards_ssh_and_aide_has_its_baseline(host: Host) -> None:
    with host.sudo():
        assert "Currently banned" in host.check_output("fail2ban-client status sshd")
        assert host.file("/var/lib/aide/aide.db").exists or host.file("/var/lib/aide/aide.db.gz").exists


def test_openvpn_serves_the_vpn_port_with_the_hardened_config(host: Host) -> None:
    server = host.service("openvpn-server@server")
    assert server.is_running and server.is_enabled
    with host.sudo():
        assert any(
            ":1194 " in line for line in host.check_output("ss -Hlnup").splitlines() if "openvpn" in line
        )
        config = host.file("/etc/openvpn/server/server.conf").content_string
    for directive in ("tls-version-min 1.2", "tls-crypt ", "verify-client-cert require", "crl-verify "):
        assert directive in config


def test_no_update_from_the_security_archive_is_pending(host: Host) -> None:
    simulation = host.check_output("apt-get --simulate -o Debug::NoLocking=true dist-upgrade")
    pending = [
        line for line in simulation.splitlines() if line.startswith("Inst ") and " Debian-Security:" in line
    ]
    assert pending == []


def test_fail2ban_never_bans_the_sources_the_firewall_admits_ssh_from(host: Host) -> None:
    with host.sudo():
        # `|- 127.0.0.1/8` lines under "These IP addresses/networks are ignored:".
        # fail2ban prints a single address without its /32: compare networks, not strings.
        ignored = {
            ip_network(line.split("- ", 1)[1].strip(), strict=False)
            for line in host.check_output("fail2ban-client get sshd ignoreip").splitlines()
            if "- " in line
        }
        ruleset = host.file("/etc/nftables.conf").content_string
    admitted = [
        ip_network(source.strip(), strict=False)
        for match in re.findall(r"saddr (\{[^}]*\}|\S+) tcp dport 22 accept", ruleset)
        for source in match.strip("{}").split(",")
    ]
    assert admitted, ruleset
    assert set(admitted) <= ignored


def test_cis_items_are_in_place(host: Host) -> None:
    blocked = host.file("/etc/modprobe.d/60-secure-tenant-blocked.conf").content_string
    for module in ("cramfs", "usb-storage", "dccp", "sctp", "rds", "tipc"):
        assert f"install {module} /bin/false" in blocked
        assert f"blacklist {module}" in blocked
    assert host.service("acct").is_enabled
    assert host.service("debsums-check.timer").is_enabled
    assert "pam_tmpdir.so" in host.file("/etc/pam.d/common-session").content_string
    assert "yescrypt rounds=8" in host.file("/etc/pam.d/common-password").content_string
    assert (
        "$nrconf{restart} = 'a';" in host.file("/etc/needrestart/conf.d/50-secure-tenant.conf").content_string
    )
