"""The reviewer's report: diffs against a saved preview, high-risk changes, Markdown for a pull request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from review import report as review
from review.offline import StackSnapshot, evaluate_stack
from review.preview import main as preview_main
from review.verdict import Violation
from tests.stacks import approved, evaluate_waived


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


# --- the report a reviewer approves ------------------------------------------------------------------------------
KEY_ADMIN = "arn:aws:iam::123456789012:role/acme-key-admin"
# A firewall rule, an exposed port and a key policy changed against acme-prod's stack file.
CHANGED_PROD = {
    "secure-tenant:bastion": {"dataVolumeGb": 20, "vpnPort": 443},
    "secure-tenant:keys": {"adminRoleArns": [KEY_ADMIN]},
    "secure-tenant:firewall": {
        "egressDomains": [
            {"domain": "deb.debian.org", "protocols": ["http", "tls"]},
            {"domain": "sts.eu-west-1.amazonaws.com"},
            {"domain": "secretsmanager.eu-west-1.amazonaws.com"},
        ],
        "extraRulesFile": "tenants/acme/firewall.rules",
    },
}


@pytest.fixture(scope="module")
def changed_prod_review(prod_stack: StackSnapshot) -> review.Review:
    from review.pack_runner import run_pack

    changed = evaluate_stack("acme-prod", CHANGED_PROD)
    return review.Review(changed, run_pack(changed), review.saved_form(prod_stack), "baseline/acme-prod.json")


def test_the_report_shows_the_changed_port_rule_and_key_policy_under_a_verdict(
    changed_prod_review: review.Review,
) -> None:
    markdown = review.render_markdown(changed_prod_review)
    lines = markdown.splitlines()
    assert lines[2].startswith("**Verdict:** REVIEW: 2 new ways in from the internet, 2 ways in closed,")
    assert "5 policy statements changed" in lines[2] and "firewall rules changed" in lines[2]
    # the port
    assert (
        "| new | udp | 443 | 203.0.113.0/28 | security group acme-prod-bastion-sg | VPN on instance acme-prod-bastion-a |"
        in lines
    )
    assert (
        "| removed | udp | 1194 | 203.0.113.0/28 | security group acme-prod-bastion-sg "
        "| VPN on instance acme-prod-bastion-a |" in lines
    )
    # the key policy, statement by statement
    key_rows = [
        line for line in lines if line.startswith("| added | KMS key policy | `acme-prod-logs-key` |")
    ]
    assert len(key_rows) == 1 and "`NamedKeyAdministratorsManageButCannotUse`" in key_rows[0]
    assert KEY_ADMIN in key_rows[0]
    # the firewall rules: security.debian.org no longer allowed, the VPN pass rule moved to 443
    removed = [line for line in lines if line.startswith("| removed | acme-prod-nfw-allow-rules |")]
    assert any('content:"security.debian.org"' in line for line in removed)
    assert any("OpenVPN UDP 1194" in line for line in removed)
    assert any(line.startswith("| added |") and "OpenVPN UDP 443" in line for line in lines)
    text = review.render_text(changed_prod_review)
    assert text.splitlines()[0] == f"Verdict: {review.verdict(changed_prod_review)}"
    assert "new | udp | 443 | 203.0.113.0/28 | security group acme-prod-bastion-sg" in text


def test_an_unchanged_stack_is_routine_and_a_mandatory_violation_blocks(prod_stack: StackSnapshot) -> None:
    same = review.Review(prod_stack, [], review.saved_form(prod_stack), "baseline.json")
    assert review.verdict(same).startswith("ROUTINE: policy pack passes (0 advisory), nothing new reachable")
    violation = Violation("no-world-ingress", "NET-06", "mandatory", "acme-prod-alb-sg", "tcp 22 is open")
    blocked = review.Review(prod_stack, [violation], review.saved_form(prod_stack), "baseline.json")
    assert review.verdict(blocked) == "BLOCKED: policy pack fails (1 mandatory violation)"
    first = review.Review(prod_stack, [], {}, None)
    assert review.verdict(first).endswith("; no approved baseline, so everything is new")


def test_exceptions_added_and_removed_are_listed(prod_stack: StackSnapshot) -> None:
    previous = review.saved_form(prod_stack)
    previous["outputs"] = {**previous["outputs"], "exceptions": {"noShieldAdvanced": "budget"}}
    waived = {"shortLogRetention": "preprod keeps 90 days of logs, its data is synthetic"}
    short = evaluate_waived("acme-preprod", {"secure-tenant:logRetentionDays": 90}, waived)
    result = review.Review(short, [], previous, "baseline.json")
    kinds = {(c.kind, c.name) for c in result.exceptions}
    assert ("removed", "noShieldAdvanced") in kinds
    assert ("added", "shortLogRetention") in kinds
    markdown = review.render_markdown(result)
    assert "| removed | `noShieldAdvanced` | budget |" in markdown
    assert f"| added | `shortLogRetention` | {approved(waived, 'preprod')['shortLogRetention']} |" in markdown


def test_a_replaced_bucket_names_the_input_that_forces_it_and_says_only_the_engine_knows(
    prod_stack: StackSnapshot,
) -> None:
    previous = review.saved_form(prod_stack)
    bucket = next(urn for urn, r in previous["resources"].items() if r["type"] == "aws:s3/bucket:Bucket")
    old = previous["resources"][bucket]
    previous["resources"][bucket] = {**old, "inputs": {**old["inputs"], "objectLockEnabled": False}}
    result = review.Review(prod_stack, [], previous, "baseline.json")
    (risky,) = result.high_risk
    assert (risky.kind, risky.forced_by) == ("replace", ("objectLockEnabled",))
    markdown = review.render_markdown(result)
    assert f"| replace | `aws:s3/bucket:Bucket` | `{old['name']}` | objectLockEnabled |" in markdown
    assert review.ENGINE_NOTE in markdown and "> [!WARNING]" in markdown


def test_a_pipe_in_a_rule_does_not_break_the_markdown_table(prod_stack: StackSnapshot) -> None:
    previous = review.saved_form(prod_stack)
    group = next(
        r for r in previous["resources"].values() if r["type"] == "aws:networkfirewall/ruleGroup:RuleGroup"
    )
    source = group["inputs"]["ruleGroup"]["rulesSource"]
    hexed = 'alert tcp any any -> any any (msg:"nul"; content:"|00|"; sid:1999999; rev:1;)'
    source["rulesString"] = source["rulesString"] + "\n" + hexed
    markdown = review.render_markdown(review.Review(prod_stack, [], previous, "baseline.json"))
    (row,) = [line for line in markdown.splitlines() if "sid:1999999" in line]
    assert row.startswith("| removed |") and 'content:"\\|00\\|"' in row
    assert row.replace("\\|", "").count("|") == 6  # five cells


def test_a_baseline_directory_compares_with_the_stacks_file_or_says_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markdown = tmp_path / "report.md"
    assert (
        preview_main(["--stack", "acme-preprod", "--baseline", str(tmp_path), "--markdown", str(markdown)])
        == 0
    )
    assert f"no approved preview {tmp_path / 'acme-preprod.json'} yet" in capsys.readouterr().err
    assert "no approved baseline, so everything is new" in markdown.read_text()
    preview_main(["--stack", "acme-preprod", "--save", str(tmp_path / "acme-preprod.json")])
    preview_main(["--stack", "acme-preprod", "--baseline", str(tmp_path), "--markdown", str(markdown)])
    assert "**Verdict:** ROUTINE" in markdown.read_text()
    with pytest.raises(SystemExit) as refused:  # one baseline or the other, never both
        preview_main(["--stack", "acme-preprod", "--baseline", str(tmp_path), "--against", "x"])
    assert refused.value.code == 2
