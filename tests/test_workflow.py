"""The CI workflows (.github/workflows): commands that exist, the Python the project supports, least privilege.

A workflow that calls a make target nobody defined, or sets up a Python that pyproject.toml refuses, fails on
GitHub only after review; these tests fail here first. zizmor's audit runs in `make lint`; here it is shown to
catch what it must.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The python3 a job gets without actions/setup-python: Debian 12's, in the container image or on the host.
DEBIAN_PYTHON = {"debian:bookworm": "3.11", "debian-12": "3.11"}
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load_workflow(path: Path) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(path.read_text())
    return workflow


def workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load_workflow(path) for path in sorted(WORKFLOWS.glob("*.yml"))}


@cache
def make_targets(makefile: Path = ROOT / "Makefile") -> frozenset[str]:
    """Explicit targets of the Makefile (rules `name: ...`, not variable assignments `name := ...`)."""
    targets = set()
    for line in makefile.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?!=)", line):
            targets.update(match.group(1).split())
    return frozenset(targets)


def commands(script: str) -> list[list[str]]:
    """The simple commands of a `run:` script, split at newlines, `;`, `&&`, `||` and `|`."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=";&|\n")
    lexer.whitespace = " \t"
    lexer.whitespace_split = True
    found: list[list[str]] = [[]]
    for token in lexer:
        if set(token) <= set(";&|\n"):
            found.append([])
        else:
            found[-1].append(token)
    return [command for command in found if command]


def command_problem(argv: list[str], root: Path = ROOT) -> str | None:
    """Why this command is not one of the project's (a make target, a script, an entry point), or None."""
    words = list(argv)
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words.pop(0)  # VAR=value before the command
    if not words:
        return "empty command"
    head, args = words[0], words[1:]
    if head == "make":
        targets = [a for a in args if not a.startswith("-") and "=" not in a]
        if not targets:
            return "make without an explicit target"
        unknown = [t for t in targets if t not in make_targets(root / "Makefile")]
        return f"make target(s) {', '.join(unknown)} not in the Makefile" if unknown else None
    if head.startswith("scripts/"):
        path = (root / head).resolve()
        if path.parent != (root / "scripts").resolve() or not path.is_file():
            return f"{head} is not a script of scripts/"
        return None if path.stat().st_mode & 0o111 else f"{head} is not executable"
    if head.startswith(".venv/bin/"):
        entry = head.removeprefix(".venv/bin/")
        scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
        return None if entry in scripts else f"{entry} is not an entry point of pyproject.toml"
    return f"{head} is not a make target, a script of scripts/ or an entry point of the project"


@dataclass(frozen=True)
class Job:
    workflow: str
    name: str
    spec: dict[str, Any]

    @property
    def steps(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = self.spec.get("steps", [])
        return steps

    def runs(self) -> list[list[str]]:
        return [command for step in self.steps if "run" in step for command in commands(step["run"])]

    def python(self) -> str | None:
        """The Python version the job runs the project with: setup-python's, or the Debian host's/image's."""
        for step in self.steps:
            if str(step.get("uses", "")).startswith("actions/setup-python@"):
                return str(step.get("with", {}).get("python-version"))
        container = self.spec.get("container")
        image = container.get("image") if isinstance(container, dict) else container
        if image is not None:
            return DEBIAN_PYTHON.get(str(image))
        labels = self.spec.get("runs-on")
        for label in labels if isinstance(labels, list) else [labels]:
            if str(label) in DEBIAN_PYTHON:
                return DEBIAN_PYTHON[str(label)]
        return None


def jobs(all_workflows: dict[str, dict[str, Any]] | None = None) -> list[Job]:
    return [
        Job(name, job_name, spec)
        for name, workflow in (all_workflows or workflows()).items()
        for job_name, spec in workflow["jobs"].items()
    ]


def python_problem(job: Job, requires: str = PYPROJECT["project"]["requires-python"]) -> str | None:
    needs_python = any(argv[0] == "make" or argv[0].startswith(".venv/") for argv in job.runs())
    if not needs_python:
        return None
    version = job.python()
    if version is None:
        return f"{job.workflow}/{job.name} runs the project but sets up no Python this test knows"
    if not SpecifierSet(requires).contains(version):
        return f"{job.workflow}/{job.name} sets up Python {version}, outside requires-python {requires}"
    return None


# --- the real workflows ------------------------------------------------------------------------------------------
def test_the_review_deploy_and_drift_workflows_exist() -> None:
    assert {"review.yml", "deploy.yml", "drift.yml"} <= set(workflows())


def test_every_command_a_job_runs_is_a_make_target_a_script_or_an_entry_point() -> None:
    problems = [
        f"{job.workflow}/{job.name}: {shlex.join(argv)}: {problem}"
        for job in jobs()
        for argv in job.runs()
        if (problem := command_problem(argv))
    ]
    assert problems == []
    assert sum(len(job.runs()) for job in jobs()) >= 10  # the workflows do run commands


def test_every_job_runs_the_project_with_a_python_requires_python_allows() -> None:
    assert [problem for job in jobs() if (problem := python_problem(job))] == []
    assert {job.python() for job in jobs() if job.runs()} - {None} == {"3.11"}


def test_no_permissions_at_workflow_level_and_each_job_declares_its_own() -> None:
    for name, workflow in workflows().items():
        assert workflow.get("permissions") == {}, name
    for job in jobs():
        assert isinstance(job.spec.get("permissions"), dict), f"{job.workflow}/{job.name}"
        assert "write-all" not in str(job.spec["permissions"])


def test_only_the_jobs_that_assume_an_aws_role_get_an_oidc_token() -> None:
    for job in jobs():
        assumes_role = any("configure-aws-credentials" in str(step.get("uses", "")) for step in job.steps)
        assert (job.spec["permissions"].get("id-token") == "write") == assumes_role, job.name


def test_every_action_is_pinned_by_commit_and_every_checkout_drops_its_credentials() -> None:
    for job in jobs():
        for step in job.steps:
            if "uses" in step:
                assert SHA_PIN.match(step["uses"]), step["uses"]
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_no_expression_is_expanded_inside_a_shell_script() -> None:
    for job in jobs():
        for step in job.steps:
            assert "${{" not in step.get("run", ""), f"{job.workflow}/{job.name}: pass it through env:"


def _deploy_jobs() -> list[Job]:
    return [job for job in jobs() if any(argv[:2] == ["make", "pulumi-up"] for argv in job.runs())]


def test_pulumi_up_waits_for_the_stack_environment() -> None:
    deploying = _deploy_jobs()
    assert [(job.workflow, job.name) for job in deploying] == [("deploy.yml", "deploy")]
    assert deploying[0].spec["environment"] == "${{ matrix.stack }}"


def test_only_the_deploy_job_assumes_the_deploy_role_in_the_stack_region() -> None:
    deploying = _deploy_jobs()
    roles = 0
    for job in jobs():
        for step in job.steps:
            role = step.get("with", {}).get("role-to-assume")
            if role is not None:
                roles += 1
                expected = "PULUMI_DEPLOY_ROLE_ARN" if job in deploying else "PULUMI_PREVIEW_ROLE_ARN"
                assert role == "${{ vars." + expected + " }}", job.name
                assert step["with"]["aws-region"] == "${{ matrix.region }}"
    assert roles == 3  # preview, deploy, drift


def test_drift_runs_on_a_schedule_and_fails_on_any_change() -> None:
    drift = workflows()["drift.yml"]
    assert drift[True]["schedule"]  # PyYAML reads the key `on` as True
    assert "--expect-no-changes" in _recipe("drift") and "--refresh" in _recipe("drift")
    # Every real preview, deploy and drift check runs the pack with the stack's own enforcement (its exceptions).
    pack = re.search(r"^PACK = (.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert pack and pack[1] == "--policy-pack policy --policy-pack-config $(POLICY_CONFIG)"
    assert all("$(PACK)" in _recipe(target) for target in ("pulumi-preview", "pulumi-up", "drift"))


def test_stack_jobs_take_their_matrix_from_the_stack_files() -> None:
    for job in jobs():
        matrix = job.spec.get("strategy", {}).get("matrix")
        if isinstance(matrix, str):
            assert matrix == "${{ fromJSON(needs.matrix.outputs.stacks) }}", job.name
            assert "matrix" in job.spec["needs"]


def test_the_pulumi_cli_is_the_version_of_the_pulumi_sdk_pin() -> None:
    pin = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("pulumi=="))
    versions = {
        step["with"]["pulumi-version"]
        for job in jobs()
        for step in job.steps
        if str(step.get("uses", "")).startswith("pulumi/actions@")
    }
    assert versions == {pin.removeprefix("pulumi==")}


def _recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert match, target
    return match.group(1).replace("\\\n", " ")


# --- the stack matrix -------------------------------------------------------------------------------------------
def _stack_matrix(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stack-matrix"), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_stack_matrix_names_every_stack_file_with_its_own_region() -> None:
    result = _stack_matrix(ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "include": [
            {"stack": "acme-preprod", "region": "eu-central-1"},
            {"stack": "acme-prod", "region": "eu-west-1"},
        ]
    }


def test_a_stack_file_without_a_region_stops_the_matrix_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    (tmp_path / "tenants" / "tt").mkdir(parents=True)
    (tmp_path / "tenants/tt/Pulumi.tt-prod.yaml").write_text(
        "config:\n  secure-tenant:tenant: tt\n  secure-tenant:environment: prod\n"
    )
    result = _stack_matrix(tmp_path)
    assert result.returncode != 0
    assert "tenants/tt/Pulumi.tt-prod.yaml: config key aws:region is missing" in result.stderr


def test_a_stack_file_in_the_wrong_tenant_folder_stops_the_matrix(tmp_path: Path) -> None:
    (tmp_path / "tenants" / "tt").mkdir(parents=True)
    (tmp_path / "tenants/tt/Pulumi.tt-prod.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  secure-tenant:tenant: acme\n  secure-tenant:environment: prod\n"
    )
    result = _stack_matrix(tmp_path)
    assert result.returncode != 0
    assert "secure-tenant:tenant is 'acme', but the file is tt's prod stack" in result.stderr


# --- the guardrails tried -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "script",
    [
        "make lint",
        'make --no-print-directory report STACK="$STACK"',
        "FORCE=1 make unit",
        'scripts/changed-roles "$BASE"',
        ".venv/bin/secure-tenant-preview --stack acme-prod",
    ],
)
def test_project_commands_are_accepted(script: str) -> None:
    assert [command_problem(argv) for argv in commands(script)] == [None]


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("make lnit", "make target(s) lnit not in the Makefile"),
        ("make", "make without an explicit target"),
        ("make STACK=x", "make without an explicit target"),
        ("make lint\ncurl -sSL -o x https://example.com/x", "curl is not a make target"),
        ("make lint | sh", "sh is not a make target"),
        ("make lint && pip install x", "pip is not a make target"),
        ("make unit; python -m pytest", "python is not a make target"),
        ("scripts/nope", "scripts/nope is not a script of scripts/"),
        ("scripts/../lab/cli.py", "scripts/../lab/cli.py is not a script of scripts/"),
        (".venv/bin/secure-tenant-deploy", "secure-tenant-deploy is not an entry point"),
    ],
)
def test_commands_outside_the_project_are_named(script: str, problem: str) -> None:
    problems = [p for argv in commands(script) if (p := command_problem(argv))]
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_a_script_that_is_not_executable_or_links_outside_scripts_is_refused(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "plain").write_text("#!/bin/sh\n")
    (tmp_path / "outside").write_text("#!/bin/sh\n")
    (tmp_path / "outside").chmod(0o755)
    (tmp_path / "scripts" / "link").symlink_to(tmp_path / "outside")
    assert command_problem(["scripts/plain"], tmp_path) == "scripts/plain is not executable"
    assert command_problem(["scripts/link"], tmp_path) == "scripts/link is not a script of scripts/"


@pytest.mark.parametrize(
    ("job", "problem"),
    [
        (
            {"runs-on": "ubuntu-24.04", "steps": [{"run": "make unit"}]},
            "sets up no Python this test knows",
        ),
        (
            {
                "runs-on": "ubuntu-24.04",
                "steps": [
                    {"uses": "actions/setup-python@" + "0" * 40, "with": {"python-version": "3.12"}},
                    {"run": "make unit"},
                ],
            },
            "sets up Python 3.12, outside requires-python",
        ),
        (
            {"runs-on": "ubuntu-24.04", "container": "debian:trixie", "steps": [{"run": "make unit"}]},
            "sets up no Python this test knows",
        ),
    ],
)
def test_a_job_with_a_python_the_project_refuses_is_named(job: dict[str, Any], problem: str) -> None:
    found = python_problem(Job("w.yml", "unit", job))
    assert found is not None and problem in found


def test_make_targets_are_rules_not_variable_assignments(tmp_path: Path) -> None:
    makefile = tmp_path / "Makefile"
    makefile.write_text("STACK := x\nVENV ?= .venv\nlint unit: deps\n\techo\n$(VENV)/.installed: x\n")
    assert make_targets(makefile) == {"lint", "unit"}


def test_zizmor_finds_nothing_in_our_workflows_and_flags_the_old_mistakes(tmp_path: Path) -> None:
    zizmor = ROOT / ".venv" / "bin" / "zizmor"
    ours = subprocess.run(
        [zizmor, "--offline", "--format=json", ROOT / ".github"], capture_output=True, text=True, check=False
    )
    assert ours.returncode == 0 and json.loads(ours.stdout) == []
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yml").write_text(
        "name: bad\non: pull_request_target\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    found = subprocess.run(
        [zizmor, "--offline", "--format=json", tmp_path], capture_output=True, text=True, check=False
    )
    audits = {finding["ident"] for finding in json.loads(found.stdout)}
    assert {"unpinned-uses", "template-injection", "dangerous-triggers", "artipacked"} <= audits


def test_the_approval_gate_is_read_from_the_deploy_job_and_missing_when_no_environment() -> None:
    from evidence.controls import approval_gate

    assert approval_gate(".github/workflows/deploy.yml::deploy") == "${{ matrix.stack }}"
    assert approval_gate(".github/workflows/deploy.yml::matrix") is None  # a job that waits for nobody
    assert approval_gate(".github/workflows/nope.yml::deploy") is None


def test_the_self_hosted_lab_runner_never_runs_a_pull_request_from_a_fork() -> None:
    self_hosted = [job for job in jobs() if "self-hosted" in job.spec.get("runs-on", [])]
    assert [job.name for job in self_hosted] == ["molecule"]
    for job in self_hosted:
        assert "github.event.pull_request.head.repo.full_name == github.repository" in job.spec["if"]


def test_a_declared_gate_makes_the_control_declared_never_pass_and_a_gateless_job_is_a_matrix_problem() -> (
    None
):
    from evidence.controls import Check, Control, Matrix, problems
    from evidence.report import CheckResult, control_status

    gate = Check(kind="workflow", name=".github/workflows/deploy.yml::deploy")
    test = Check(kind="test", name="tests/test_workflow.py::test_pulumi_up_waits_for_the_stack_environment")
    declared, passed = CheckResult(gate, "declared", "", "-"), CheckResult(test, "pass", "", "-")
    assert control_status([passed, declared]) == "declared"
    assert control_status([CheckResult(test, "fail", "", "-"), declared]) == "fail"
    assert control_status([passed]) == "pass"
    gateless = Check(kind="workflow", name=".github/workflows/deploy.yml::matrix")
    control = Control.model_validate(
        {
            "id": "CHG-09",
            "requirement": "r",
            "source": {"document": "docs/policy.md", "text": "every change automated and reviewed"},
            "implemented_by": [],
            "checks": [gateless],
        }
    )
    assert [p.message for p in problems(Matrix(controls=[control]))] == [
        "has no implementation",
        "workflow job .github/workflows/deploy.yml::matrix does not exist or waits for no environment",
    ]


def test_the_pr_comments_post_the_files_the_report_target_writes() -> None:
    comment = next(job for job in jobs() if job.workflow == "review.yml" and job.name == "comment")
    posted = [step["with"]["path"] for step in comment.steps if "sticky-pull-request-comment" in step["uses"]]
    assert posted == ["build/${{ matrix.stack }}-review.md", "build/checkov/${{ matrix.stack }}.md"]
    assert "--markdown build/$(STACK)-review.md" in _recipe("report")
    assert "checkov STACKS=$(STACK)" in _recipe("report")  # review.checkov writes build/checkov/<stack>.md


def test_changed_roles_lists_each_touched_role_with_a_scenario_once(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "changed-roles", tmp_path / "scripts" / "changed-roles")
    for role in ("openvpn", "pki", "ssh_hardening"):
        (tmp_path / "roles" / role / "molecule" / "default").mkdir(parents=True)
        (tmp_path / "roles" / role / "tasks.yml").write_text("v1\n")
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base", "--allow-empty")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "roles")
    base = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (tmp_path / "roles" / "pki" / "tasks.yml").write_text("v2\n")
    (tmp_path / "roles" / "openvpn" / "tasks.yml").write_text("v2\n")
    (tmp_path / "roles" / "openvpn" / "more.yml").write_text("new\n")
    shutil.rmtree(tmp_path / "roles" / "ssh_hardening")  # a deleted role has no scenario to run
    (tmp_path / "README.md").write_text("not a role\n")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "change")
    output = tmp_path / "github_output"
    result = subprocess.run(
        [str(tmp_path / "scripts" / "changed-roles"), base],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["openvpn", "pki"]
    assert output.read_text() == 'roles=["openvpn","pki"]\n'


def test_changed_roles_of_a_change_without_roles_is_an_empty_list() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "changed-roles"), "HEAD"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and json.loads(result.stdout) == []


# --- the approved baseline ----------------------------------------------------------------------------------------
def _job(workflow: str, name: str) -> Job:
    return next(job for job in jobs() if (job.workflow, job.name) == (workflow, name))


def test_a_merge_to_main_stores_each_stacks_preview_on_the_baseline_branch_with_the_only_write_token() -> (
    None
):
    baseline = _job("deploy.yml", "baseline")
    assert baseline.spec["if"] == "github.ref == 'refs/heads/main'"
    assert baseline.runs() == [
        ["scripts/ci-bootstrap", "git"],
        ["make", "baseline", "BASELINE=build/baseline"],
        ["scripts/store-baseline", "build/baseline"],
    ]
    # The token reaches the store step alone, after the project's code has run.
    with_token = [step for step in baseline.steps if "GITHUB_TOKEN" in step.get("env", {})]
    assert [step["run"] for step in with_token] == ["scripts/store-baseline build/baseline"]
    writers = [
        (job.workflow, job.name) for job in jobs() if "write" in job.spec["permissions"].get("contents", "")
    ]
    assert writers == [("deploy.yml", "baseline")]
    assert "--save $(BASELINE)/$$stack.json" in _recipe("baseline")


def test_a_pull_requests_report_diffs_against_the_baseline_branch_read_only() -> None:
    report = _job("review.yml", "report")
    assert report.spec["permissions"] == {"contents": "read"}
    (fetch,) = [step for step in report.steps if step.get("with", {}).get("ref") == "review-baseline"]
    assert fetch["with"]["persist-credentials"] is False and fetch["continue-on-error"] is True
    directory = fetch["with"]["path"]
    assert ["make", "report", "STACK=$STACK", f"BASELINE={directory}"] in report.runs()
    assert "--baseline $(BASELINE)" in _recipe("report")


def _store(directory: Path, remote: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROOT / "scripts" / "store-baseline", directory],
        env={
            "PATH": "/usr/bin:/bin",
            "BASELINE_REMOTE": str(remote),
            "GITHUB_SHA": "abc123",
            "HOME": str(remote),
        },
        capture_output=True,
        text=True,
        check=False,
    )


def _branch(remote: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", remote, *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_store_baseline_commits_each_new_set_of_previews_once_and_drops_a_removed_stack(
    tmp_path: Path,
) -> None:
    remote, previews = tmp_path / "remote.git", tmp_path / "previews"
    subprocess.run(["git", "init", "-q", "--bare", remote], check=True)
    previews.mkdir()
    (previews / "acme-prod.json").write_text('{"stack": "acme-prod"}')
    (previews / "acme-preprod.json").write_text('{"stack": "acme-preprod"}')
    first = _store(previews, remote)
    assert first.returncode == 0, first.stderr
    assert _branch(remote, "ls-tree", "--name-only", "review-baseline") == "acme-preprod.json\nacme-prod.json"
    (previews / "acme-preprod.json").unlink()
    (previews / "acme-prod.json").write_text('{"stack": "acme-prod", "resources": {}}')
    assert _store(previews, remote).returncode == 0
    again = _store(previews, remote)
    assert again.returncode == 0 and "already holds these previews" in again.stdout
    assert _branch(remote, "ls-tree", "--name-only", "review-baseline") == "acme-prod.json"
    assert _branch(remote, "rev-list", "--count", "review-baseline") == "2"
    assert "abc123" in _branch(remote, "log", "-1", "--format=%s", "review-baseline")


def test_store_baseline_without_previews_stops_before_touching_the_branch(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", remote], check=True)
    (tmp_path / "empty").mkdir()
    result = _store(tmp_path / "empty", remote)
    assert result.returncode == 2 and "run make baseline first" in result.stderr
    assert _branch(remote, "branch", "--list") == ""
