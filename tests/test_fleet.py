"""The fleet: tenant folders, `secure-tenant tenant new` and the offline fleet preview.

A new tenant's starting configuration must be valid as written (the pack passes it under mocks), its VPC range free
of every other stack's; the folders decide whose stack is whose; one broken stack of a fleet preview is that stack's
result, never the fleet's end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml

from evidence.report import policy_results, render_html, render_markdown
from fleet import tenants
from fleet.cli import main as cli_main
from fleet.offline import StackPreview
from fleet.report import fleet_markdown
from fleet.tenants import TenantError
from lab.checkout import copy_checkout
from review.offline import evaluate, stack_file_config
from review.pack_runner import mandatory, run_pack
from review.verdict import Violation

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project of the test's own: the pool and acme's tenant folder, its stack files linked from the root."""
    (tmp_path / "tenants").mkdir()
    shutil.copy(ROOT / tenants.POOL_FILE, tmp_path / tenants.POOL_FILE)
    shutil.copytree(ROOT / "tenants" / "acme", tmp_path / "tenants" / "acme")
    tenants.link_stack_files(tmp_path)
    return tmp_path


def _pool(project: Path, ranges: list[str], prefix: int) -> None:
    (project / tenants.POOL_FILE).write_text(yaml.safe_dump({"vpcPool": ranges, "vpcPrefix": prefix}))


def _vpc(path: Path) -> IPv4Network:
    return IPv4Network(yaml.safe_load(path.read_text())["config"]["secure-tenant:vpcCidr"])


# --- tenant new -------------------------------------------------------------------------------------------------
def test_a_new_tenant_gets_a_folder_with_a_stack_file_per_environment_linked_from_the_root(
    project: Path,
) -> None:
    written = tenants.new_tenant("globex", ["prod", "preprod"], "eu-central-1", root=project)
    folder = project / "tenants" / "globex"
    assert {p.relative_to(project).as_posix() for p in written} == {
        "tenants/globex/Pulumi.globex-prod.yaml",
        "tenants/globex/Pulumi.globex-preprod.yaml",
        "tenants/globex/vpn-clients.yml",
        "Pulumi.globex-prod.yaml",
        "Pulumi.globex-preprod.yaml",
    }
    link = project / "Pulumi.globex-prod.yaml"
    assert link.is_symlink() and os.readlink(link) == "tenants/globex/Pulumi.globex-prod.yaml"
    assert tenants.link_problems(project) == []
    assert yaml.safe_load((folder / "vpn-clients.yml").read_text()) == {"secure_tenant_vpn_clients": []}
    assert [s.stack for s in tenants.stack_files(project)] == [
        "acme-preprod",
        "acme-prod",
        "globex-preprod",
        "globex-prod",
    ]


def test_new_tenants_take_pool_ranges_that_overlap_no_other_stack(project: Path) -> None:
    tenants.new_tenant("globex", ["prod", "preprod"], "eu-west-1", root=project)
    tenants.new_tenant("initech", ["prod"], "eu-west-1", root=project)
    stacks = tenants.stack_files(project)
    assert tenants.overlaps(stacks) == []
    pool = tenants.load_pool(project)
    new = [s.vpc_cidr for s in stacks if s.tenant != "acme"]
    assert all(
        n is not None and n.prefixlen == pool.prefix and any(n.subnet_of(r) for r in pool.ranges) for n in new
    )
    assert len(set(new)) == 3


def test_a_pool_that_overlaps_existing_stacks_gives_only_what_is_free(project: Path) -> None:
    # acme-prod holds 10.20.0.0/16, acme-preprod 10.21.0.0/20, both VPN client ranges sit in 10.250.0.0/16.
    _pool(project, ["10.20.0.0/15"], 20)
    tenants.new_tenant("globex", ["prod"], "eu-west-1", root=project)
    assert _vpc(project / "tenants/globex/Pulumi.globex-prod.yaml") == IPv4Network("10.21.16.0/20")


def test_an_exhausted_pool_is_refused_naming_the_pool_and_nothing_is_written(project: Path) -> None:
    _pool(project, ["10.64.0.0/19"], 20)
    tenants.new_tenant("globex", ["prod", "preprod"], "eu-west-1", root=project)
    with pytest.raises(TenantError, match=r"tenants/fleet.yaml: no free /20 left in vpcPool 10.64.0.0/19"):
        tenants.new_tenant("initech", ["prod"], "eu-west-1", root=project)
    assert not (project / "tenants" / "initech").exists()
    assert not list(project.glob("Pulumi.initech-*"))


@pytest.mark.parametrize(
    ("name", "environments", "region", "says"),
    [
        ("../evil", ["prod"], "eu-west-1", "NAME: '../evil' is not a tenant id"),
        ("acme/../x", ["prod"], "eu-west-1", "is not a tenant id"),
        ("Acme", ["prod"], "eu-west-1", "NAME: 'Acme' is not a tenant id"),
        ("a", ["prod"], "eu-west-1", "is not a tenant id"),
        ("acme", ["prod"], "eu-west-1", "NAME: tenant 'acme' exists (tenants/acme/)"),
        ("globex", ["dev"], "eu-west-1", "--env 'dev': use prod or preprod"),
        ("globex", ["prod", "prod"], "eu-west-1", "--env: name each environment once"),
        ("globex", ["prod"], "eu-west-2", "--region 'eu-west-2' is not in the EU"),
    ],
)
def test_a_bad_request_is_refused_before_anything_is_written(
    project: Path, name: str, environments: list[str], region: str, says: str
) -> None:
    before = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.name != ".lock")
    with pytest.raises(TenantError) as refused:
        tenants.new_tenant(name, environments, region, root=project)
    assert says in str(refused.value)
    assert (
        sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.name != ".lock") == before
    )
    assert not (project.parent / "evil").exists()


def test_a_stack_file_left_at_the_root_keeps_its_tenant_name_taken(project: Path) -> None:
    (project / "Pulumi.globex-prod.yaml").write_text("config:\n  secure-tenant:vpcCidr: 10.64.0.0/20\n")
    with pytest.raises(
        TenantError, match="Pulumi.globex-prod.yaml at the project root already belong to tenant"
    ):
        tenants.new_tenant("globex", ["prod"], "eu-west-1", root=project)
    # Its range counts as taken for everyone else.
    tenants.new_tenant("initech", ["prod"], "eu-west-1", root=project)
    assert _vpc(project / "tenants/initech/Pulumi.initech-prod.yaml") == IPv4Network("10.64.16.0/20")


def test_a_new_tenants_files_pass_the_projects_yamllint(project: Path) -> None:
    from yamllint import config, linter

    rules = config.YamlLintConfig(file=str(ROOT / ".yamllint"))
    for path in tenants.new_tenant("globex", ["prod", "preprod"], "eu-west-1", root=project):
        problems = list(linter.run(path.read_text(), rules))
        assert [f"{path.name}:{p.line}: {p.message}" for p in problems] == []


@pytest.mark.parametrize("environment", ["prod", "preprod"])
def test_a_new_tenant_passes_the_policy_pack_offline_without_any_edit(
    project: Path, environment: str
) -> None:
    tenants.new_tenant("globex", [environment], "eu-west-1", zones=3, root=project)
    config = stack_file_config(project / f"Pulumi.globex-{environment}.yaml")
    snapshot = evaluate(config, stack=f"globex-{environment}")
    assert snapshot.outputs["tenant"] == "globex" and len(snapshot.outputs["zones"]) == 3
    assert mandatory(run_pack(snapshot)) == []


def test_the_cli_writes_a_tenant_and_says_what_to_run_next(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tenants, "ROOT", project)
    assert cli_main(["tenant", "new", "globex", "--region", "eu-north-1", "--zones", "3"]) == 0
    out = capsys.readouterr().out
    assert (
        "wrote tenants/globex/Pulumi.globex-prod.yaml\n" in out and "wrote Pulumi.globex-prod.yaml\n" in out
    )
    assert "next: secure-tenant fleet preview --offline --tenant globex" in out
    assert tenants.stack_files(project)[-1].region == "eu-north-1"
    (project / "Pulumi.globex-prod.yaml").unlink()
    assert cli_main(["tenant", "link"]) == 0
    assert capsys.readouterr().out == "linked Pulumi.globex-prod.yaml\n"
    assert cli_main(["tenant", "link"]) == 0
    assert capsys.readouterr().out == "every stack file is linked\n"


# --- the tenant folders -----------------------------------------------------------------------------------------
def test_this_projects_stack_files_all_live_in_tenant_folders_and_never_overlap() -> None:
    stacks = tenants.stack_files()
    assert {s.stack for s in stacks} >= {"acme-prod", "acme-preprod"}
    assert tenants.link_problems() == []
    assert tenants.overlaps(stacks) == []


def test_a_stack_file_in_another_tenants_folder_is_refused(project: Path) -> None:
    text = (project / "tenants/acme/Pulumi.acme-prod.yaml").read_text()
    (project / "tenants" / "globex").mkdir()
    (project / "tenants/globex/Pulumi.globex-prod.yaml").write_text(text)
    with pytest.raises(
        TenantError, match="secure-tenant:tenant is 'acme', but the file is globex's prod stack"
    ):
        tenants.stack_files(project)


def test_a_stack_file_named_for_an_unknown_environment_is_refused(project: Path) -> None:
    shutil.copy(project / "tenants/acme/Pulumi.acme-prod.yaml", project / "tenants/acme/Pulumi.acme-dev.yaml")
    with pytest.raises(TenantError, match="Pulumi.acme-<environment>.yaml with environment prod or preprod"):
        tenants.stack_files(project)


def test_a_root_stack_file_that_is_no_link_or_links_elsewhere_is_named(project: Path) -> None:
    (project / "Pulumi.acme-prod.yaml").unlink()
    shutil.copy(project / "tenants/acme/Pulumi.acme-prod.yaml", project / "Pulumi.acme-prod.yaml")
    (project / "Pulumi.acme-preprod.yaml").unlink()
    (project / "Pulumi.acme-preprod.yaml").symlink_to("tenants/acme/Pulumi.acme-prod.yaml")
    (project / "Pulumi.stray-prod.yaml").write_text("config: {}\n")
    relink = ": run `secure-tenant tenant link`"
    assert tenants.link_problems(project) == [
        f"Pulumi.acme-preprod.yaml is not a link to tenants/acme/Pulumi.acme-preprod.yaml{relink}",
        f"Pulumi.acme-prod.yaml is not a link to tenants/acme/Pulumi.acme-prod.yaml{relink}",
        f"Pulumi.stray-prod.yaml belongs to no tenant folder: move it to tenants/<tenant>/ and{relink[1:]}",
    ]
    # A root file of its own is never overwritten by a link: its settings would be lost.
    with pytest.raises(TenantError, match="Pulumi.acme-prod.yaml is a file of its own at the project root"):
        tenants.link_stack_files(project)


def test_overlapping_stacks_are_named_in_pairs(project: Path) -> None:
    stacks = tenants.stack_files(project)
    clash = [
        *stacks,
        tenants.StackFile("x-prod", "x", "prod", Path("x"), "eu-west-1", IPv4Network("10.20.128.0/20")),
    ]
    assert tenants.overlaps(clash) == ["acme-prod 10.20.0.0/16 overlaps x-prod 10.20.128.0/20"]


@pytest.mark.parametrize(
    ("pool", "says"),
    [
        ({"vpcPool": ["8.8.0.0/16"], "vpcPrefix": 20}, "vpcPool entry '8.8.0.0/16' is not a private"),
        ({"vpcPool": ["10.64.0.0/22"], "vpcPrefix": 20}, "smaller than one /20 VPC"),
        ({"vpcPool": [], "vpcPrefix": 20}, "vpcPool must list private ranges"),
        ({"vpcPool": ["10.64.0.0/12"], "vpcPrefix": 26}, "vpcPrefix must be a prefix length from 16 to 24"),
    ],
)
def test_a_broken_pool_is_refused_naming_its_key(project: Path, pool: dict[str, object], says: str) -> None:
    (project / tenants.POOL_FILE).write_text(yaml.safe_dump(pool))
    with pytest.raises(TenantError, match=says):
        tenants.new_tenant("globex", ["prod"], "eu-west-1", root=project)


def test_fleet_selection_refuses_a_tenant_or_environment_it_does_not_know(project: Path) -> None:
    stacks = tenants.stack_files(project)
    assert [s.stack for s in tenants.select(stacks, ["acme"], ["prod"])] == ["acme-prod"]
    with pytest.raises(TenantError, match="--tenant acmee: no such stack in tenants/: use one of acme"):
        tenants.select(stacks, ["acmee"], [])


def test_the_cli_refuses_bad_fleet_options_before_any_stack_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["fleet", "up", "--offline"]) == 2
    assert "--offline up: only a preview runs offline" in capsys.readouterr().err
    assert cli_main(["fleet", "preview", "--offline", "--parallel", "0"]) == 2
    assert "--parallel 0: give 1 or more" in capsys.readouterr().err
    assert cli_main(["fleet", "preview", "--against", "build"]) == 2
    assert "--against compares offline previews: add --offline" in capsys.readouterr().err


# --- the offline fleet preview ----------------------------------------------------------------------------------
def test_the_offline_fleet_preview_reports_every_stack_and_one_broken_stack_stops_no_other(
    tmp_path: Path,
) -> None:
    """The real command in a copy of the checkout: acme's two stacks, two new tenants, one of them broken by hand."""
    copy_checkout(ROOT, tmp_path)
    tenants.new_tenant("globex", ["prod", "preprod"], "eu-west-1", root=tmp_path)
    broken = tmp_path / "tenants/globex/Pulumi.globex-preprod.yaml"
    broken.write_text(broken.read_text().replace("secure-tenant:zones: 2", "secure-tenant:zones: 7"))
    result = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "fleet", "preview", "--offline", "--parallel", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {
        line.split()[0]: line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith(("acme-", "globex-"))
    }
    assert rows == {
        "acme-preprod": "pass",
        "acme-prod": "pass",
        "globex-preprod": "error",
        "globex-prod": "pass",
    }
    out = tmp_path / "build" / "fleet" / "preview"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["results"] == {"pass": 3, "fail": 0, "error": 1}
    assert "secure-tenant:zones" in (out / "globex-preprod.log").read_text()
    assert "Policy pack: PASS" in (out / "globex-prod.log").read_text()
    assert (out / "acme-prod.md").read_text().startswith("## Stack `acme-prod`")


# --- the fleet in the reviewer's and the auditor's reports ------------------------------------------------------
def _fleet() -> list[StackPreview]:
    waived = Violation("log-retention-12-months", "LOG-02", "advisory", "lg", "30 days", "shortLogRetention")
    broken = Violation("s3-tls-only", "CRY-02", "mandatory", "logs", "bucket policy allows plain HTTP")
    return [
        StackPreview("acme-prod", "pass", 1.0, 182, {"create": 182}),
        StackPreview(
            "globex-preprod", "pass", 1.0, 155, {"create": 155}, (waived,), {"shortLogRetention": "why"}
        ),
        StackPreview("initech-prod", "fail", 1.0, 160, {"create": 160}, (broken,)),
        StackPreview(
            "hooli-prod", "error", 0.1, error="invalid stack configuration:\n  secure-tenant:zones: 7"
        ),
    ]


def test_the_fleet_summary_has_a_row_per_stack_and_spells_out_what_fails() -> None:
    text = fleet_markdown(_fleet())
    assert text.startswith("## Fleet: 4 stacks, 2 pass, 1 fail, 1 error\n")
    assert (
        "| `globex-preprod` | **pass** | 155 | 155 create | 0 mandatory, 1 advisory | `shortLogRetention` |"
        in text
    )
    assert "### `initech-prod`: fail\n- [mandatory] s3-tls-only (CRY-02) `logs`: bucket policy allows" in text
    assert (
        "### `hooli-prod`: error\n\n```\ninvalid stack configuration:\n  secure-tenant:zones: 7\n```" in text
    )
    assert "### `acme-prod`" not in text


def test_the_evidence_judges_each_policy_on_the_whole_fleet() -> None:
    fleet = _fleet()
    results = policy_results({"s3-tls-only", "log-retention-12-months", "imdsv2-required"}, fleet)
    assert results["s3-tls-only"] == ("fail", "initech-prod: logs: bucket policy allows plain HTTP")
    assert results["log-retention-12-months"][0] == "fail"  # waived for one stack, still shown, as before
    assert results["imdsv2-required"] == (
        "not run",
        "no violation in 3 stacks of the fleet; not evaluated: hooli-prod",
    )
    assert policy_results({"imdsv2-required"}, fleet[:3])["imdsv2-required"] == (
        "pass",
        "no violation in 3 stacks of the fleet",
    )
    page = render_markdown([], {}, {}, "now", fleet)
    assert "## Fleet: 4 stacks, 2 pass, 1 fail, 1 error" in page
    assert "<h2>Fleet: 4 stacks, 2 pass, 1 fail, 1 error</h2>" in render_html([], {}, {}, "now", fleet)
