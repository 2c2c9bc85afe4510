"""The controls matrix is complete and every implementation and check it names exists."""

from __future__ import annotations

from evidence.controls import Control, Matrix, Reference, load, problems, uncited
from infra.baseline import Control as CitedControl

POLICY_CONTROL_IDS = (
    "NET-01",
    "NET-02",
    "NET-03",
    "NET-04",
    "NET-05",
    "NET-06",
    "EDGE-01",
    "EDGE-02",
    "EDGE-03",
    "EDGE-04",
    "CRY-01",
    "CRY-02",
    "CRY-03",
    "CRY-04",
    "CRY-05",
    "ACC-01",
    "ACC-02",
    "ACC-03",
    "ACC-04",
    "ACC-05",
    "LOG-01",
    "LOG-02",
    "LOG-03",
    "LOG-04",
    "BAK-01",
    "HST-01",
    "HST-02",
    "HST-03",
    "HST-04",
    "HST-05",
    "HST-06",
    "HST-07",
    "CHG-01",
    "VUL-01",
)


def test_the_matrix_names_only_implementations_and_checks_that_exist() -> None:
    assert [f"{p.control}: {p.message}" for p in problems(load())] == []


def test_every_control_id_the_code_cites_is_in_the_matrix() -> None:
    assert uncited(load()) == []
    assert [p.control for p in uncited(Matrix(controls=[]))] == [cited.value for cited in CitedControl]


def test_every_policy_requirement_has_a_control() -> None:
    assert sorted(c.id for c in load().controls) == sorted(POLICY_CONTROL_IDS)


def test_a_dangling_reference_is_reported() -> None:
    control = Control(
        id="NET-99",
        requirement="made up",
        implemented_by=[Reference(kind="role", name="no_such_role")],
        checks=[
            Reference(kind="test", name="tests/test_network.py::test_that_does_not_exist"),
            Reference(kind="policy", name="nope"),
            Reference(kind="molecule", name="openvpn/no_such_scenario"),
        ],
    )
    messages = {p.message for p in problems(Matrix(controls=[control]))}
    assert messages == {
        "role no_such_role does not exist",
        "test tests/test_network.py::test_that_does_not_exist does not exist",
        "policy nope is not in the pack",
        "molecule scenario no_such_scenario of role openvpn does not exist",
    }


def test_a_control_without_check_is_reported() -> None:
    control = Control(
        id="NET-98",
        requirement="made up",
        implemented_by=[Reference(kind="infra", name="TenantNetwork")],
        checks=[],
    )
    assert [p.message for p in problems(Matrix(controls=[control]))] == ["has no check"]


def test_a_gap_must_name_the_open_issue_that_closes_it() -> None:
    control = Control(id="NET-97", requirement="made up", implemented_by=[], checks=[], gap="not written yet")
    assert [p.message for p in problems(Matrix(controls=[control]))] == [
        "a gap must name the open issue that closes it"
    ]
    named = Control(
        id="NET-96", requirement="made up", implemented_by=[], checks=[], gap="role x lands with issue 7"
    )
    assert problems(Matrix(controls=[named])) == []
