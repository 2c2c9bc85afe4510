"""The roles' shared network filters (roles/debian_release/filter_plugins/secure_tenant_networks.py): offline, against
an independent count of addresses, and through the roles' own validation tasks run by the real ansible-playbook."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.role_plugins import ROLES, load_filter_plugin

PLUGINS = ROLES / "debian_release" / "filter_plugins"


networks = load_filter_plugin("debian_release", "secure_tenant_networks")


@pytest.mark.parametrize(
    "value",
    ["10.0.0.0/16", "10.0.0.1/16", "192.0.2.7", "0.0.0.0/0", "2001:db8::/32", "::1", "10.0.0.0/08"],
)
def test_addresses_and_prefix_notation_are_networks(value: str) -> None:
    assert networks.invalid_networks([value]) == []


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.0/255.0.0.0",  # a netmask: refused, only prefix notation is read
        "10.0.0.0/0.255.255.255",  # a hostmask, which ipaddress alone would take as /8
        "10.0.0.0/33",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/\u0668",  # an Arabic-Indic 8: a digit to str.isdigit, not to nftables
        " 10.0.0.0/8",
        "lab-controller",
        "",
        167772160,  # 10.0.0.0 as an integer, which netaddr would take
        None,
    ],
)
def test_anything_else_is_not_a_network(value: Any) -> None:
    assert networks.invalid_networks(["10.0.0.0/8", value]) == [value]


def test_an_address_list_refuses_networks() -> None:
    assert networks.invalid_addresses(["10.8.0.1", "2001:db8::1", "10.8.0.0/24", "host"]) == [
        "10.8.0.0/24",
        "host",
    ]


def test_networks_are_split_by_family_without_host_bits_or_repeats() -> None:
    assert networks.networks_by_family(["10.0.0.1/8", "10.0.0.0/8", "2001:DB8::1/32", "192.0.2.7", "x"]) == {
        "ip": ["10.0.0.0/8", "192.0.2.7/32"],
        "ip6": ["2001:db8::/32"],
    }


def test_an_address_is_found_in_a_network_of_either_spelling() -> None:
    assert networks.in_any_network("10.1.2.3", ["192.0.2.0/24", "10.0.0.1/8"])
    assert not networks.in_any_network("10.1.2.3", ["192.0.2.0/24", "not-a-network"])
    assert networks.canonical_address("2001:DB8:0:0::1") == networks.canonical_address("2001:db8::1")


@pytest.mark.parametrize(
    "entries",
    [
        ["0.0.0.0/0"],
        ["0.0.0.0/1", "128.0.0.0/1"],
        # The internet as 256 /8s, each of which alone would pass.
        [f"{first}.0.0.0/8" for first in range(256)],
        ["10.0.0.0/8", "11.0.0.0/8"],
        ["::/0"],
        ["2001:db8::/32", "2001:db9::/32"],
    ],
)
def test_a_never_penalised_list_spanning_more_than_the_limit_is_too_wide(entries: list[str]) -> None:
    # Loopback is never counted or named, whichever way it is written.
    assert networks.too_wide(["127.0.0.1/8", "::1", *entries], 8, 32) == [
        e for e in entries if e != "127.0.0.0/8"
    ]


@pytest.mark.parametrize(
    "entries",
    [
        [],
        ["10.0.0.0/8"],
        ["10.0.0.0/8", "10.1.0.0/16", "10.0.0.0/8"],  # overlaps and repeats count once
        ["10.8.0.0/24", "192.0.2.0/28", "2001:db8::/32"],
    ],
)
def test_loopback_and_narrow_ranges_pass(entries: list[str]) -> None:
    assert networks.too_wide(["127.0.0.1/8", "::1", *entries], 8, 32) == []


def covered_addresses(ranges: list[ipaddress.IPv4Network]) -> int:
    """Addresses in the union, counted by merging sorted intervals (independent of ipaddress.collapse_addresses)."""
    total, end = 0, -1
    for start, stop in sorted((int(n.network_address), int(n.broadcast_address)) for n in ranges):
        if stop > end:
            total += stop - max(start, end + 1) + 1
            end = stop
    return total


ipv4_networks = st.builds(
    lambda address, prefix: ipaddress.ip_network(f"{ipaddress.IPv4Address(address)}/{prefix}", strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(1, 12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ipv4_networks, max_size=12), st.integers(4, 12))
def test_too_wide_agrees_with_an_independent_count(ranges: list[ipaddress.IPv4Network], limit: int) -> None:
    outside_loopback = [n for n in ranges if not n.subnet_of(ipaddress.IPv4Network("127.0.0.0/8"))]
    wide = networks.too_wide([str(n) for n in ranges], limit, 32)
    assert bool(wide) == (covered_addresses(outside_loopback) > 2 ** (32 - limit))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_the_internet_split_any_way_is_too_wide(data: st.DataObject) -> None:
    pieces = [ipaddress.IPv4Network("0.0.0.0/0")]
    for _ in range(data.draw(st.integers(1, 40))):
        index = data.draw(st.integers(0, len(pieces) - 1))
        if pieces[index].prefixlen < 24:
            pieces[index : index + 1] = list(pieces[index].subnets())
    assert networks.too_wide([str(n) for n in pieces], 8, 32)


# The roles' validation tasks, each case a host of its own in one offline run; a case passes when its host gets
# through every task, and is refused with the message of the task that stops it.
CASES: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "fail2ban_loopback_and_operators": (
        "intrusion_detection",
        {"intrusion_detection_fail2ban_ignoreip": ["127.0.0.1/8", "::1", "10.8.0.0/24", "192.0.2.0/28"]},
        None,
    ),
    "fail2ban_internet_as_256_slash8": (
        "intrusion_detection",
        {"intrusion_detection_fail2ban_ignoreip": ["127.0.0.1/8", *(f"{n}.0.0.0/8" for n in range(256))]},
        "would never ban these networks, which together span more than a /8",
    ),
    "fail2ban_netmask_notation": (
        "intrusion_detection",
        {"intrusion_detection_fail2ban_ignoreip": ["10.0.0.0/255.0.0.0"]},
        "not IPv4/IPv6 addresses or CIDR networks: 10.0.0.0/255.0.0.0",
    ),
    "sshd_penalty_exemption_split_in_halves": (
        "ssh_hardening",
        {"ssh_hardening_penalty_exempt_sources": ["0.0.0.0/1", "128.0.0.0/1"]},
        "too wide: ['0.0.0.0/1', '128.0.0.0/1']",
    ),
    "sshd_listen_on_a_network": (
        "ssh_hardening",
        {"ssh_hardening_listen_addresses": ["10.8.0.0/24"]},
        "not IP addresses: ['10.8.0.0/24']",
    ),
    "firewall_source_as_hostname": (
        "host_firewall",
        {
            "host_firewall_allow": [
                {"port": 22, "proto": "tcp", "sources": ["10.8.0.0/24", "bastion.example"]}
            ]
        },
        "not networks: ['bastion.example']",
    ),
}

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_tasks: "{{ roles_dir }}/{{ role }}/tasks/validate.yml"
"""


def role_variables(role: str) -> dict[str, Any]:
    """The role's defaults and vars, as host variables below the case's own (include_vars would rank above them)."""
    loaded: dict[str, Any] = {}
    for name in ("defaults", "vars"):
        path = ROLES / role / name / "main.yml"
        if path.exists():
            loaded |= yaml.safe_load(path.read_text()) or {}
    return loaded


@pytest.fixture(scope="module")
def validation_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Per case: {"failed": message or None, "ran": tasks it got through}, from one ansible-playbook run."""
    directory = tmp_path_factory.mktemp("validate")
    (directory / "play.yml").write_text(PLAY)
    (directory / "ansible.cfg").write_text("[defaults]\n")
    inventory = {
        "all": {
            "hosts": {
                case: {
                    **role_variables(role),
                    **variables,
                    "role": role,
                    "ansible_connection": "local",
                    "roles_dir": str(ROLES),
                }
                for case, (role, variables, _) in CASES.items()
            },
            # What the ssh_hardening and host_firewall checks read beside their variables (no SSH connection here).
            "vars": {"ansible_python_interpreter": sys.executable, "ansible_user": "root"},
        }
    }
    (directory / "inventory.json").write_text(json.dumps(inventory))
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "inventory.json", "play.yml"],
        cwd=directory,
        env={
            **os.environ,
            "ANSIBLE_FILTER_PLUGINS": str(PLUGINS),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            "ANSIBLE_STRATEGY": "linear",
            # None of the project's settings (Mitogen, the fleet inventory): only what this run sets.
            "ANSIBLE_CONFIG": str(directory / "ansible.cfg"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.stdout, completed.stderr
    report = json.loads(completed.stdout)
    results: dict[str, dict[str, Any]] = {case: {"failed": None, "ran": 0} for case in CASES}
    for play in report["plays"]:
        for task in play["tasks"]:
            for case, result in task["hosts"].items():
                if result.get("failed"):
                    # A loop's own message only says that items failed; theirs say why.
                    items = [item.get("msg", "") for item in result.get("results", []) if item.get("failed")]
                    results[case]["failed"] = " ".join(items or [result.get("msg", "")])
                elif task["task"]["name"].startswith("Refuse") or " | Refuse" in task["task"]["name"]:
                    results[case]["ran"] += 1
    return results


@pytest.mark.parametrize("case", CASES)
def test_role_validation_accepts_or_refuses_with_its_message(
    case: str, validation_results: dict[str, dict[str, Any]]
) -> None:
    expected = CASES[case][2]
    outcome = validation_results[case]
    if expected is None:
        assert outcome["failed"] is None and outcome["ran"] >= 2, outcome
    else:
        assert outcome["failed"] is not None and expected in outcome["failed"], outcome
