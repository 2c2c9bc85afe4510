"""Every way to hand `secure-tenant-preview` a broken input ends in one paragraph naming the file or key and the
fix, exit code 2, nothing on stdout and no traceback; a typo never falls back to a default silently."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from review import offline
from review.preview import main as preview_main
from tests.stacks import waived, waiver, write_waivers

VALID_STACK = """\
config:
  aws:region: eu-west-1
  secure-tenant:tenant: acme
  secure-tenant:environment: preprod
  secure-tenant:vpcCidr: 10.20.0.0/16
"""


@pytest.fixture
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of stack files of the test's own, where the preview looks for Pulumi.<stack>.yaml."""
    monkeypatch.setattr(offline, "ROOT", tmp_path)
    (tmp_path / "Pulumi.good.yaml").write_text(VALID_STACK)
    return tmp_path


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert preview_main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert "\n\n" not in err.strip(), f"more than one paragraph: {err}"
    return err


@pytest.mark.parametrize(
    ("stack_file", "says"),
    [
        ("- just\n- a list\n", "Pulumi.broken.yaml: a stack file is a mapping with a `config:` mapping"),
        (
            "config:\n  - aws:region\n",
            "Pulumi.broken.yaml: a stack file is a mapping with a `config:` mapping",
        ),
        ("config: [\n", "Pulumi.broken.yaml: not a readable YAML stack file"),
        ("\x00\x01binary", "Pulumi.broken.yaml: not a readable YAML stack file"),
        (
            VALID_STACK + "  secure-tenant:adminCidr: [203.0.113.0/28]\n",
            "secure-tenant:adminCidr: unknown key: did you mean adminCidrs?",
        ),
        (
            VALID_STACK + "  secure-tenant:bastion: {vpnPrt: 443}\n",
            "secure-tenant:bastion.vpnPrt: unknown key: did you mean vpnPort?",
        ),
        (
            VALID_STACK + "  secure-tenant:tenantt: acme\n",
            "secure-tenant:tenantt: unknown key: did you mean tenant?",
        ),
        (
            VALID_STACK + "  secure-tenant:noSuchThing: 1\n",
            "secure-tenant:noSuchThing: unknown key: remove it or use one of",
        ),
        (
            VALID_STACK + "  secure-tenant:region: eu-west-1\n",
            "secure-tenant:region: unknown key: the region is aws:region",
        ),
        (
            VALID_STACK + "  secure-tenant:extraTags: '{oops'\n",
            "secure-tenant:extraTags: '{oops' starts like a list or mapping",
        ),
        (
            VALID_STACK + "  secure-tenant:exceptions: {shortLogRetention: lab}\n",
            "secure-tenant:exceptions: waivers live in the tenant's waiver file now: move each exception to tenants/",
        ),
    ],
)
def test_a_broken_stack_file_is_refused_naming_the_file_or_key(
    stacks: Path, capsys: pytest.CaptureFixture[str], stack_file: str, says: str
) -> None:
    (stacks / "Pulumi.broken.yaml").write_text(stack_file)
    assert says in refusal(capsys, "--stack", "broken")


def test_a_missing_stack_file_is_named_as_missing_not_as_missing_keys(
    stacks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = refusal(capsys, "--stack", "acme-prd")
    assert "Pulumi.acme-prd.yaml: no such stack file" in message and "good" in message
    assert "missing: set it" not in message


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("secure-tenant:zones", "write namespace:key=value"),
        ("zones=2", "write namespace:key=value"),
        ("secure-tenant:adminCidrs=", "an empty value would drop the stack file's secure-tenant:adminCidrs"),
        ("secure-tenant:adminCidrs=[203.0.113.0/28", "is not a YAML value"),
        ("secure-tenant:zone=3", "secure-tenant:zone: unknown key: did you mean zones?"),
        ("secure-tenant:adminCidrs=[0.0.0.0/1, 128.0.0.0/1]", "0.0.0.0/1 overlaps 10.20.0.0/16"),
    ],
)
def test_a_broken_set_is_refused_naming_it(
    stacks: Path, capsys: pytest.CaptureFixture[str], setting: str, says: str
) -> None:
    assert says in refusal(capsys, "--stack", "good", "--set", setting)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            {"control": "LOG-20"},
            "tenants/acme/waivers.yaml: invalid waivers:\n  waivers[0].control: 'LOG-20'",
        ),
        ({"expires": date(2026, 1, 31)}, "shortLogRetention (LOG-02) expired on 2026-01-31 for preprod"),
    ],
)
def test_a_bad_or_expired_waiver_stops_the_preview_naming_the_entry(
    stacks: Path, capsys: pytest.CaptureFixture[str], entry: dict[str, object], says: str
) -> None:
    with waived({}) as tenants:
        write_waivers(tenants, {**waiver("shortLogRetention", "a lab tenant, logs go to the SIEM"), **entry})
        assert says in refusal(capsys, "--stack", "good")


def test_bad_against_save_and_markdown_paths_are_refused_before_the_preview_runs(
    stacks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (stacks / "list.json").write_text("[1, 2]")
    (stacks / "text.json").write_text("not json")
    (stacks / "a-file").write_text("")
    assert "--against missing.json: cannot read it" in refusal(capsys, "--against", "missing.json")
    assert "not JSON" in refusal(capsys, "--against", str(stacks / "text.json"))
    assert "not a preview --save wrote" in refusal(capsys, "--against", str(stacks / "list.json"))
    assert "not a file that can be written" in refusal(capsys, "--save", str(stacks))
    assert "cannot create" in refusal(capsys, "--markdown", str(stacks / "a-file" / "report.md"))


def test_the_installed_command_prints_the_refusal_without_a_traceback() -> None:
    preview = Path(sys.executable).parent / "secure-tenant-preview"
    result = subprocess.run(
        [str(preview), "--set", "secure-tenant:adminCidr=[203.0.113.0/28]"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("secure-tenant-preview: invalid stack configuration:")
    assert "secure-tenant:adminCidr: unknown key: did you mean adminCidrs?" in result.stderr
    assert "Traceback" not in result.stderr
