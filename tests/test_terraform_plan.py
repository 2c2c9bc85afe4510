"""The mocked stack exported as a Terraform plan, and checkov's findings triaged against the waiver file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from review import checkov, terraform_plan
from review.terraform_plan import DeclaredResource, StackSnapshot, UnmappedResourceType

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
Scan = tuple[list[checkov.Finding], int, str]
_SCANS: dict[tuple[str, str], Scan] = {}
_run_checkov = checkov.run_checkov


@pytest.fixture(autouse=True)
def one_checkov_scan_per_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan takes checkov seconds: a plan scanned already this session (same checkov, same plan) gets that scan's
    result again; any other plan, or none, goes to checkov."""

    def scan(binary: Path, plan: Path) -> Scan:
        if not plan.is_file():
            return _run_checkov(binary, plan)
        key = (str(binary), json.dumps(json.loads(plan.read_text()), sort_keys=True))
        if key not in _SCANS:
            _SCANS[key] = _run_checkov(binary, plan)
        findings, passed, version = _SCANS[key]
        return list(findings), passed, version

    monkeypatch.setattr(checkov, "run_checkov", scan)


def _without_alb_access_logs(stack: str) -> StackSnapshot:
    return terraform_plan.evaluate_stack(
        stack, {"secure-tenant:logArchive": {"objectLock": True, "loadBalancerAccessLogs": False}}
    )


@pytest.fixture(scope="module")
def prod_plan() -> dict[str, Any]:
    return terraform_plan.stack_plan("acme-prod")


def _planned(plan: dict[str, Any], address: str) -> dict[str, Any]:
    resources = plan["planned_values"]["root_module"]["resources"]
    values: dict[str, Any] = next(r["values"] for r in resources if r["address"] == address)
    return values


def _expressions(plan: dict[str, Any], address: str) -> dict[str, Any]:
    resources = plan["configuration"]["root_module"]["resources"]
    expressions: dict[str, Any] = next(r["expressions"] for r in resources if r["address"] == address)
    return expressions


def test_every_cloud_resource_is_planned_once_as_a_create(prod_plan: dict[str, Any]) -> None:
    planned = prod_plan["planned_values"]["root_module"]["resources"]
    changes = prod_plan["resource_changes"]
    assert len(planned) == len(changes) == len({r["address"] for r in planned}) > 150
    assert {c["change"]["actions"][0] for c in changes} == {"create"}
    assert all(r["type"].startswith("aws_") for r in planned)


def test_properties_become_terraform_attributes_and_nested_objects_blocks(prod_plan: dict[str, Any]) -> None:
    bastion = _planned(prod_plan, "aws_instance.acme-prod-bastion-a")
    assert bastion["metadata_options"][0]["http_tokens"] == "required"
    assert bastion["tags"]["Name"] == "acme-prod-bastion-a"  # map keys are data: not snake_cased
    redirect = _planned(prod_plan, "aws_lb_listener.acme-prod-http-redirect")
    assert redirect["port"] == 80 and isinstance(redirect["port"], int)
    assert redirect["default_action"][0]["redirect"][0]["status_code"] == "HTTP_301"
    alb = _planned(prod_plan, "aws_lb.acme-prod-alb")
    assert alb["access_logs"] == [{"enabled": True, "bucket": "acme-prod-lb-access-logs-bucket-id"}]
    off = _planned(terraform_plan.export(_without_alb_access_logs("acme-prod")), "aws_lb.acme-prod-alb")
    assert "access_logs" not in off


def test_a_property_taken_from_another_resource_is_a_reference_not_a_value(prod_plan: dict[str, Any]) -> None:
    address = "aws_s3_bucket_public_access_block.acme-prod-log-archive-public-access-block"
    assert "bucket" not in _planned(prod_plan, address)
    assert _expressions(prod_plan, address)["bucket"]["references"] == [
        "aws_s3_bucket.acme-prod-log-archive-bucket.id",
        "aws_s3_bucket.acme-prod-log-archive-bucket",
    ]


# A resource type no concern of ours declares.
QUEUE = DeclaredResource(
    urn="urn:pulumi:t::p::aws:sqs/queue:Queue::jobs",
    type="aws:sqs/queue:Queue",
    name="jobs",
    parent_urn="",
    custom=True,
    inputs={},
    outputs={"name": "jobs"},
)


def test_the_same_stack_exports_the_same_plan_whatever_order_its_resources_registered_in(
    prod_stack: StackSnapshot,
) -> None:
    reversed_stack = dataclasses.replace(prod_stack, resources=list(reversed(prod_stack.resources)))
    plan = terraform_plan.export(prod_stack)
    assert terraform_plan.export(reversed_stack) == plan
    addresses = [r["address"] for r in plan["planned_values"]["root_module"]["resources"]]
    assert addresses == sorted(addresses) and len(addresses) > 100


def test_a_resource_type_without_terraform_mapping_stops_the_export() -> None:
    with pytest.raises(UnmappedResourceType, match=r"aws:sqs/queue:Queue \(jobs\).*TERRAFORM_TYPES"):
        terraform_plan.export(StackSnapshot(stack="t", config={}, resources=[QUEUE]))


# --- waivers ---------------------------------------------------------------------------------------------------
REASON = "a reason long enough to be read"


def _waivers(tmp_path: Path, text: str) -> list[checkov.Waiver]:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return checkov.load_waivers(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- {check: CKV_AWS_91, resource: '*'}", "waivers.0.reason: Field required"),
        (
            "- {check: CKV_AWS_91, resource: '*', reason: later}",
            "waivers.0.reason: String should have at least",
        ),
        (f"- {{check: CKV_AWS91, resource: '*', reason: {REASON}}}", "waivers.0.check: String should match"),
        (f"- {{check: CKV_AWS_91, reason: {REASON}}}", "waivers.0.resource: Field required"),
        (
            f"- {{check: CKV_AWS_91, resource: '*', reason: {REASON}, until: x}}",
            "waivers.0.until: Extra inputs",
        ),
    ],
)
def test_a_malformed_waiver_is_refused_naming_the_entry_and_key(
    tmp_path: Path, entry: str, message: str
) -> None:
    with pytest.raises(checkov.WaiverError, match="reason of at least 20 characters") as error:
        _waivers(tmp_path, f"waivers:\n  {entry}\n")
    assert message in str(error.value)


def test_a_waiver_listed_twice_is_refused(tmp_path: Path) -> None:
    entry = f"  - {{check: CKV_AWS_91, resource: '*', reason: {REASON}}}\n"
    with pytest.raises(checkov.WaiverError, match="listed twice"):
        _waivers(tmp_path, "waivers:\n" + entry + entry)


def test_a_waiver_covers_only_its_check_and_its_resources(tmp_path: Path) -> None:
    waivers = _waivers(
        tmp_path,
        f"waivers:\n  - {{check: CKV_AWS_91, resource: 'aws_lb.*-alb', reason: {REASON}}}\n"
        f"  - {{check: CKV_AWS_18, resource: '*', reason: {REASON}}}\n"
        f"  - {{check: CKV_AWS_1, resource: '*', reason: {REASON}}}\n",
    )
    findings = [
        checkov.Finding("CKV_AWS_91", "access logs", "aws_lb.acme-prod-alb"),
        checkov.Finding("CKV_AWS_91", "access logs", "aws_lb.acme-prod-nlb"),
        checkov.Finding("CKV_AWS_18", "access logging", "aws_s3_bucket.any"),
        checkov.Finding("CKV_AWS_145", "kms", "aws_s3_bucket.any"),  # '*' of another check does not cover it
    ]
    scan = checkov.triage("s", findings, 10, "3", waivers)
    assert [(f.check_id, f.resource) for f in scan.failed] == [
        ("CKV_AWS_145", "aws_s3_bucket.any"),
        ("CKV_AWS_91", "aws_lb.acme-prod-nlb"),
    ]
    assert [f.resource for f, _ in scan.waived] == ["aws_s3_bucket.any", "aws_lb.acme-prod-alb"]
    assert checkov.unused_waivers(waivers, [scan]) == [waivers[2]]  # stale: matches nothing
    assert "| CKV_AWS_145 | `aws_s3_bucket.any` | kms |" in checkov.render_markdown(scan)


def test_the_project_waiver_file_is_valid_and_every_waiver_gives_its_reason() -> None:
    waivers = checkov.load_waivers()
    assert waivers and all(len(w.reason) >= 20 for w in waivers)


# --- checkov itself ----------------------------------------------------------------------------------------------
def test_checkov_reads_the_export_and_flags_alb_access_logs_only_when_off(tmp_path: Path) -> None:
    def failed(snapshot: StackSnapshot) -> set[tuple[str, str]]:
        path = tmp_path / "tfplan.json"
        path.write_text(json.dumps(terraform_plan.export(snapshot)))
        findings, passed, version = checkov.run_checkov(CHECKOV, path)
        assert passed > 100 and version
        return {(f.check_id, f.resource) for f in findings}

    off = failed(_without_alb_access_logs("acme-preprod"))
    assert ("CKV_AWS_91", "aws_lb.acme-preprod-alb") in off
    # The graph checks follow the exported references: the buckets have their public access blocks.
    assert "CKV2_AWS_6" not in {check for check, _ in off}
    on = failed(terraform_plan.evaluate_stack("acme-preprod"))
    assert ("CKV_AWS_91", "aws_lb.acme-preprod-alb") not in on
    assert ("CKV_AWS_145", "aws_s3_bucket.acme-preprod-lb-access-logs-bucket") in on  # SSE-S3, as ELB needs


def test_checkov_that_reads_no_resource_is_an_error_not_a_pass(tmp_path: Path) -> None:
    fake = tmp_path / "checkov"
    fake.write_text(
        '#!/bin/sh\necho \'{"passed": 0, "failed": 0, "resource_count": 0, "checkov_version": "x"}\'\n'
    )
    fake.chmod(0o755)
    with pytest.raises(RuntimeError, match="read no resource"):
        checkov.run_checkov(fake, tmp_path / "tfplan.json")


def test_an_unwaived_finding_fails_the_scan_and_is_written_for_the_report(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers: []\n")
    argv = ["acme-preprod", "--checkov", str(CHECKOV), "--waivers", str(waivers), "--out", str(tmp_path)]
    assert checkov.main(argv) == 1
    result = json.loads((tmp_path / "acme-preprod.json").read_text())
    assert ("CKV_AWS_145", "aws_s3_bucket.acme-preprod-lb-access-logs-bucket") in {
        (f["check_id"], f["resource"]) for f in result["failed"]
    }
    report = (tmp_path / "acme-preprod.md").read_text()
    assert "| CKV_AWS_145 | `aws_s3_bucket.acme-preprod-lb-access-logs-bucket` |" in report
    assert (tmp_path / "acme-preprod" / "tfplan.json").is_file()


def test_a_malformed_waiver_file_stops_the_scan_before_any_stack(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - {check: CKV_AWS_91, resource: '*'}\n")
    argv = ["no-such-stack", "--checkov", "/nonexistent", "--waivers", str(waivers), "--out", str(tmp_path)]
    assert checkov.main(argv) == 2
    assert list(tmp_path.iterdir()) == [waivers]
