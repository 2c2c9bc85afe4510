"""Every role task's name starts with the control ids it carries, so a run log reads as an audit trail."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.role_tasks import control_id, control_tag, name_problems, prefixed, role_tasks

ROLES = Path(__file__).resolve().parent.parent / "roles"


def write_role(root: Path, files: dict[str, str]) -> Path:
    tasks = root / "role" / "tasks"
    tasks.mkdir(parents=True)
    for name, text in files.items():
        (tasks / name).write_text(text)
    return root / "role"


def problems_of(root: Path, files: dict[str, str]) -> list[str]:
    return [p.split(": ", 1)[1] for p in name_problems(role_tasks(write_role(root, files)))]


@pytest.mark.parametrize("role", sorted(p.name for p in ROLES.iterdir() if (p / "tasks").is_dir()))
def test_every_task_name_starts_with_exactly_the_control_ids_it_carries(role: str) -> None:
    tasks = role_tasks(ROLES / role)
    assert tasks
    assert list(name_problems(tasks)) == []


def test_the_roles_tag_tasks_with_controls_and_an_update_task_is_named_for_hst_02() -> None:
    names = {task.name for task in role_tasks(ROLES / "os_baseline")}
    assert "HST-02 | Install the pending security updates now, as the daily run would" in names


def test_tag_and_id_convert_both_ways() -> None:
    assert control_id("ctl_edge_03") == "EDGE-03"
    assert control_tag("EDGE-03") == "ctl_edge_03"
    assert control_id("ctl_edge") is None
    assert control_id("always") is None


def test_a_tagged_task_without_its_id_and_an_untagged_task_with_one_are_refused(tmp_path: Path) -> None:
    assert problems_of(
        tmp_path,
        {
            "main.yml": (
                "- name: Apply security updates\n  ansible.builtin.debug:\n  tags: [ctl_hst_02]\n"
                "- name: HST-01 | Say hello\n  ansible.builtin.debug:\n"
                "- name: HST-01 | Claim the wrong control\n  ansible.builtin.debug:\n  tags: [ctl_hst_02, other]\n"
                "- ansible.builtin.debug:\n  tags: ctl_hst_02\n"
            )
        },
    ) == [
        "name 'Apply security updates' should be 'HST-02 | Apply security updates'",
        "name 'HST-01 | Say hello' should be 'Say hello'",
        "name 'HST-01 | Claim the wrong control' should be 'HST-02 | Claim the wrong control'",
        "a task carrying HST-02 has no name",
    ]


def test_several_ids_are_listed_in_tag_order_and_only_once(tmp_path: Path) -> None:
    assert problems_of(
        tmp_path,
        {
            "main.yml": (
                "- name: HST-02, HST-01 | Both in the written order\n  ansible.builtin.debug:\n"
                "  tags: [ctl_hst_02, ctl_hst_01, ctl_hst_02]\n"
                "- name: HST-01, HST-02 | Sorted is not the written order\n  ansible.builtin.debug:\n"
                "  tags: [ctl_hst_02, ctl_hst_01]\n"
            )
        },
    ) == [
        (
            "name 'HST-01, HST-02 | Sorted is not the written order' should be "
            "'HST-02, HST-01 | Sorted is not the written order'"
        )
    ]


def test_a_block_an_import_and_an_applied_include_hand_their_controls_down(tmp_path: Path) -> None:
    role = write_role(
        tmp_path,
        {
            "main.yml": (
                "- name: NET-06 | Guard\n  tags: [ctl_net_06]\n  block:\n"
                "    - name: NET-06 | Import the checks\n      ansible.builtin.import_tasks: checks.yml\n"
                "- name: Include without apply\n  ansible.builtin.include_tasks: plain.yml\n  tags: [ctl_hst_01]\n"
                "- name: Include with apply\n  ansible.builtin.include_tasks:\n    file: applied.yml\n"
                "    apply:\n      tags: [ctl_hst_03]\n"
            ),
            "checks.yml": "- name: Check\n  ansible.builtin.debug:\n  tags: [ctl_hst_01]\n",
            "plain.yml": "- name: Plain\n  ansible.builtin.debug:\n",
            "applied.yml": "- name: Applied\n  ansible.builtin.debug:\n",
            "unreached.yml": "- name: Alone\n  ansible.builtin.debug:\n  tags: [ctl_log_03]\n",
        },
    )
    controls = {task.name: task.controls for task in role_tasks(role)}
    assert controls == {
        "NET-06 | Guard": ("NET-06",),
        "NET-06 | Import the checks": ("NET-06",),
        "Check": ("NET-06", "HST-01"),
        # An include's own tags select the include, not the included tasks.
        "Include without apply": ("HST-01",),
        "Plain": (),
        "Include with apply": (),
        "Applied": ("HST-03",),
        "Alone": ("LOG-03",),
    }


def test_prefixed_replaces_an_old_prefix_instead_of_stacking_one() -> None:
    assert prefixed("HST-01 | Apply", ("HST-02",)) == "HST-02 | Apply"
    assert prefixed("HST-01, HST-02 | Apply", ()) == "Apply"
    assert prefixed("Apply", ("HST-01", "HST-02")) == "HST-01, HST-02 | Apply"
