"""`secure-tenant fleet preview|up|refresh|drift|outputs` through the real pulumi.automation SDK.

The Pulumi CLI cannot be installed on these machines, so the SDK drives tests/fake_pulumi.py as its `pulumi`: the
commands, flags and engine events (over the SDK's own gRPC event log) are the SDK's, only the engine is a stand-in.
What this proves: the stacks selected or created, the pack and each stack's own policy config passed, the bound on
parallel stacks, a failing stack never stopping the others, drift told apart from failure, logs and outputs kept.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from fleet import automation
from fleet.tenants import ROOT, StackFile, stack_files
from infra import waivers
from tests.stacks import waiver, write_waivers

FAKE = Path(__file__).resolve().parent / "fake_pulumi.py"
ADVISORY = {
    "policyName": "log-retention-12-months",
    "enforcementLevel": "advisory",
    "message": "log group keeps 30 days",
    "resourceUrn": "urn:pulumi:acme-prod::secure-tenant::aws:cloudwatch/logGroup:LogGroup::lg",
}


class Fake:
    """The stand-in CLI on PATH, its plan per stack and the calls it received."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        bin_dir, self.state = tmp_path / "bin", tmp_path / "state"
        bin_dir.mkdir()
        self.state.mkdir()
        pulumi = bin_dir / "pulumi"
        pulumi.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        pulumi.chmod(pulumi.stat().st_mode | stat.S_IXUSR)
        self.plan_file, self.calls_file = tmp_path / "plan.json", tmp_path / "calls.jsonl"
        self.calls_file.touch()
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
        monkeypatch.setenv("FAKE_PULUMI_PLAN", str(self.plan_file))
        monkeypatch.setenv("FAKE_PULUMI_CALLS", str(self.calls_file))
        monkeypatch.setenv("FAKE_PULUMI_STATE", str(self.state))
        monkeypatch.setattr(automation, "OUT", tmp_path / "build" / "fleet")

    def plan(self, **stacks: dict[str, Any]) -> None:
        self.plan_file.write_text(json.dumps({name.replace("_", "-"): spec for name, spec in stacks.items()}))

    def calls(self, command: str) -> list[dict[str, Any]]:
        calls = [json.loads(line) for line in self.calls_file.read_text().splitlines()]
        return [call for call in calls if call["argv"][0] == command]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    return Fake(tmp_path, monkeypatch)


def _stacks(*names: str) -> list[StackFile]:
    known = {s.stack: s for s in stack_files()}
    return [known[name] for name in names]


def test_a_fleet_preview_creates_missing_stacks_runs_the_pack_and_one_failure_stops_no_other(
    fake: Fake,
) -> None:
    fake.plan(
        acme_prod={"exists": True, "changes": {"same": 180, "update": 2}, "policy": [ADVISORY]},
        acme_preprod={"fail": "aws:ec2/vpc:Vpc creating failed: UnauthorizedOperation"},
    )
    results = automation.run_fleet("preview", _stacks("acme-prod", "acme-preprod"), parallel=2)

    prod, preprod = results
    assert (prod.stack, prod.result, prod.changes) == ("acme-prod", "changes", {"same": 180, "update": 2})
    assert prod.verdicts == ["advisory log-retention-12-months: log group keeps 30 days"]
    assert prod.change_summary == "2 update"
    assert (preprod.result, preprod.error) == (
        "failed",
        "error: aws:ec2/vpc:Vpc creating failed: UnauthorizedOperation",
    )
    assert "UnauthorizedOperation" in preprod.log.read_text()
    assert "preview of acme-prod" in prod.log.read_text()
    # acme-preprod was unknown to the backend: selected, then created with `stack init`.
    assert sorted(c["argv"] for c in fake.calls("stack")) == [
        ["stack", "init", "acme-preprod"],
        ["stack", "select", "--stack", "acme-preprod"],
        ["stack", "select", "--stack", "acme-prod"],
    ]
    for call in fake.calls("preview"):
        argv = call["argv"]
        stack = argv[argv.index("--stack") + 1]
        assert call["cwd"] == str(ROOT)
        assert argv[argv.index("--policy-pack") + 1] == str(ROOT / "policy")
        config = json.loads(Path(argv[argv.index("--policy-pack-config") + 1]).read_text())
        assert config == {"all": "mandatory"}, stack  # acme's stacks take no exception


def test_each_stack_gets_the_policy_config_of_its_own_waivers(fake: Fake, tmp_path: Path) -> None:
    globex = StackFile(
        "globex-preprod", "globex", "preprod", tmp_path / "Pulumi.globex-preprod.yaml", "eu-west-1", None
    )
    entry = waiver(
        "shortLogRetention", "preprod keeps 30 days, accepted by the CISO", environments=("preprod",)
    )
    with mock.patch.object(waivers, "TENANTS", tmp_path):
        write_waivers(tmp_path, entry, tenant="globex")
        assert json.loads(automation.policy_config_file(globex).read_text()) == {
            "all": "mandatory",
            "log-retention-12-months": "advisory",
        }
        prod = StackFile(
            "globex-prod", "globex", "prod", tmp_path / "Pulumi.globex-prod.yaml", "eu-west-1", None
        )
        assert json.loads(automation.policy_config_file(prod).read_text()) == {"all": "mandatory"}


def test_no_more_stacks_run_at_once_than_parallel_allows(fake: Fake) -> None:
    names = ("acme-prod", "acme-preprod")
    fake.plan(**{name.replace("-", "_"): {"exists": True, "seconds": 1.5} for name in names})
    automation.run_fleet("preview", _stacks(*names), parallel=1)
    first, second = sorted(fake.calls("preview"), key=lambda c: c["start"])
    assert second["start"] >= first["end"]
    fake.calls_file.write_text("")
    automation.run_fleet("preview", _stacks(*names), parallel=2)
    first, second = sorted(fake.calls("preview"), key=lambda c: c["start"])
    assert second["start"] < first["end"]  # both at once: the bound is not a queue of one


def test_drift_is_its_own_result_and_refresh_never_creates_a_stack(fake: Fake) -> None:
    fake.plan(acme_prod={"exists": True, "changes": {"same": 170, "update": 1}}, acme_preprod={})
    drift, missing = automation.run_fleet("drift", _stacks("acme-prod", "acme-preprod"), parallel=2)
    assert drift.result == "drift" and "no changes were expected" in drift.error
    assert missing.result == "failed" and "no stack named 'acme-preprod' found" in missing.error
    argv = fake.calls("preview")[0]["argv"]
    assert {"--refresh", "--expect-no-changes", "--policy-pack"} <= set(argv)
    assert fake.calls("refresh") == []
    assert ["stack", "init", "acme-preprod"] not in [c["argv"] for c in fake.calls("stack")]
    refreshed = automation.run_fleet("refresh", _stacks("acme-preprod"), parallel=1)
    assert refreshed[0].result == "failed" and not (fake.state / "acme-preprod").exists()


def test_up_and_outputs_save_each_stacks_outputs_for_the_inventory_readable_by_the_owner_only(
    fake: Fake,
) -> None:
    outputs = {"tenant": "acme", "bastionHosts": [{"zone": "eu-west-1a", "publicIp": "198.51.100.7"}]}
    fake.plan(acme_prod={"exists": True, "changes": {"create": 3}, "outputs": outputs})
    (up,) = automation.run_fleet("up", _stacks("acme-prod"), parallel=1)
    assert (up.result, up.changes) == ("ok", {"create": 3})
    saved = automation.OUT / "outputs" / "acme-prod.json"
    assert json.loads(saved.read_text()) == outputs
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    saved.unlink()
    (listed,) = automation.run_fleet("outputs", _stacks("acme-prod"), parallel=1)
    assert listed.result == "ok" and json.loads(saved.read_text()) == outputs
    assert [c["argv"][:2] for c in fake.calls("up")] == [["up", "--yes"]]


def test_the_cli_prints_a_summary_row_per_stack_and_fails_when_one_stack_failed(
    fake: Fake, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleet.cli import main

    fake.plan(
        acme_prod={"exists": True, "changes": {"same": 182}}, acme_preprod={"exists": True, "fail": "boom"}
    )
    assert main(["fleet", "preview", "--parallel", "2"]) == 1
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()[1]
        for line in out.splitlines()
        if line.startswith(("acme-prod ", "acme-preprod "))
    }
    assert rows == {"acme-prod": "ok", "acme-preprod": "failed"}
    assert "acme-preprod: failed: error: boom" in out
    summary = json.loads((automation.OUT / "preview" / "summary.json").read_text())
    assert {s["stack"]: s["result"] for s in summary["per_stack"]} == rows
