"""The controls matrix (controls.yaml): each policy requirement, what implements it and what proves it.

`problems()` is what the test suite asserts empty: a control without implementation or check, or naming an
implementation or a check that does not exist, is a defect of the matrix, not a footnote.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from infra.baseline import Control as CitedControl

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "controls.yaml"

ImplementationKind = Literal["infra", "role", "tool", "policy_pack"]
CheckKind = Literal["policy", "test", "molecule", "workflow"]
IMPLEMENTATION_KINDS: tuple[ImplementationKind, ...] = get_args(ImplementationKind)
CHECK_KINDS: tuple[CheckKind, ...] = get_args(CheckKind)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Strict):
    """One `kind: name` entry, e.g. `role: ssh_hardening` or `test: tests/test_x.py::test_y`."""

    kind: str
    name: str

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, value: object) -> object:
        if isinstance(value, dict) and len(value) == 1 and "kind" not in value:
            ((kind, name),) = value.items()
            return {"kind": kind, "name": str(name)}
        return value


class Control(_Strict):
    id: str = Field(pattern=r"^[A-Z]{2,4}-\d{2}$")
    requirement: str
    implemented_by: list[Reference]
    checks: list[Reference]
    # A known, open gap: what is missing and which open issue delivers it. Reported as a gap, never as a pass.
    gap: str | None = None

    @property
    def tag(self) -> str:
        """The Ansible tag a role task carries when it implements this control (`ctl_acc_04`)."""
        return "ctl_" + self.id.lower().replace("-", "_")


class Matrix(_Strict):
    controls: list[Control]


def load(path: Path = MATRIX) -> Matrix:
    return Matrix.model_validate(yaml.safe_load(path.read_text()))


@cache
def _infra_components() -> frozenset[str]:
    names = set()
    for source in (ROOT / "infra").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Attribute) and base.attr == "ComponentResource" for base in node.bases
            ):
                names.add(node.name)
    return frozenset(names)


@cache
def _test_functions(path: str) -> frozenset[str]:
    source = ROOT / path
    if not source.is_file():
        return frozenset()
    tree = ast.parse(source.read_text())
    return frozenset(
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    )


def _role_tags(role: str) -> set[str]:
    text = "\n".join(p.read_text() for p in (ROOT / "roles" / role / "tasks").glob("*.yml"))
    return set(re.findall(r"\bctl_[a-z]+_\d{2}\b", text))


def _policy_names() -> set[str]:
    from policy.baseline import POLICIES

    return {spec.name for spec in POLICIES}


def _implementation_problem(control: Control, ref: Reference) -> str | None:
    if ref.kind == "infra" and ref.name not in _infra_components():
        return f"infra component {ref.name} does not exist"
    if ref.kind == "role":
        if not (ROOT / "roles" / ref.name / "tasks").is_dir():
            return f"role {ref.name} does not exist"
        if control.tag not in _role_tags(ref.name):
            return f"role {ref.name} has no task tagged {control.tag}"
    if ref.kind in ("tool", "policy_pack") and not (ROOT / ref.name).exists():
        return f"{ref.kind} {ref.name} does not exist"
    if ref.kind not in IMPLEMENTATION_KINDS:
        return f"unknown implementation kind {ref.kind}"
    return None


def molecule_scenario(name: str) -> tuple[str, str]:
    """A molecule check names a role (its default scenario) or role/scenario."""
    role, _, scenario = name.partition("/")
    return role, scenario or "default"


def molecule_check_name(role: str, scenario: str) -> str:
    """The name a control's molecule check gives this scenario (the inverse of molecule_scenario)."""
    return role if scenario == "default" else f"{role}/{scenario}"


def approval_gate(name: str) -> str | None:
    """What a `workflow: <file>::<job>` check declares: the environment the job waits for, or None.

    Only the declaration is in the repository; the environment's required reviewers and "prevent self-review"
    are repository settings, so the evidence can say the gate is declared, never that it was observed.
    """
    path, _, job = name.partition("::")
    source = ROOT / path
    if not source.is_file():
        return None
    spec = (yaml.safe_load(source.read_text()).get("jobs") or {}).get(job) or {}
    environment = spec.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    return str(environment) if environment else None


def _check_problem(ref: Reference) -> str | None:
    if ref.kind == "policy" and ref.name not in _policy_names():
        return f"policy {ref.name} is not in the pack"
    if ref.kind == "test":
        path, _, function = ref.name.partition("::")
        if function.split("[")[0] not in _test_functions(path):
            return f"test {ref.name} does not exist"
    if ref.kind == "molecule":
        role, scenario = molecule_scenario(ref.name)
        if not (ROOT / "roles" / role / "molecule" / scenario / "molecule.yml").is_file():
            return f"molecule scenario {scenario} of role {role} does not exist"
    if ref.kind == "workflow" and approval_gate(ref.name) is None:
        return f"workflow job {ref.name} does not exist or waits for no environment"
    if ref.kind not in CHECK_KINDS:
        return f"unknown check kind {ref.kind}"
    return None


@dataclass(frozen=True)
class Problem:
    control: str
    message: str


def uncited(matrix: Matrix) -> list[Problem]:
    """Control ids the code cites (Config rules, firewall rule messages) that the matrix does not list."""
    ids = {c.id for c in matrix.controls}
    return [
        Problem(cited, "cited by the code (infra.baseline.Control) but not in the matrix")
        for cited in CitedControl
        if cited not in ids
    ]


def problems(matrix: Matrix) -> list[Problem]:
    found = []
    ids = [c.id for c in matrix.controls]
    found += [Problem(i, "listed twice") for i in {i for i in ids if ids.count(i) > 1}]
    for control in matrix.controls:
        if control.gap is not None and not re.search(r"issue \d+", control.gap):
            found.append(Problem(control.id, "a gap must name the open issue that closes it"))
        if not control.implemented_by and control.gap is None:
            found.append(Problem(control.id, "has no implementation"))
        if not control.checks and control.gap is None:
            found.append(Problem(control.id, "has no check"))
        for ref in control.implemented_by:
            if message := _implementation_problem(control, ref):
                found.append(Problem(control.id, message))
        for ref in control.checks:
            if message := _check_problem(ref):
                found.append(Problem(control.id, message))
    return found
