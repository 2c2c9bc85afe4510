"""The tenant's waiver file: one model for the stack, the playbooks and the evidence; every bad entry refused."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from evidence import report
from evidence.controls import Reference
from evidence.controls import load as load_matrix
from evidence.report import CheckResult
from infra import waivers
from infra.baseline import TENANT_ID, WAIVABLE_SETTINGS, ExceptionName, RoleWaiver
from infra.waivers import (
    TENANTS,
    WaiverError,
    control_ids,
    load_waivers,
    statements,
    waivers_in_force,
)
from tests.stacks import waiver, write_waivers

ROOT = Path(__file__).resolve().parent.parent
SOON = date.today() + timedelta(days=90)
# A waiver the model accepts; each test changes what it is about.
VALID = waiver(
    "shortLogRetention",
    "a lab tenant without customer data; its logs are copied to the SIEM for 13 months",
    ("preprod",),
)


def refusal(tenants: Path, *waivers: dict[str, Any]) -> str:
    write_waivers(tenants, *waivers)
    with pytest.raises(WaiverError) as raised:
        load_waivers("acme", tenants)
    return str(raised.value)


def test_a_valid_waiver_splits_into_the_stack_exception_and_the_role_variable(tmp_path: Path) -> None:
    mfa = {**VALID, "control": "ACC-03", "setting": "openvpn_mfa_waiver", "environments": ["preprod", "prod"]}
    write_waivers(tmp_path, VALID, mfa)
    waivers = waivers_in_force("acme", "preprod", tenants=tmp_path)
    statement = f"{VALID['justification']} (approved by Dana Ruiz, CISO, expires {SOON})"
    assert statements(waivers, role_variables=False) == {"shortLogRetention": statement}
    assert statements(waivers, role_variables=True) == {"openvpn_mfa_waiver": statement}
    prod = waivers_in_force("acme", "prod", tenants=tmp_path)
    assert statements(prod, role_variables=False) == {}
    assert set(statements(prod, role_variables=True)) == {"openvpn_mfa_waiver"}


def test_a_tenant_without_a_waiver_file_has_no_waivers(tmp_path: Path) -> None:
    assert waivers_in_force("acme", "prod", tenants=tmp_path) == ()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"control": "LOG-2"},
            "waivers[0].control: 'LOG-2' is not a control of controls.yaml: did you mean LOG-02?",
        ),
        ({"control": "log-02"}, "did you mean LOG-02?"),
        ({"control": "NET-03"}, "waivers[0].control: NET-03 is mandatory: no setting may weaken it"),
        (
            {"control": "BAK-01"},
            "setting shortLogRetention weakens control LOG-02, not BAK-01: set control to LOG-02",
        ),
        (
            {"setting": "shortLogRetenton"},
            "'shortLogRetenton' is not a waivable setting: did you mean shortLogRetention?",
        ),
        ({"setting": "audit_logging_retention_days"}, "did you mean audit_logging_retention_exception?"),
        ({"environments": []}, "waivers[0].environments"),
        ({"environments": ["production"]}, "waivers[0].environments[0]"),
        ({"environments": ["prod", "prod"]}, "names an environment twice"),
        ({"justification": "   "}, "waivers[0].justification: '' does not justify a waiver"),
        ({"justification": "ok" + " " * 30 + "\n" + "later" + "\t" * 20}, "write at least 20 characters"),
        ({"approved_by": " \t"}, "waivers[0].approved_by: empty: name who accepted the risk"),
        ({"expires": "next spring"}, "waivers[0].expires"),
        ({"expires": date.today() + timedelta(days=3650)}, "more than a year ahead"),
        ({"approver": "Dana"}, "waivers[0].approver: unknown key"),
    ],
)
def test_a_bad_waiver_is_refused_naming_the_entry_key_and_the_fix(
    tmp_path: Path, change: dict[str, Any], says: str
) -> None:
    message = refusal(tmp_path, {**VALID, **change})
    assert message.startswith("tenants/acme/waivers.yaml: invalid waivers:"), message
    assert says in message, message


@pytest.mark.parametrize(
    "missing", ["control", "setting", "environments", "justification", "approved_by", "expires"]
)
def test_every_part_of_a_waiver_is_required(tmp_path: Path, missing: str) -> None:
    waiver = {key: value for key, value in VALID.items() if key != missing}
    assert f"waivers[0].{missing}: missing" in refusal(tmp_path, waiver)


def test_two_waivers_of_one_setting_in_one_environment_are_refused(tmp_path: Path) -> None:
    other = {**VALID, "environments": ["prod", "preprod"], "approved_by": "someone else, easier to convince"}
    message = refusal(tmp_path, VALID, other)
    assert "waivers[0] and waivers[1] both waive shortLogRetention in preprod: keep one" in message


def test_a_file_that_is_not_a_list_of_waivers_is_refused_with_an_example(tmp_path: Path) -> None:
    path = tmp_path / "acme" / "waivers.yaml"
    path.parent.mkdir()
    path.write_text("- control: LOG-02\n")
    with pytest.raises(
        WaiverError, match=r"a waiver file is a mapping with a list of waivers, e.g.\nwaivers:"
    ):
        load_waivers("acme", tmp_path)
    path.write_text("waivers: [\n")
    with pytest.raises(WaiverError, match="tenants/acme/waivers.yaml is not readable YAML"):
        load_waivers("acme", tmp_path)


def test_an_expired_waiver_is_refused_for_a_deployment_of_its_environment_only(tmp_path: Path) -> None:
    write_waivers(tmp_path, {**VALID, "expires": date(2026, 1, 31)})
    assert load_waivers("acme", tmp_path).waivers[0].expired(date.today())  # the file itself still loads
    with pytest.raises(WaiverError) as raised:
        waivers_in_force("acme", "preprod", tenants=tmp_path)
    message = str(raised.value)
    assert (
        "tenants/acme/waivers.yaml: the waiver of shortLogRetention (LOG-02) expired on 2026-01-31" in message
    )
    assert "Renew it (a new approval: approved_by and a later expires) or remove it" in message
    assert waivers_in_force("acme", "prod", tenants=tmp_path) == ()


def test_a_waiver_holds_through_its_last_day(tmp_path: Path) -> None:
    write_waivers(tmp_path, VALID)
    assert waivers_in_force("acme", "preprod", today=SOON, tenants=tmp_path)
    with pytest.raises(WaiverError, match="expired on"):
        waivers_in_force("acme", "preprod", today=SOON + timedelta(days=1), tenants=tmp_path)


def test_a_waiver_file_linked_from_outside_the_tenant_is_refused(tmp_path: Path) -> None:
    elsewhere = write_waivers(tmp_path / "outside", VALID, tenant="other")
    (tmp_path / "tenants" / "acme").mkdir(parents=True)
    (tmp_path / "tenants" / "acme" / "waivers.yaml").symlink_to(elsewhere)
    with pytest.raises(WaiverError, match=r"tenants/acme/waivers.yaml leads to .*, outside tenants/acme"):
        load_waivers("acme", tmp_path / "tenants")
    # Nor another tenant's file, nor a link whose target is gone (it would read as "no waivers").
    (tmp_path / "tenants" / "acme" / "waivers.yaml").unlink()
    (tmp_path / "tenants" / "acme" / "waivers.yaml").symlink_to(
        write_waivers(tmp_path / "tenants", VALID, tenant="beta")
    )
    with pytest.raises(WaiverError, match="outside tenants/acme"):
        load_waivers("acme", tmp_path / "tenants")
    (tmp_path / "tenants" / "acme" / "waivers.yaml").unlink()
    (tmp_path / "tenants" / "acme" / "waivers.yaml").symlink_to(tmp_path / "gone.yaml")
    with pytest.raises(WaiverError, match="outside tenants/acme"):
        load_waivers("acme", tmp_path / "tenants")


@pytest.mark.parametrize("tenant", ["../acme", "Acme", "a", ""])
def test_a_tenant_that_is_not_a_tenant_id_cannot_reach_a_file(tmp_path: Path, tenant: str) -> None:
    with pytest.raises(WaiverError, match="is not a tenant id"):
        load_waivers(tenant, tmp_path)


def test_every_waivable_setting_names_a_control_of_the_matrix_and_a_real_setting() -> None:
    assert set(WAIVABLE_SETTINGS.values()) <= control_ids()
    assert set(ExceptionName) <= set(WAIVABLE_SETTINGS)
    roles = [path.name for path in (ROOT / "roles").iterdir()]
    for variable in RoleWaiver:
        role = next(role for role in roles if variable.startswith(f"{role}_"))
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
        assert variable in defaults, f"{variable} is not a variable of role {role}"


def test_the_example_tenants_waiver_files_are_valid_and_in_force() -> None:
    for folder in sorted(TENANTS.iterdir()):
        if re.fullmatch(TENANT_ID, folder.name):
            for environment in ("prod", "preprod"):
                waivers_in_force(folder.name, environment)


# --- the evidence report ----------------------------------------------------------------------------------------
def test_the_evidence_shows_each_waiver_per_control_and_tenant_environment_and_flags_expired_ones(
    tmp_path: Path,
) -> None:
    expired = {**VALID, "environments": ["prod"], "expires": date(2026, 1, 31)}
    no_mfa = waiver(
        "openvpn_mfa_waiver", "phones arrive in May; the bastion admits the lab network only", ("preprod",)
    )
    write_waivers(tmp_path, VALID, no_mfa)
    write_waivers(tmp_path, expired, tenant="globex")
    statuses = report.waiver_statuses(date.today(), tmp_path)
    matrix = load_matrix()
    results = {
        control.id: [CheckResult(Reference(kind="molecule", name="x"), "pass", "", "-")]
        for control in matrix.controls
    }
    markdown = report.render_markdown(matrix.controls, results, statuses, "now")
    header = next(line for line in markdown.splitlines() if line.startswith("| control |"))
    assert "| acme-preprod | globex-prod |" in header
    table = markdown.split("## Waivers")[0].splitlines()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table if line.startswith("| ")}
    assert rows["LOG-02"][3:5] == ["waived", "waiver expired"]
    assert rows["ACC-03"][3:5] == ["waived", "pass"]
    assert rows["NET-03"][3:5] == ["pass", "pass"]
    assert (
        f"| LOG-02 | globex-prod | **waiver expired** | shortLogRetention: {VALID['justification']} (approved by "
        "Dana Ruiz, CISO, expires 2026-01-31) |"
    ) in markdown
    assert "| ACC-03 | acme-preprod | **waived** | openvpn_mfa_waiver: phones arrive in May" in markdown
    page = report.render_html(matrix.controls, results, statuses, "now")
    assert "<td class='waiver-expired' title='shortLogRetention: a lab tenant" in page
    assert "waived in acme-preprod: openvpn_mfa_waiver: phones arrive in May" in page


def test_make_evidence_fails_on_an_expired_waiver_and_stops_on_a_bad_waiver_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(waivers, "TENANTS", tmp_path / "tenants")
    monkeypatch.setattr(report, "OUT", tmp_path / "evidence")
    monkeypatch.setattr(report, "ROOT", tmp_path)
    # The checks and the fleet are the rest of the report's business: no stack, and every check passes here.
    monkeypatch.setattr(report, "fleet_results", list)
    monkeypatch.setattr(
        report,
        "collect",
        lambda controls, fleet: {
            c.id: [CheckResult(Reference(kind="test", name="t"), "pass", "", "-")] for c in controls
        },
    )
    write_waivers(tmp_path / "tenants", VALID)
    assert report.main([]) == 0
    write_waivers(tmp_path / "tenants", {**VALID, "expires": date(2026, 1, 31)})
    assert report.main([]) == 1
    assert (
        "LOG-02 in acme-preprod: waiver of shortLogRetention expired on 2026-01-31" in capsys.readouterr().err
    )
    write_waivers(tmp_path / "tenants", {**VALID, "control": "NET-03"})
    assert report.main([]) == 2
    assert (
        "tenants/acme/waivers.yaml: invalid waivers:\n  waivers[0].control: NET-03 is mandatory"
        in capsys.readouterr().err
    )
