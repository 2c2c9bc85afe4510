"""The bastion's CloudWatch agent config names exactly the stack's log groups.

The chain is the one a real run takes: the stack under mocks exports `bastionLogGroups`; its outputs, saved as
`pulumi stack output --json` would, go through the fleet inventory plugin and playbooks/group_vars/bastions.yml
into the audit_logging role, whose template ansible-playbook renders (check mode, nothing is written).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from review.offline import StackSnapshot

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG_PATH = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"


def run_role_tasks(
    tmp_path: Path, stack: StackSnapshot, tasks: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Apply one task file of audit_logging to the stack's bastions (check mode, on this machine), with the
    bastions' group_vars, through the inventory plugin reading the stack's saved outputs."""
    name = f"{stack.outputs['tenant']}-{stack.outputs['environment']}"
    outputs = tmp_path / f"{name}-outputs.json"
    outputs.write_text(json.dumps(stack.outputs, default=str))
    (tmp_path / "fleet.secure_tenant.yml").write_text(
        yaml.safe_dump({"plugin": "secure_tenant", "outputs": [str(outputs)], "project_dir": str(ROOT)})
    )
    # group_vars are read next to the playbook: the bastions' own, as bastion.yml gets them.
    (tmp_path / "group_vars").symlink_to(ROOT / "playbooks" / "group_vars")
    (tmp_path / "playbook.yml").write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Render the role's files for the stack's bastions",
                    "hosts": "bastions",
                    "gather_facts": False,
                    "connection": "local",
                    "tasks": [
                        {
                            "name": "Apply one task file of audit_logging",
                            "ansible.builtin.include_role": {"name": "audit_logging", "tasks_from": tasks},
                        }
                    ],
                }
            ]
        )
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_TENANT_", "PULUMI_STACK"))}
    return subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "fleet.secure_tenant.yml",
            "playbook.yml",
            "--check",
            "--diff",
            *extra,
        ],
        env={
            **clean,
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
            # The whole output one JSON report: no timing callbacks from ansible.cfg.
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def rendered_configs(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    """Per bastion, the agent config the template task would write (its diff's new text)."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    configs = {}
    for play in json.loads(result.stdout)["plays"]:
        for task in play["tasks"]:
            for host, outcome in task["hosts"].items():
                arguments = outcome.get("invocation", {}).get("module_args", {})
                if outcome["action"] == "ansible.builtin.template" and arguments.get("dest") == CONFIG_PATH:
                    (diff,) = outcome["diff"]
                    configs[host] = json.loads(diff["after"])
    return configs


def test_each_bastion_s_agent_config_names_exactly_the_stack_s_log_groups(
    tmp_path: Path, example_stack: StackSnapshot
) -> None:
    configs = rendered_configs(run_role_tasks(tmp_path, example_stack, "cloudwatch.yml"))
    bastions = {host["zone"] for host in example_stack.outputs["bastionHosts"]}
    assert len(configs) == len(bastions)
    for config in configs.values():
        collected = config["logs"]["logs_collected"]["files"]["collect_list"]
        groups = [entry["log_group_name"] for entry in collected]
        assert sorted(groups) == sorted(example_stack.outputs["bastionLogGroups"])
        assert len(groups) == len(set(groups))
        # Each group gets the file of its own name: /<tenant>-<env>/bastion/auth gets auth.log, and so on.
        files = {entry["log_group_name"].rsplit("/", 1)[1]: entry["file_path"] for entry in collected}
        assert files == {
            "syslog": "/var/log/syslog",
            "auth": "/var/log/auth.log",
            "openvpn": "/var/log/openvpn.log",
            "audit": "/var/log/audit/audit.log",
        }


def test_a_log_group_without_a_file_of_its_name_is_refused(tmp_path: Path, prod_stack: StackSnapshot) -> None:
    groups = [*prod_stack.outputs["bastionLogGroups"], "/acme-prod/bastion/nginx"]
    result = run_role_tasks(
        tmp_path,
        prod_stack,
        "validate.yml",
        "-e",
        json.dumps({"audit_logging_cloudwatch_log_groups": groups}),
    )
    assert result.returncode != 0
    assert "no file for: nginx" in result.stdout


@pytest.mark.parametrize("sha256", ["", "not-a-hash"])
def test_installing_the_agent_without_its_pinned_hash_is_refused(
    tmp_path: Path, prod_stack: StackSnapshot, sha256: str
) -> None:
    switches = {
        "audit_logging_cloudwatch_agent_install_enabled": True,
        "audit_logging_cloudwatch_agent_package_sha256": sha256,
    }
    result = run_role_tasks(tmp_path, prod_stack, "validate.yml", "-e", json.dumps(switches))
    assert result.returncode != 0
    assert "audit_logging_cloudwatch_agent_package_sha256, the SHA-256 of the package" in result.stdout
