"""The controls matrix agrees with the policy it cites and with the code: both ways, nothing kept by hand."""

from __future__ import annotations

import html
from typing import Any

import pytest
from pydantic import ValidationError

from evidence.controls import (
    POLICY,
    Citation,
    Control,
    Matrix,
    load,
    problems,
    requirements,
    uncited,
    uncovered,
)

POLICY_DOCUMENT = "docs/policy.md"
SOURCE = {"document": POLICY_DOCUMENT, "text": "EU only"}


def control(control_id: str, **fields: Any) -> Control:
    """A made-up control: cites a real policy line, is implemented by TenantNetwork and checked by a real policy."""
    return Control.model_validate(
        {
            "id": control_id,
            "requirement": "made up",
            "source": SOURCE,
            "implemented_by": [{"infra": "TenantNetwork"}],
            "checks": [{"policy": "eu-region-only"}],
        }
        | fields
    )


def messages(*controls: Control) -> list[str]:
    return [p.message for p in problems(Matrix(controls=list(controls)))]


def test_the_matrix_names_only_implementations_and_checks_that_exist() -> None:
    assert [f"{p.control}: {p.message}" for p in problems(load())] == []


def test_every_control_id_the_code_cites_is_in_the_matrix_with_that_policy_and_role() -> None:
    assert [f"{p.control}: {p.message}" for p in uncited(load())] == []


def test_the_cited_ids_are_read_from_each_kind_of_code() -> None:
    from evidence.controls import citations

    cited = {(c.kind, c.name): c.control for c in citations()}
    assert cited[("policy", "eu-region-only")] == "NET-02"
    assert cited[("role", "os_baseline")] in {
        "HST-01",
        "HST-02",
        "HST-03",
        "HST-04",
        "HST-05",
        "HST-06",
        "HST-07",
    }
    assert cited[("config_rule", "EC2_IMDSV2_CHECK")] == "HST-01"
    assert cited[("firewall_rule", "100004 ACC-04 SSH out of the tenant")] == "ACC-04"
    # With an empty matrix, every id the code cites is reported: the set the matrix must cover is derived, and
    # it is most of the matrix (the rest is implemented by tools and workflows, which name no id).
    missing = {p.control for p in uncited(Matrix(controls=[]))}
    assert missing == {c.control for c in citations()}
    assert len(missing) >= len(load().controls) - 3


def test_every_line_of_the_policy_is_implemented_by_a_control() -> None:
    assert len(requirements(POLICY_DOCUMENT)) >= 10
    assert uncovered(load()) == []
    assert uncovered(Matrix(controls=[control("NET-99")])) == [
        line for line in requirements(POLICY_DOCUMENT) if line != "EU only"
    ]
    assert POLICY.is_file()


def test_an_id_the_code_cites_that_the_matrix_lacks_is_reported() -> None:
    matrix = Matrix(controls=[control("NET-02")])
    found = uncited(
        matrix,
        [
            Citation("NET-42", "config_rule", "SOME_RULE"),
            Citation("", "firewall_rule", "100009 egress without an id"),
            Citation("NET-02", "policy", "eu-providers-only"),
            Citation("NET-02", "role", "host_firewall"),
            Citation("NET-02", "policy", "eu-region-only"),
        ],
    )
    assert [f"{p.control}: {p.message}" for p in found] == [
        "NET-42: cited by config rule SOME_RULE but not in the matrix",
        "-: firewall rule 100009 egress without an id names no control id",
        "NET-02: policy eu-providers-only declares this control but is not among its checks",
        "NET-02: role host_firewall tags tasks ctl_net_02 but is not among its implementations",
    ]


def test_a_dangling_reference_is_reported() -> None:
    made_up = control(
        "NET-99",
        implemented_by=[{"role": "no_such_role"}, {"role": "openssl"}],
        checks=[
            {"test": "tests/test_network.py::test_that_does_not_exist"},
            {"policy": "nope"},
            {"molecule": "openvpn/no_such_scenario"},
        ],
    )
    assert set(messages(made_up)) == {
        "role no_such_role does not exist",
        "role openssl has no task tagged ctl_net_99",
        "test tests/test_network.py::test_that_does_not_exist does not exist",
        "policy nope is not in the pack",
        "molecule scenario no_such_scenario of role openvpn does not exist",
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"document": POLICY_DOCUMENT, "text": "EU  only"},
            "source text 'EU  only' is not a line of docs/policy.md",
        ),
        (
            {"document": POLICY_DOCUMENT, "text": "EU"},
            "source text 'EU' is not a line of docs/policy.md",
        ),
        (
            {"document": "docs/no-such-policy.md", "text": "EU only"},
            "source document docs/no-such-policy.md does not exist or lists no requirement",
        ),
        (
            {"document": "../../etc/policy.md", "text": "EU only"},
            "source document ../../etc/policy.md does not exist or lists no requirement",
        ),
        (
            {"document": "README.md", "text": "EU only"},
            "source document README.md does not exist or lists no requirement",
        ),
    ],
)
def test_a_source_must_be_a_line_of_a_policy_document_in_the_repository(
    source: dict[str, str], message: str
) -> None:
    assert messages(control("NET-95", source=source)) == [message]


@pytest.mark.parametrize(
    "fields",
    [
        {"source": None},
        {"source": {"document": POLICY_DOCUMENT}},
        {"source": {"document": POLICY_DOCUMENT, "text": ""}},
        {"implemented_by": [{"script": "run.sh"}]},
        {"checks": [{"manual": "ask Bob"}]},
        {"id": "NET-1"},
    ],
)
def test_a_malformed_control_is_refused_when_the_matrix_is_read(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        control("NET-94", **fields)


def test_a_control_without_check_is_reported() -> None:
    assert messages(control("NET-98", checks=[])) == ["has no check"]


def test_a_gap_must_name_the_open_issue_that_closes_it() -> None:
    gap = {"implemented_by": [], "checks": []}
    assert messages(control("NET-97", gap="not written yet", **gap)) == [
        "a gap must name the open issue that closes it"
    ]
    assert messages(control("NET-96", gap="role x lands with issue 7", **gap)) == []


def test_the_evidence_report_shows_the_policy_line_each_control_implements() -> None:
    from evidence.report import render_html, render_markdown

    made_up = control("NET-02")
    cited = '(implements "EU only", Security policy brief, docs/policy.md)'
    assert f"| NET-02 | made up {cited} |" in render_markdown([made_up], {"NET-02": []}, {}, "now")
    assert html.escape(cited) in render_html([made_up], {"NET-02": []}, {}, "now")
