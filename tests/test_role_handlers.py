"""A handler that another role's task notifies first looks on the host for what it acts on.

Handlers listen across roles (openvpn and log_forwarding restart on the pki role's `pki_certificates_changed`), and
every role of bastion.yml has its own tag, so the notifying role can run without the listening one:
`--tags pki,openvpn` on a new bastion notified log_forwarding's `rsyslogd -N1` where rsyslog was not installed,
and the run failed. Such a handler must be guarded by a read-only probe of its own role (stat or find), defined
before it, that runs whenever it runs (it listens on all its topics), and whose registered result its `when` uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROLES = Path(__file__).resolve().parent.parent / "roles"
PROBE_MODULES = {"ansible.builtin.stat", "ansible.builtin.find"}


@dataclass(frozen=True)
class Handler:
    role: str
    name: str
    topics: frozenset[str]  # its name and what it listens to
    when: str
    register: str | None
    is_probe: bool


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value or []]


def _notified(node: Any) -> Iterator[str]:
    """Every topic a task notifies, at any depth of a tasks file (blocks included)."""
    if isinstance(node, dict):
        yield from _strings(node.get("notify"))
        for value in node.values():
            yield from _notified(value)
    elif isinstance(node, list):
        for item in node:
            yield from _notified(item)


def notifications(roles_dir: Path) -> dict[str, set[str]]:
    """Topic -> the roles whose tasks notify it."""
    notifiers: dict[str, set[str]] = {}
    for tasks_file in roles_dir.glob("*/tasks/**/*.yml"):
        role = tasks_file.relative_to(roles_dir).parts[0]
        for topic in _notified(yaml.safe_load(tasks_file.read_text())):
            notifiers.setdefault(topic, set()).add(role)
    return notifiers


def handlers(roles_dir: Path, role: str) -> list[Handler]:
    path = roles_dir / role / "handlers" / "main.yml"
    entries = yaml.safe_load(path.read_text()) if path.is_file() else None
    return [
        Handler(
            role=role,
            name=entry["name"],
            topics=frozenset([entry["name"], *_strings(entry.get("listen"))]),
            when=" and ".join(_strings(entry.get("when"))),
            register=entry.get("register"),
            is_probe=bool(PROBE_MODULES & entry.keys()),
        )
        for entry in entries or []
    ]


def unguarded_handlers(roles_dir: Path) -> list[str]:
    """Handlers another role's task notifies that act without a probe of their own role first: one defined before
    them, listening on every topic they are notified by, whose registered result their `when` uses."""
    notifiers = notifications(roles_dir)
    problems = []
    for role in sorted(p.name for p in roles_dir.iterdir() if p.is_dir()):
        earlier: list[Handler] = []
        for handler in handlers(roles_dir, role):
            foreign = sorted(t for t in handler.topics if notifiers.get(t, set()) - {role})
            guarded = any(
                probe.register
                and probe.register in handler.when
                and handler.topics & notifiers.keys() <= probe.topics
                for probe in earlier
                if probe.is_probe
            )
            if foreign and not handler.is_probe and not guarded:
                problems.append(
                    f"{role}: {handler.name!r} acts on {', '.join(foreign)} without a probe first"
                )
            earlier.append(handler)
    return problems


def write_roles(root: Path, roles: dict[str, dict[str, str]]) -> Path:
    for role, files in roles.items():
        for relative, text in files.items():
            path = root / role / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


PKI_TASKS = {"tasks/main.yml": "- name: Publish\n  ansible.builtin.copy: {}\n  notify: certs_changed\n"}
OWN_TASKS = "- block:\n    - name: Configure\n      ansible.builtin.copy: {}\n      notify: conf_changed\n"
PROBE = (
    "- name: Find the daemon\n  ansible.builtin.stat: {path: /usr/sbin/daemon}\n  register: found\n"
    "  listen: [conf_changed, certs_changed]\n"
)
CHECK = (
    "- name: Check\n  ansible.builtin.command: daemon -t\n  listen: [conf_changed, certs_changed]\n"
    "  when: WHEN\n"
)


def problems_with(root: Path, handlers_text: str) -> list[str]:
    roles = {"pki": PKI_TASKS, "daemon": {"tasks/main.yml": OWN_TASKS, "handlers/main.yml": handlers_text}}
    return unguarded_handlers(write_roles(root, roles))


def test_every_handler_another_role_notifies_looks_on_the_host_first() -> None:
    assert unguarded_handlers(ROLES) == []


def test_the_roles_do_listen_to_another_role_s_notification() -> None:
    """The rule above is not vacuous: openvpn and log_forwarding restart on the pki role's certificates."""
    notifiers = notifications(ROLES)
    assert notifiers["pki_certificates_changed"] == {"pki"}
    listeners = {
        handler.role
        for role in sorted(p.name for p in ROLES.iterdir() if p.is_dir())
        for handler in handlers(ROLES, role)
        if "pki_certificates_changed" in handler.topics and not handler.is_probe
    }
    assert {"openvpn", "log_forwarding"} < listeners


def test_the_guard_is_accepted(tmp_path: Path) -> None:
    assert problems_with(tmp_path, PROBE + CHECK.replace("WHEN", "enabled and found.stat.exists")) == []


@pytest.mark.parametrize(
    "handlers_text",
    [
        # What log_forwarding had: the check listens to pki's topic with only the role's switch.
        pytest.param(CHECK.replace("WHEN", "enabled"), id="no probe"),
        pytest.param(PROBE + CHECK.replace("WHEN", "enabled"), id="probe not used"),
        pytest.param(CHECK.replace("WHEN", "found.stat.exists") + PROBE, id="probe after the handler"),
        pytest.param(
            PROBE.replace("[conf_changed, certs_changed]", "certs_changed")
            + CHECK.replace("WHEN", "found.stat.exists"),
            id="probe not run on every topic of the handler",
        ),
    ],
)
def test_a_handler_acting_on_another_role_s_notification_without_looking_first_is_refused(
    tmp_path: Path, handlers_text: str
) -> None:
    assert problems_with(tmp_path, handlers_text) == [
        "daemon: 'Check' acts on certs_changed without a probe first"
    ]


def test_a_handler_only_its_own_role_notifies_needs_no_probe(tmp_path: Path) -> None:
    own_only = CHECK.replace("conf_changed, certs_changed", "conf_changed").replace("WHEN", "enabled")
    assert problems_with(tmp_path, own_only) == []


def test_a_probe_that_changes_the_host_is_no_probe(tmp_path: Path) -> None:
    command_probe = PROBE.replace(
        "ansible.builtin.stat: {path: /usr/sbin/daemon}", "ansible.builtin.command: mkdir /x"
    )
    assert [
        problem.split("'")[1]
        for problem in problems_with(tmp_path, command_probe + CHECK.replace("WHEN", "found.rc == 0"))
    ] == [
        "Find the daemon",
        "Check",
    ]
