"""Progress of long runs: what is running is read from the child's own output, and a failure names its task."""

from __future__ import annotations

import sys
from pathlib import Path

from lab import progress

ANSIBLE_RUN = """\
INFO     [default > converge] Executing
PLAY [Harden the tenant's VPN bastion] *****
TASK [Gathering Facts] *****
ok: [bastion]
TASK [os_baseline : Apply the hardened sysctls] *****
changed: [bastion]
RUNNING HANDLER [os_baseline : Reload sysctls] *****
INFO     [default > verify] Executing
TASK [openvpn : Refuse an OpenVPN below the floor] *****
fatal: [bastion]: FAILED! => {"msg": "OpenVPN 2.5.1 is below openvpn_min_version 2.6.0"}
"""


def fed(text: str, total: int | None = None) -> progress.Activity:
    activity = progress.Activity("converge", total)
    for line in text.splitlines(keepends=True):
        activity.feed(line)
    return activity


def test_the_molecule_step_task_and_count_come_from_the_output() -> None:
    activity = fed(ANSIBLE_RUN.split("INFO     [default > verify]")[0], total=40)
    assert (activity.action, activity.task, activity.tasks_done) == (
        "converge",
        "os_baseline : Reload sysctls",
        3,
    )
    assert "converge task 3/40: os_baseline : Reload sysctls" in activity.summary()


def test_a_failure_names_the_failing_task_and_its_error() -> None:
    activity = fed(ANSIBLE_RUN)
    assert activity.action == "verify"
    assert activity.failures == [
        "task: openvpn : Refuse an OpenVPN below the floor",
        'fatal: [bastion]: FAILED! => {"msg": "OpenVPN 2.5.1 is below openvpn_min_version 2.6.0"}',
    ]


def test_a_failed_verifier_test_shows_its_assertion_and_name() -> None:
    verifier = """\
INFO     [default > verify] Executing
tests/test_tls.py::test_hsts_lasts_two_years FAILED
    def test_hsts_lasts_two_years(scan):
>       assert hsts.max_age == 63072000
E       assert 300 == 63072000
E        +  where 300 = hsts.max_age
=========================== short test summary info ============================
FAILED tests/test_tls.py::test_hsts_lasts_two_years - assert 300 == 63072000
"""
    assert fed(verifier).failures == [
        "E       assert 300 == 63072000",
        "E        +  where 300 = hsts.max_age",
        "FAILED tests/test_tls.py::test_hsts_lasts_two_years - assert 300 == 63072000",
    ]


def test_stream_keeps_the_whole_output_and_reports_a_failure_with_its_log(tmp_path: Path) -> None:
    script = f"import sys; sys.stdout.write({ANSIBLE_RUN!r}); sys.exit(2)"
    log = tmp_path / "run.log"
    outcome = progress.stream([sys.executable, "-c", script], log, progress.Activity("converge"), show=False)
    assert not outcome.ok and outcome.returncode == 2
    assert log.read_text() == ANSIBLE_RUN == outcome.output
    report = outcome.failure_report(log)
    assert "task: openvpn : Refuse an OpenVPN below the floor" in report
    assert report.endswith(f"whole output: {log}")
    assert "Traceback" not in report


def test_a_failure_without_an_ansible_error_shows_the_output_tail(tmp_path: Path) -> None:
    script = "import sys; print('\\n'.join(f'line {n}' for n in range(30))); sys.exit(1)"
    outcome = progress.stream(
        [sys.executable, "-c", script], tmp_path / "run.log", progress.Activity("x"), show=False
    )
    report = outcome.failure_report(tmp_path / "run.log")
    assert "line 29" in report and "line 10" not in report
