"""Every hardening role refuses a system other than Debian 12 or 13 before it changes anything: the roles are run
by ansible-playbook against the facts other systems report (no host needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HARDENING_ROLES = sorted(
    path.parent.parent.name
    for path in ROOT.glob("roles/*/meta/main.yml")
    if path.parent.parent.name != "debian_release"
)
# What a task of the depending role prints when it runs: none may run on a refused system.
MARKER = "ROLE TASK RAN"
# The guard's one change to a passed system, before any role task (under --check here: this machine is untouched).
PYTHON3_APT = "Install python3-apt, which the roles' apt tasks need"


# A module that reports the facts it is given, as the setup module would on that system.
FACTS_MODULE = """#!/usr/bin/python3
from ansible.module_utils.basic import AnsibleModule

module = AnsibleModule(argument_spec={"facts": {"type": "dict", "required": True}}, supports_check_mode=True)
module.exit_json(changed=False, ansible_facts=module.params["facts"])
"""


def run_role(tmp_path: Path, role: str, distribution: str, version: str) -> subprocess.CompletedProcess[str]:
    """`role` applied to localhost in check mode after a module reported it runs `distribution` `version`, with
    the role's own tasks replaced by one that announces itself: only its real dependencies (the guard) run before
    it."""
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "reported_facts.py").write_text(FACTS_MODULE)
    roles = tmp_path / "roles"
    (roles / role / "tasks").mkdir(parents=True)
    (roles / role / "meta").mkdir()
    (roles / role / "meta" / "main.yml").write_text((ROOT / "roles" / role / "meta" / "main.yml").read_text())
    (roles / role / "tasks" / "main.yml").write_text(
        f"---\n- name: Announce\n  ansible.builtin.debug:\n    msg: {MARKER}\n"
    )
    facts = {
        "ansible_distribution": distribution,
        "ansible_distribution_version": version,
        "ansible_distribution_major_version": version.split(".")[0],
    }
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "pre_tasks": [{"name": "Report the system", "reported_facts": {"facts": facts}}],
                    "roles": [role],
                }
            ]
        )
    )
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "--check",
            str(playbook),
        ],
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": f"{roles}:{ROOT / 'roles'}",
            "ANSIBLE_LIBRARY": str(tmp_path / "library"),
            "ANSIBLE_NOCOLOR": "1",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def assert_refused(run: subprocess.CompletedProcess[str], distribution: str, version: str) -> None:
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert MARKER not in output and PYTHON3_APT not in output
    assert f"localhost runs {distribution} {version}" in output
    assert "roles harden Debian 12 and 13 only, and nothing was changed" in output


@pytest.mark.parametrize("role", HARDENING_ROLES)
def test_every_role_refuses_another_system_before_its_first_task(tmp_path: Path, role: str) -> None:
    assert_refused(run_role(tmp_path, role, "Ubuntu", "24.04"), "Ubuntu", "24.04")


@pytest.mark.parametrize(
    ("distribution", "version"), [("Debian", "11.11"), ("Debian", "14.0"), ("Rocky", "9.4")]
)
def test_a_debian_release_the_roles_were_not_tested_on_is_refused(
    tmp_path: Path, distribution: str, version: str
) -> None:
    assert_refused(run_role(tmp_path, "ssh_hardening", distribution, version), distribution, version)


@pytest.mark.parametrize("version", ["12.12", "13.2"])
def test_debian_12_and_13_pass_the_guard(tmp_path: Path, version: str) -> None:
    run = run_role(tmp_path, "openssl", "Debian", version)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 0 <= run.stdout.find(PYTHON3_APT) < run.stdout.find(MARKER), run.stdout


APT_MODULES = {"ansible.builtin.apt", "apt"}
ROLE_MODULES = {"ansible.builtin.import_role", "ansible.builtin.include_role", "import_role", "include_role"}
# The guard and every role that depends on it: each installs python3-apt and refuses another system first.
GUARDED_ROLES = {"debian_release", *HARDENING_ROLES}


def flat_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks in the order they run, blocks opened (block, then rescue and always)."""
    flat: list[dict[str, Any]] = []
    for task in tasks or []:
        if "block" in task:
            flat += (
                flat_tasks(task["block"])
                + flat_tasks(task.get("rescue", []))
                + flat_tasks(task.get("always", []))
            )
        else:
            flat.append(task)
    return flat


def apt_before_the_guard(play: dict[str, Any], guarded: bool = False) -> tuple[list[str], bool]:
    """Names of the play's apt tasks that run before any guarded role (pre_tasks, then roles, then tasks), and
    whether the guard ran by the play's end; `guarded`: an earlier play already ran it on these hosts."""
    roles = [
        {"role": r if isinstance(r, str) else r.get("role", r.get("name"))} for r in play.get("roles") or []
    ]
    early = []
    for entry in flat_tasks(play.get("pre_tasks", [])) + roles + flat_tasks(play.get("tasks", [])):
        role = entry.get("role") or next((entry[m]["name"] for m in ROLE_MODULES if m in entry), None)
        guarded = guarded or role in GUARDED_ROLES
        if not guarded and APT_MODULES & entry.keys():
            early.append(entry.get("name", "?"))
    return early, guarded


def test_no_playbook_installs_packages_before_the_debian_guard() -> None:
    """Under Mitogen an apt task on a host without python3-apt fails (the module cannot respawn), and on another
    system it must not run at all: every play of the project and its scenarios runs the guard before apt (in
    itself, or in an earlier play of the playbook on the same hosts or on all)."""
    playbooks = sorted(ROOT.glob("playbooks/*.yml")) + sorted(ROOT.glob("roles/*/molecule/*/*.yml"))
    early: dict[str, list[str]] = {}
    for path in (path for path in playbooks if path.name != "molecule.yml"):
        guarded_hosts: set[str] = set()
        for play in yaml.safe_load(path.read_text()) or []:
            if isinstance(play, dict) and "hosts" in play:
                before = bool({play["hosts"], "all"} & guarded_hosts)
                names, guarded = apt_before_the_guard(play, before)
                if names:
                    early[f"{path.relative_to(ROOT)}: {play.get('name')}"] = names
                if guarded:
                    guarded_hosts.add(play["hosts"])
    assert early == {}
    assert any(path.name == "bastion.yml" for path in playbooks)


def test_the_order_check_finds_apt_before_the_guard_in_a_block_and_passes_it_after() -> None:
    apt = {"name": "Install", "ansible.builtin.apt": {"name": "curl"}}
    guard = {"name": "Guard", "ansible.builtin.import_role": {"name": "debian_release"}}
    assert apt_before_the_guard({"pre_tasks": [{"block": [apt]}, guard]}) == (["Install"], True)
    assert apt_before_the_guard({"tasks": [apt], "roles": ["pki"]}) == ([], True)
    assert apt_before_the_guard({"pre_tasks": [apt], "roles": ["pki"]}) == (["Install"], True)
    assert apt_before_the_guard({"pre_tasks": [guard, apt]}) == ([], True)
    assert apt_before_the_guard({"tasks": [apt]}) == (["Install"], False)
    assert apt_before_the_guard({"tasks": [apt]}, guarded=True) == ([], True)
