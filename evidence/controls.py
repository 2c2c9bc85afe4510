"""The controls matrix (controls.yaml): each policy requirement, what implements it and what proves it.

`problems()` and `uncited()` are what the test suite asserts empty: a control without implementation or check,
naming an implementation or a check that does not exist, or citing a line its policy document does not have, and
a control id the code cites (`citations()`) that the matrix does not list, are defects of the matrix, not
footnotes. `uncovered()` lists the policy's lines no control implements.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from ipaddress import IPv4Network
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evidence.role_tasks import control_tag, tasks_of_roles

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "controls.yaml"
# The security policy brief: the requirements every control cites, one a line.
POLICY = ROOT / "docs" / "policy.md"
CONTROL_ID = r"[A-Z]{2,4}-\d{2}"

ImplementationKind = Literal["infra", "role", "tool", "policy_pack"]
CheckKind = Literal["policy", "test", "molecule", "workflow"]


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


class Implementation(Reference):
    kind: ImplementationKind


class Check(Reference):
    kind: CheckKind


class Source(_Strict):
    """The seed requirement a control implements: its document (a path in the repository) and its line there."""

    document: str = Field(pattern=r"^[\w./-]+\.md$")
    text: str = Field(min_length=1)


class Control(_Strict):
    id: str = Field(pattern=f"^{CONTROL_ID}$")
    requirement: str
    source: Source
    implemented_by: list[Implementation]
    checks: list[Check]
    # A known, open gap: what is missing and which open issue delivers it. Reported as a gap, never as a pass.
    gap: str | None = None

    @property
    def tag(self) -> str:
        """The Ansible tag a role task carries when it implements this control (`ctl_acc_04`)."""
        return control_tag(self.id)


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


@cache
def _role_controls() -> dict[str, frozenset[str]]:
    """Each role's control ids, from the tags its tasks carry (their own and those they inherit)."""
    found: dict[str, set[str]] = {}
    for task in tasks_of_roles(ROOT / "roles"):
        found.setdefault(task.path.relative_to(ROOT / "roles").parts[0], set()).update(task.controls)
    return {role: frozenset(ids) for role, ids in found.items()}


@cache
def requirements(document: str) -> tuple[str, ...]:
    """The requirement lines of a policy document: its `- ` list items, word for word; () when it is missing."""
    path = (ROOT / document).resolve()
    if not path.is_relative_to(ROOT) or not path.is_file():
        return ()
    return tuple(line[2:].strip() for line in path.read_text().splitlines() if line.startswith("- "))


def document_title(document: str) -> str:
    """The document's first heading, which names it in the evidence report."""
    path = ROOT / document
    headings = [line[2:].strip() for line in path.read_text().splitlines() if line.startswith("# ")]
    return headings[0] if headings else document


def _policy_names() -> set[str]:
    from infra.policy_pack import all_policies

    return {spec.name for spec in all_policies()}


def _implementation_problem(control: Control, ref: Reference) -> str | None:
    if ref.kind == "infra" and ref.name not in _infra_components():
        return f"infra component {ref.name} does not exist"
    if ref.kind == "role":
        if not (ROOT / "roles" / ref.name / "tasks").is_dir():
            return f"role {ref.name} does not exist"
        if control.id not in _role_controls().get(ref.name, ()):
            return f"role {ref.name} has no task tagged {control.tag}"
    if ref.kind in ("tool", "policy_pack") and not (ROOT / ref.name).exists():
        return f"{ref.kind} {ref.name} does not exist"
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
    return None


def _source_problem(source: Source) -> str | None:
    if not requirements(source.document):
        return f"source document {source.document} does not exist or lists no requirement"
    if source.text not in requirements(source.document):
        return f"source text {source.text!r} is not a line of {source.document}"
    return None


@dataclass(frozen=True)
class Problem:
    control: str
    message: str


CitationKind = Literal["policy", "role", "config_rule", "firewall_rule", "code"]


@dataclass(frozen=True)
class Citation:
    """A place in the code that names a control id ("" when a firewall rule's message starts with none)."""

    control: str
    kind: CitationKind
    name: str


def _firewall_rule_messages() -> Iterator[tuple[int, str]]:
    """(sid, msg) of every rule the stack generates: the baseline group and each kind of allow rule."""
    from infra.firewall.generate import firewall_rules

    rules = firewall_rules(
        IPv4Network("10.0.0.0/16"),
        IPv4Network("10.99.0.0/24"),
        [("example.org", ("tls", "http")), (".example.org", ("tls", "http"))],
        (),
        ("udp", 1194),
    )
    for rule in rules.rules:
        yield rule.sid or 0, rule.msg or ""


def citations() -> list[Citation]:
    """Every control id the code names, read from the code itself.

    Pack policies (the control each declares), role task tags, AWS Config rules, the messages of the firewall
    rules the stack generates, and infra.baseline.Control (which resource descriptions cite).
    """
    from infra.audit.component import CONFIG_RULES
    from infra.baseline import Control as CitedControl
    from infra.policy_pack import all_policies

    found = [Citation(spec.control, "policy", spec.name) for spec in all_policies()]
    found += [
        Citation(c, "role", role) for role, ids in sorted(_role_controls().items()) for c in sorted(ids)
    ]
    found += [Citation(control, "config_rule", rule) for rule, (control, _) in CONFIG_RULES.items()]
    for sid, message in _firewall_rule_messages():
        cited = re.match(f"({CONTROL_ID}) ", message)
        found.append(Citation(cited[1] if cited else "", "firewall_rule", f"{sid} {message}"))
    found += [Citation(cited.value, "code", f"infra.baseline.Control.{cited.name}") for cited in CitedControl]
    return found


def uncited(matrix: Matrix, cited: list[Citation] | None = None) -> list[Problem]:
    """Where the code and the matrix disagree: an id the matrix does not list, a firewall rule without an id, a
    policy that is not among its control's checks, a role tagged for a control that does not name it."""
    controls = {c.id: c for c in matrix.controls}
    found = []
    for citation in citations() if cited is None else cited:
        where = f"{citation.kind.replace('_', ' ')} {citation.name}"
        control = controls.get(citation.control)
        if not citation.control:
            found.append(Problem("-", f"{where} names no control id"))
        elif control is None:
            found.append(Problem(citation.control, f"cited by {where} but not in the matrix"))
        elif citation.kind == "policy" and Check(kind="policy", name=citation.name) not in control.checks:
            found.append(Problem(control.id, f"{where} declares this control but is not among its checks"))
        elif (
            citation.kind == "role"
            and Implementation(kind="role", name=citation.name) not in control.implemented_by
        ):
            found.append(
                Problem(control.id, f"{where} tags tasks {control.tag} but is not among its implementations")
            )
    return found


def uncovered(matrix: Matrix, document: Path = POLICY) -> list[str]:
    """The requirement lines of the policy that no control cites as its source."""
    name = str(document.relative_to(ROOT))
    cited = {c.source.text for c in matrix.controls if c.source.document == name}
    return [line for line in requirements(name) if line not in cited]


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
        if message := _source_problem(control.source):
            found.append(Problem(control.id, message))
        for implementation in control.implemented_by:
            if message := _implementation_problem(control, implementation):
                found.append(Problem(control.id, message))
        for check in control.checks:
            if message := _check_problem(check):
                found.append(Problem(control.id, message))
    return found
