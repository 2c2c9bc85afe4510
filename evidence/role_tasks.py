"""A role's tasks with the control ids they carry, tagged the way Ansible tags them.

A task carries the `ctl_<id>` tags written on it and those it inherits: from its enclosing blocks, from the
`import_tasks` that imported its file, and from an `include_tasks` with `apply: {tags: ...}`. Its name starts with
those control ids ("HST-02 | Install the pending security updates now"), so a run log is an audit trail; a task
without a control tag has no id in its name. `name_problems()` is what the test suite asserts empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

CONTROL_TAG = re.compile(r"^ctl_([a-z]{2,4})_(\d{2})$")
# What a prefix looks like, to find a control id in the name of a task that carries none.
ID_PREFIX = re.compile(r"^(?:[A-Z]{2,4}-\d{2})(?:, [A-Z]{2,4}-\d{2})* \| ")
_STATIC_IMPORTS = ("ansible.builtin.import_tasks", "import_tasks")
_DYNAMIC_INCLUDES = ("ansible.builtin.include_tasks", "include_tasks")
_BLOCK_SECTIONS = ("block", "rescue", "always")


def control_id(tag: str) -> str | None:
    """`ctl_hst_02` -> `HST-02`; None for a tag that names no control."""
    match = CONTROL_TAG.match(tag)
    return f"{match[1].upper()}-{match[2]}" if match else None


def control_tag(control: str) -> str:
    """`HST-02` -> `ctl_hst_02`, the tag a task implementing the control carries."""
    return "ctl_" + control.lower().replace("-", "_")


def prefixed(name: str, controls: tuple[str, ...]) -> str:
    """The name a task with these control ids must have: the ids, a bar, the plain sentence."""
    plain = ID_PREFIX.sub("", name)
    return f"{', '.join(controls)} | {plain}" if controls else plain


@dataclass(frozen=True)
class RoleTask:
    path: Path
    line: int  # 1-based line of the task's name (or of the task when it has none)
    name: str | None
    controls: tuple[str, ...]  # its control ids, inherited ones first, in the order they are written


def _mapping(node: Node) -> dict[str, Node]:
    if not isinstance(node, MappingNode):
        return {}
    return {key.value: value for key, value in node.value if isinstance(key, ScalarNode)}


def _tags(node: Node | None) -> list[str]:
    if isinstance(node, ScalarNode):
        return [tag.strip() for tag in str(node.value).split(",")]
    if isinstance(node, SequenceNode):
        return [str(item.value) for item in node.value if isinstance(item, ScalarNode)]
    return []


def _controls(inherited: tuple[str, ...], tags: list[str]) -> tuple[str, ...]:
    own = [c for c in map(control_id, tags) if c is not None]
    return tuple(dict.fromkeys([*inherited, *own]))


def _task_file(node: Node) -> str | None:
    """The file an import or include names (`file: x.yml` or the bare value); None when templated."""
    target = _mapping(node).get("file", node)
    if isinstance(target, ScalarNode) and "{{" not in target.value:
        return str(target.value)
    return None


class _Walker:
    def __init__(self, tasks_dir: Path) -> None:
        self.tasks_dir = tasks_dir
        self.found: list[RoleTask] = []
        self.reached: set[Path] = set()

    def file(self, path: Path, inherited: tuple[str, ...], seen: tuple[Path, ...] = ()) -> None:
        if path in seen or not path.is_file():
            return
        self.reached.add(path)
        document = yaml.compose(path.read_text())
        if isinstance(document, SequenceNode):
            self.sequence(path, document, inherited, (*seen, path))

    def sequence(
        self, path: Path, node: SequenceNode, inherited: tuple[str, ...], seen: tuple[Path, ...]
    ) -> None:
        for item in node.value:
            task = _mapping(item)
            controls = _controls(inherited, _tags(task.get("tags")))
            name = task.get("name")
            line = (name or item).start_mark.line + 1
            self.found.append(
                RoleTask(path, line, name.value if isinstance(name, ScalarNode) else None, controls)
            )
            for section in _BLOCK_SECTIONS:
                if isinstance(child := task.get(section), SequenceNode):
                    self.sequence(path, child, controls, seen)
            for key in _STATIC_IMPORTS:
                if key in task and (target := _task_file(task[key])):
                    self.file(self.tasks_dir / target, controls, seen)
            for key in _DYNAMIC_INCLUDES:
                if key in task and (target := _task_file(task[key])):
                    # An include's own tags select the include only; `apply` tags reach the included tasks.
                    applied = _tags(_mapping(_mapping(task[key]).get("apply", task[key])).get("tags"))
                    self.file(self.tasks_dir / target, _controls(inherited, applied), seen)


def role_tasks(role_dir: Path) -> list[RoleTask]:
    """Every task of the role as main.yml reaches it, then those of task files main.yml does not reach.

    A file imported from two places is listed once per place, with what each place hands down.
    """
    tasks_dir = role_dir / "tasks"
    walker = _Walker(tasks_dir)
    walker.file(tasks_dir / "main.yml", ())
    for path in sorted(tasks_dir.glob("*.yml")):
        if path not in walker.reached:
            walker.file(path, ())
    return list(dict.fromkeys(walker.found))


def name_problems(tasks: list[RoleTask]) -> Iterator[str]:
    """Tasks whose name does not start with exactly the control ids they carry."""
    for task in tasks:
        where = f"{task.path}:{task.line}"
        if task.name is None:
            if task.controls:
                yield f"{where}: a task carrying {', '.join(task.controls)} has no name"
            continue
        expected = prefixed(task.name, task.controls)
        if task.name != expected:
            yield f"{where}: name {task.name!r} should be {expected!r}"


def tasks_of_roles(roles_dir: Path) -> Iterator[RoleTask]:
    for role_dir in sorted(p for p in roles_dir.iterdir() if (p / "tasks").is_dir()):
        yield from role_tasks(role_dir)
