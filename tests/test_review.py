"""The reviewer's report: diffs against a saved preview, high-risk changes, Markdown for a pull request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from review import report as review
from review.offline import StackSnapshot, evaluate_stack
from review.preview import main as preview_main


def changes_by_name(changes: list[review.Change]) -> dict[str, review.Change]:
    return {change.name: change for change in changes}


def test_same_stack_twice_has_no_changes(preprod_stack: StackSnapshot) -> None:
    assert review.diff(review.saved_form(preprod_stack), preprod_stack) == []


def test_a_first_preview_creates_everything(preprod_stack: StackSnapshot) -> None:
    changes = review.diff({}, preprod_stack)
    assert {c.kind for c in changes} == {"create"}
    assert len(changes) == sum(r.custom for r in preprod_stack.resources)


def test_in_place_update_lists_the_changed_inputs(preprod_stack: StackSnapshot) -> None:
    longer = evaluate_stack("acme-preprod", {"secure-tenant:logRetentionDays": 545})
    change = changes_by_name(review.diff(review.saved_form(preprod_stack), longer))[
        "acme-preprod-flow-logs-group"
    ]
    assert (change.kind, change.keys, change.high_risk) == ("update", ("retentionInDays",), False)


def test_cidr_change_replaces_vpc_and_subnets(preprod_stack: StackSnapshot) -> None:
    moved = evaluate_stack("acme-preprod", {"secure-tenant:vpcCidr": "10.22.0.0/20"})
    changes = changes_by_name(review.diff(review.saved_form(preprod_stack), moved))
    assert changes["acme-preprod-vpc"].kind == "replace"
    assert changes["acme-preprod-public-a"].kind == "replace"


def test_deleting_a_key_or_log_group_is_flagged_high_risk(preprod_stack: StackSnapshot) -> None:
    previous = review.saved_form(preprod_stack)
    previous["resources"]["urn:old-key"] = {
        "type": "aws:kms/key:Key",
        "name": "acme-preprod-old-key",
        "inputs": {},
    }
    previous["resources"]["urn:old-sg"] = {
        "type": "aws:ec2/securityGroup:SecurityGroup",
        "name": "old-sg",
        "inputs": {},
    }
    changes = changes_by_name(review.diff(previous, preprod_stack))
    assert changes["acme-preprod-old-key"].high_risk is True
    assert changes["old-sg"].kind == "delete" and changes["old-sg"].high_risk is False


def test_cli_writes_markdown_report_and_saves_for_the_next_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved, report = tmp_path / "preview.json", tmp_path / "report.md"
    preview_main(["--stack", "acme-preprod", "--save", str(saved)])
    preview_main(
        [
            "--stack",
            "acme-preprod",
            "--set",
            "secure-tenant:logRetentionDays=545",
            "--against",
            str(saved),
            "--markdown",
            str(report),
        ]
    )
    markdown = report.read_text()
    assert "## Stack `acme-preprod`" in markdown and "**Policy pack:**" in markdown
    assert (
        "| update | `aws:cloudwatch/logGroup:LogGroup` | `acme-preprod-flow-logs-group` | retentionInDays |"
        in markdown
    )
    assert json.loads(saved.read_text())["stack"] == "acme-preprod"
    assert "resources to create" in capsys.readouterr().out


def test_cli_refuses_bad_config_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview_main(["--stack", "acme-prod", "--set", "aws:region=us-east-1"]) == 2
    assert "aws:region" in capsys.readouterr().err
