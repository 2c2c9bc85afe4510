"""Every hardening role refuses a system other than Debian 12 or 13 before it changes anything: the roles are run
by ansible-playbook against the facts other systems report (no host needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
