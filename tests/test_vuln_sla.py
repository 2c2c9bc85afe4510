"""VUL-01: the CVSS 3.1 remediation SLA, from findings files to the overdue / due-soon listing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from vuln.findings import Finding, FindingsError, Kind, Severity, load_findings
from vuln.sla import SLA, assess, main
from vuln.validation import describe
from vuln.workhours import PolicyError, WorkCalendar, load_calendar

FIXTURES = Path(__file__).parent / "fixtures"
PARIS = ZoneInfo("Europe/Paris")
# Monday 2026-11-23, 09:00 in Paris: the start of a working week.
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=PARIS)
NOW = "2026-11-23T12:00:00+01:00"


def paris(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=PARIS)


@pytest.fixture
def calendar() -> WorkCalendar:
    """09:00-17:00, Monday to Friday, in Paris, no holidays."""
    return WorkCalendar(timezone="Europe/Paris")


def finding(score: str, kind: str, discovered_at: datetime = MONDAY_9) -> Finding:
    return Finding.model_validate(
        {
            "id": f"F-{score}-{kind}",
            "kind": kind,
            "base_score": score,
            "discovered_at": discovered_at.isoformat(),
        }
    )


def dues(score: str, kind: str, calendar: WorkCalendar) -> list[datetime | None]:
    return [deadline.due for deadline in assess(finding(score, kind), calendar).deadlines]


# --- The SLA table at every boundary, for both kinds --------------------------------------------------------

# 48 and 96 working hours from Monday 09:00 are 6 and 12 full working days: the 6th and 12th day at 17:00.
AFTER_48_WORKING_HOURS = paris(2026, 11, 30, 17, 0)
AFTER_96_WORKING_HOURS = paris(2026, 12, 8, 17, 0)


@pytest.mark.parametrize("kind", ["product", "infra"])
def test_a_score_of_zero_has_no_deadline(kind, calendar):
    assert finding("0.0", kind).severity is Severity.NONE
    assert dues("0.0", kind, calendar) == []


@pytest.mark.parametrize("score", ["0.1", "3.9"])
@pytest.mark.parametrize(
    ("kind", "fix"), [("product", paris(2027, 11, 23, 9, 0)), ("infra", paris(2026, 12, 23, 9, 0))]
)
def test_low_is_mitigated_within_96_working_hours_and_fixed_within_365_or_30_days(score, kind, fix, calendar):
    assert finding(score, kind).severity is Severity.LOW
    assert dues(score, kind, calendar) == [AFTER_96_WORKING_HOURS, fix]


@pytest.mark.parametrize("score", ["4.0", "6.9"])
@pytest.mark.parametrize(
    ("kind", "fix"),
    [
        ("product", paris(2027, 5, 22, 9, 0)),
        ("infra", paris(2026, 12, 8, 9, 0)),
    ],  # 180 days lands in summer time
)
def test_medium_is_mitigated_within_48_working_hours_and_fixed_within_180_or_15_days(
    score, kind, fix, calendar
):
    assert finding(score, kind).severity is Severity.MEDIUM
    assert dues(score, kind, calendar) == [AFTER_48_WORKING_HOURS, fix]


@pytest.mark.parametrize("score", ["7.0", "8.9"])
@pytest.mark.parametrize(
    ("kind", "fix"), [("product", paris(2026, 12, 23, 9, 0)), ("infra", paris(2026, 12, 1, 9, 0))]
)
def test_high_is_mitigated_within_48_working_hours_and_fixed_within_30_or_8_days(score, kind, fix, calendar):
    assert finding(score, kind).severity is Severity.HIGH
    assert dues(score, kind, calendar) == [AFTER_48_WORKING_HOURS, fix]


@pytest.mark.parametrize("score", ["9.0", "10.0"])
@pytest.mark.parametrize("kind", ["product", "infra"])
def test_critical_is_mitigated_within_24_hours_and_fixed_immediately(score, kind, calendar):
    assert finding(score, kind).severity is Severity.CRITICAL
    mitigation, fix = assess(finding(score, kind), calendar).deadlines
    assert (mitigation.due, mitigation.term) == (paris(2026, 11, 24, 9, 0), "24 h")
    assert (fix.due, fix.term) == (None, "as soon as possible")


def test_critical_mitigation_counts_nights_and_weekends(calendar):
    friday_afternoon = paris(2026, 11, 27, 16, 0)
    mitigation, _ = assess(finding("9.8", "infra", friday_afternoon), calendar).deadlines
    assert mitigation.due == paris(2026, 11, 28, 16, 0)


def test_24_hours_are_elapsed_hours_across_a_daylight_saving_change(calendar):
    # Paris leaves summer time on 2026-10-25: 24 elapsed hours after noon on the 24th is 11:00 on the 25th.
    assert calendar.add_hours(paris(2026, 10, 24, 12, 0), 24) == paris(2026, 10, 25, 11, 0)


def test_days_keep_the_local_time_across_a_daylight_saving_change(calendar):
    assert calendar.add_days(paris(2026, 10, 20, 12, 0), 8) == paris(2026, 10, 28, 12, 0)


# --- Working hours -----------------------------------------------------------------------------------------


def test_working_hours_skip_the_weekend(calendar):
    # Thursday 15:00: 2 h on Thursday, 8 h on Friday, then Monday to Thursday (32 h), 6 h into Friday.
    assert calendar.add_working_hours(paris(2026, 11, 26, 15, 0), 48) == paris(2026, 12, 4, 15, 0)


def test_working_hours_skip_a_holiday():
    calendar = WorkCalendar(timezone="Europe/Paris", holidays=frozenset({date(2026, 11, 30)}))
    assert calendar.add_working_hours(paris(2026, 11, 26, 15, 0), 48) == paris(2026, 12, 7, 15, 0)


def test_working_hours_over_christmas_and_new_year():
    calendar = WorkCalendar(
        timezone="Europe/Paris", holidays=frozenset({date(2026, 12, 25), date(2027, 1, 1)})
    )
    assert calendar.add_working_hours(paris(2026, 12, 24, 10, 0), 48) == paris(2027, 1, 5, 10, 0)


@pytest.mark.parametrize(
    "discovered",
    [paris(2026, 11, 28, 22, 0), paris(2026, 11, 27, 18, 30), paris(2026, 11, 30, 6, 0)],
    ids=["saturday-night", "friday-after-hours", "monday-before-opening"],
)
def test_a_finding_discovered_outside_working_hours_starts_counting_when_work_starts(discovered, calendar):
    # The clock starts on Monday 30th at 09:00; 48 h are six full days, ending on the next Monday at 17:00.
    assert calendar.add_working_hours(discovered, 48) == paris(2026, 12, 7, 17, 0)


def test_the_last_minute_of_a_day_carries_over_to_the_next_morning(calendar):
    assert calendar.add_working_hours(paris(2026, 11, 25, 16, 59), 1) == paris(2026, 11, 26, 9, 59)


def test_working_hours_are_read_in_the_policy_timezone():
    discovered = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # 09:30 in Paris, before opening in UTC
    same_moment_in_tokyo = datetime.fromisoformat("2026-11-23T17:30:00+09:00")
    in_paris = WorkCalendar(timezone="Europe/Paris")
    assert in_paris.add_working_hours(discovered, 8) == paris(2026, 11, 24, 9, 30)
    assert in_paris.add_working_hours(same_moment_in_tokyo, 8) == paris(2026, 11, 24, 9, 30)
    assert WorkCalendar(timezone="UTC").add_working_hours(discovered, 8) == datetime(
        2026, 11, 23, 17, 0, tzinfo=UTC
    )


def test_working_hours_across_a_daylight_saving_change(calendar):
    # Friday 16:00 summer time; Monday opens at 09:00 winter time.
    assert calendar.add_working_hours(paris(2026, 10, 23, 16, 0), 2) == paris(2026, 10, 26, 10, 0)


def test_a_custom_working_day_is_used():
    calendar = WorkCalendar(timezone="Europe/Paris", working_hours="08:00-12:00")
    assert calendar.add_working_hours(paris(2026, 11, 23, 11, 0), 5) == paris(2026, 11, 24, 12, 0)


def test_policy_file_with_command_line_settings_on_top(tmp_path):
    policy = tmp_path / "sla-policy.yaml"
    policy.write_text('timezone: Europe/Paris\nworking_hours: "10:00-18:00"\nholidays: [2026-12-25]\n')
    calendar = load_calendar(policy, timezone="Europe/Berlin", holidays=[date(2027, 1, 1)])
    assert calendar.timezone == "Europe/Berlin"
    assert (calendar.day_start.hour, calendar.day_end.hour) == (10, 18)
    assert calendar.holidays == {date(2026, 12, 25), date(2027, 1, 1)}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"timezone": "Europe/Pariss"}, "'Europe/Pariss' is not a known timezone; use an IANA name"),
        ({"working_hours": "17:00-09:00"}, "is an empty working day (it must start before it ends)"),
        (
            {"working_hours": "9 to 5"},
            "'9 to 5' is not a time window; write the daily window as \"HH:MM-HH:MM\"",
        ),
    ],
)
def test_a_bad_policy_names_the_setting_and_the_fix(settings, message):
    with pytest.raises(PolicyError) as error:
        load_calendar(None, **settings)
    assert f'field "{next(iter(settings))}"' in str(error.value)
    assert message in str(error.value)


# --- Findings: vectors, scores and errors ------------------------------------------------------------------


def test_the_vector_gives_score_and_severity():
    critical = Finding.model_validate(
        {
            "id": "V",
            "kind": "infra",
            "discovered_at": "2026-11-23T09:00:00Z",
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U",  # temporal metrics do not change the base
        }
    )
    assert (str(critical.score), critical.severity) == ("9.8", Severity.CRITICAL)


def write_findings(tmp_path: Path, *records: dict[str, object]) -> Path:
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(list(records)))
    return path


GOOD = {"kind": "product", "discovered_at": "2026-11-23T09:00:00+01:00", "base_score": 5.0}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"vector": "CVSS:3.1/AV:N/AC:L"},
            "field \"vector\" 'CVSS:3.1/AV:N/AC:L' is not a valid CVSS 3.1 vector (Missing mandatory metrics",
        ),
        (
            {"vector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
            "field \"vector\" 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' is a CVSS 3.0 vector; give the CVSS 3.1",
        ),
        ({"vector": "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, 'field "vector"'),
        (
            {"base_score": 10.1},
            'field "base_score" 10.1 is outside 0.0 to 10.0; give the CVSS 3.1 base score',
        ),
        ({"base_score": -0.1}, 'field "base_score" -0.1 is outside 0.0 to 10.0'),
        ({"base_score": "4.05"}, "field \"base_score\" '4.05' has more than one decimal"),
        ({"base_score": "high"}, "field \"base_score\" 'high' is not a number"),
        ({"kind": "saas"}, "field \"kind\" 'saas' is not a kind of finding; use one of product, infra"),
        (
            {"discovered_at": "2026-11-23T09:00:00"},
            "field \"discovered_at\" '2026-11-23T09:00:00' has no timezone; write",
        ),
        ({"discovered_at": "last week"}, "field \"discovered_at\" 'last week' is not an ISO 8601 time"),
        ({"base_score": None}, "has neither vector nor base_score; give the CVSS 3.1 vector"),
        (
            {"vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "base_score": 7.5},
            "base_score 7.5 disagrees with its vector, which scores 9.8",
        ),
    ],
)
def test_a_bad_finding_names_its_id_the_field_and_the_fix(tmp_path, fields, message):
    path = write_findings(tmp_path, {"id": "GOOD-1", **GOOD}, {"id": "VULN-7", **GOOD, **fields})
    with pytest.raises(FindingsError) as error:
        load_findings(path)
    assert str(error.value).startswith(f"{path}: item 2: finding 'VULN-7': ")
    assert message in str(error.value)


def test_a_missing_id_and_a_duplicate_id_are_reported(tmp_path):
    path = write_findings(tmp_path, GOOD, {"id": "A", **GOOD}, {"id": "A", **GOOD})
    with pytest.raises(FindingsError) as error:
        load_findings(path)
    assert str(error.value).splitlines() == [
        f'{path}: item 1: finding: field "id" is missing; add it',
        f"{path}: finding id 'A' appears more than once; ids must be unique",
    ]


def test_every_problem_is_reported_before_any_output(tmp_path, capsys):
    path = write_findings(
        tmp_path,
        {"id": "OK", **GOOD},
        {"id": "BAD-KIND", **GOOD, "kind": "cloud"},
        {"id": "BAD-SCORE", **GOOD, "base_score": 11},
    )
    assert main([str(path), "--now", NOW]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "finding 'BAD-KIND': field \"kind\"" in err
    assert "finding 'BAD-SCORE': field \"base_score\"" in err


def test_a_csv_row_is_named_by_its_row_number(tmp_path):
    path = tmp_path / "findings.csv"
    path.write_text("id,kind,discovered_at,vector,base_score\nX-1,infra,2026-11-23T09:00:00Z,,99\n")
    with pytest.raises(FindingsError, match=r"findings.csv: row 1: finding 'X-1': field \"base_score\" '99'"):
        load_findings(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("findings.json", "[{", "not valid JSON at line 1"),
        (
            "findings.json",
            '{"items": []}',
            'expected a list of findings, or an object with a "findings" list',
        ),
        ("findings.xlsx", "", "unknown format .xlsx; give a .json or .csv file"),
    ],
)
def test_an_unusable_findings_file_says_why(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FindingsError, match=message):
        load_findings(path)


def test_csv_and_json_inputs_give_the_same_assessments(calendar):
    def summary(path: Path) -> list[tuple[object, ...]]:
        return [
            (
                item.finding.id,
                item.finding.kind,
                item.finding.score,
                tuple(deadline.due for deadline in item.deadlines),
            )
            for item in (assess(finding, calendar) for finding in load_findings(path))
        ]

    from_csv = summary(FIXTURES / "findings.csv")
    assert from_csv == summary(FIXTURES / "findings.json")
    assert [(id_, kind, str(score)) for id_, kind, score, _ in from_csv] == [
        ("CRIT-INFRA", Kind.INFRA, "9.8"),
        ("HIGH-PRODUCT", Kind.PRODUCT, "7.5"),
        ("MEDIUM-INFRA", Kind.INFRA, "5.3"),
        ("LOW-PRODUCT", Kind.PRODUCT, "3.1"),
        ("NONE-INFRA", Kind.INFRA, "0.0"),
        ("HIGH-INFRA", Kind.INFRA, "8.1"),
    ]


# --- Listing overdue and due-soon findings -----------------------------------------------------------------


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert (
        main(
            [
                str(FIXTURES / "findings.json"),
                "--now",
                NOW,
                "--timezone",
                "Europe/Paris",
                "--format",
                "json",
                *args,
            ]
        )
        == 0
    )
    return json.loads(capsys.readouterr().out)


def listed(report: dict[str, object]) -> dict[str, str]:
    return {item["id"]: item["status"] for item in report["findings"]}


def test_lists_overdue_immediate_and_due_soon_findings_most_urgent_first(capsys):
    report = run_json(capsys)
    assert listed(report) == {
        "LOW-PRODUCT": "mitigation overdue by 402d; fix overdue by 53d",
        "CRIT-INFRA": "mitigation overdue by 2d 2h; fix immediately",
        "HIGH-INFRA": "mitigation due in 1h; fix due in 1h",  # the mitigation is capped at the fix
        "HIGH-PRODUCT": "mitigation due in 5h",
    }
    assert list(listed(report)) == ["LOW-PRODUCT", "CRIT-INFRA", "HIGH-INFRA", "HIGH-PRODUCT"]
    high_infra = next(item for item in report["findings"] if item["id"] == "HIGH-INFRA")
    assert high_infra["deadlines"] == [
        {
            "action": "mitigation",
            "term": "48 working hours, capped at the fix",
            "due": "2026-11-23T13:00:00+01:00",
            "state": "due soon",
        },
        {"action": "fix", "term": "8 days", "due": "2026-11-23T13:00:00+01:00", "state": "due soon"},
    ]


def test_the_window_decides_what_is_due_soon(capsys):
    assert "HIGH-PRODUCT" not in listed(run_json(capsys, "--due-within", "4h"))
    assert "HIGH-INFRA" in listed(run_json(capsys, "--due-within", "1h"))  # its fix is due in exactly 1 h
    assert listed(run_json(capsys, "--due-within", "8d"))["MEDIUM-INFRA"] == "mitigation due in 7d 5h"


def test_a_zero_score_is_never_listed_and_all_lists_everything(capsys):
    assert "NONE-INFRA" not in listed(run_json(capsys, "--due-within", "52w"))
    everything = listed(run_json(capsys, "--all"))
    assert (everything["NONE-INFRA"], everything["MEDIUM-INFRA"]) == ("on track", "on track")


def test_the_table_shows_deadlines_in_the_policy_timezone(capsys):
    assert main([str(FIXTURES / "findings.csv"), "--now", NOW, "--timezone", "Europe/Paris"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "SCORE", "SEVERITY", "MITIGATE", "BY", "FIX", "BY", "STATUS"]
    assert lines[2].split()[:7] == [
        "CRIT-INFRA",
        "infra",
        "9.8",
        "Critical",
        "2026-11-21",
        "10:00",
        "immediately",
    ]
    assert lines[-1] == "4 of 6 finding(s) overdue, immediate or due within 2d at 2026-11-23 12:00 CET"


def test_now_defaults_to_the_current_time(capsys):
    assert main([str(FIXTURES / "findings.json"), "--format", "json"]) == 0
    now = datetime.fromisoformat(json.loads(capsys.readouterr().out)["now"])
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--due-within", "2 days", "'2 days' is not a duration; write e.g. 48h"),
        ("--now", "2026-11-23T12:00:00", "is not an ISO 8601 time with a UTC offset"),
        ("--holiday", "25/12/2026", "'25/12/2026' is not a date; write it as YYYY-MM-DD"),
    ],
)
def test_bad_options_are_refused_with_the_fix(capsys, option, value, message):
    with pytest.raises(SystemExit) as exit_:
        main([str(FIXTURES / "findings.json"), option, value])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


# --- Findings from the future are refused -------------------------------------------------------------------


def test_a_finding_discovered_after_the_assessment_time_is_refused_naming_it_and_the_field(tmp_path, capsys):
    path = write_findings(
        tmp_path,
        {"id": "OK", **GOOD},
        {"id": "TOMORROW", **GOOD, "discovered_at": "2026-11-24T09:00:00+01:00"},
    )
    assert main([str(path), "--now", NOW]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[1:] == [
        (
            f"{path}: item 2: finding 'TOMORROW': field \"discovered_at\" 2026-11-24T09:00:00+01:00 is after the "
            "assessment time 2026-11-23T12:00:00+01:00; correct it (a clock or timezone mistake?) or assess later "
            "with --now"
        )
    ]


def test_a_finding_from_the_future_is_refused_at_the_current_time_too(tmp_path, capsys):
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    path = write_findings(tmp_path, {"id": "SOON", **GOOD, "discovered_at": future})
    assert main([str(path)]) == 2
    assert "finding 'SOON': field \"discovered_at\"" in capsys.readouterr().err


def test_a_fix_recorded_in_the_future_is_refused(tmp_path):
    path = write_findings(
        tmp_path, {"id": "F", **GOOD, "status": "fixed", "fixed_at": "2026-11-30T09:00:00+01:00"}
    )
    with pytest.raises(
        FindingsError, match="finding 'F': field \"fixed_at\" 2026-11-30T09:00:00\\+01:00 is after"
    ):
        load_findings(path, datetime.fromisoformat(NOW))


# --- The mitigation is never due after the fix ---------------------------------------------------------------

CHRISTMAS = WorkCalendar(timezone="Europe/Paris", holidays=frozenset({date(2026, 12, 25), date(2027, 1, 1)}))


def test_a_mitigation_that_would_outlast_the_fix_over_the_holidays_is_due_with_the_fix():
    # 48 working hours from Christmas Eve end on 5 January; the 8-day infra fix is due on New Year's Day.
    mitigation, fix = assess(finding("7.5", "infra", paris(2026, 12, 24, 10, 0)), CHRISTMAS).deadlines
    assert fix.due == paris(2027, 1, 1, 10, 0)
    assert (mitigation.due, mitigation.term) == (fix.due, "48 working hours, capped at the fix")


def test_a_mitigation_due_before_the_fix_keeps_its_own_term():
    mitigation, fix = assess(finding("7.5", "infra", MONDAY_9), CHRISTMAS).deadlines
    assert (mitigation.due, mitigation.term) == (AFTER_48_WORKING_HOURS, "48 working hours")
    assert fix.due == paris(2026, 12, 1, 9, 0)


# --- Status: open, mitigated, fixed, risk-accepted ----------------------------------------------------------

# Friday 13th, ten days before NOW: a High infra finding is then overdue for its mitigation (Friday 20th 17:00)
# and its fix (Saturday 21st 09:00).
FOUND = "2026-11-13T09:00:00+01:00"
HIGH_INFRA = {"kind": "infra", "discovered_at": FOUND, "base_score": 7.5}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"status": "done"},
            "field \"status\" 'done' is not a status; use one of open, mitigated, fixed, risk-accepted",
        ),
        ({"status": "mitigated"}, "status mitigated needs mitigated_at; add it"),
        ({"status": "fixed"}, "status fixed needs fixed_at; add it"),
        ({"status": "risk-accepted", "justification": "legacy"}, "status risk-accepted needs accepted_until"),
        (
            {"status": "risk-accepted", "accepted_until": "2027-01-01T00:00:00Z"},
            "status risk-accepted needs a justification",
        ),
        (
            {"fixed_at": "2026-11-20T09:00:00Z"},
            "fixed_at is given but the status is open; set the status to fixed",
        ),
        (
            {"status": "mitigated", "mitigated_at": "2026-11-10T09:00:00Z"},
            "mitigated_at 2026-11-10T09:00:00+00:00 is before discovered_at",
        ),
        ({"justification": "we like it"}, "justification is given but the status is open"),
        (
            {"status": "mitigated", "mitigated_at": "monday"},
            "field \"mitigated_at\" 'monday' is not an ISO 8601",
        ),
    ],
    ids=[
        "unknown",
        "mitigated",
        "fixed",
        "accepted-no-expiry",
        "accepted-no-why",
        "stray-time",
        "before",
        "stray-why",
        "time",
    ],
)
def test_a_status_without_what_it_needs_is_refused_naming_the_field(tmp_path, fields, message):
    path = write_findings(tmp_path, {"id": "S-1", **HIGH_INFRA, **fields})
    with pytest.raises(FindingsError) as error:
        load_findings(path, datetime.fromisoformat(NOW))
    assert str(error.value).startswith(f"{path}: item 1: finding 'S-1': ")
    assert message in str(error.value)


def status_report(
    tmp_path, capsys, *findings: dict[str, object], every: bool = False
) -> dict[str, dict[str, object]]:
    path = write_findings(tmp_path, *findings)
    args = [str(path), "--now", NOW, "--timezone", "Europe/Paris", "--format", "json", "--due-within", "1h"]
    assert main([*args, *(["--all"] if every else [])]) == 0
    return {item["id"]: item for item in json.loads(capsys.readouterr().out)["findings"]}


def test_a_mitigated_finding_is_listed_until_fixed_and_its_mitigation_is_met(tmp_path, capsys):
    report = status_report(
        tmp_path,
        capsys,
        {"id": "MITIGATED", **HIGH_INFRA, "status": "mitigated", "mitigated_at": "2026-11-17T09:00:00+01:00"},
        {
            "id": "PRODUCT",
            "kind": "product",
            "discovered_at": FOUND,
            "base_score": 7.5,
            "status": "mitigated",
            "mitigated_at": "2026-11-17T09:00:00+01:00",
        },
    )
    assert report["MITIGATED"]["status"] == "mitigated, not fixed; fix overdue by 2d 3h"
    assert [d["state"] for d in report["MITIGATED"]["deadlines"]] == ["met", "overdue"]
    # Listed although nothing of it is due within the hour: a mitigation is not a fix.
    assert report["PRODUCT"]["status"] == "mitigated, not fixed"
    assert report["PRODUCT"]["finding_status"] == "mitigated"


def test_a_fixed_finding_is_not_listed_even_past_its_deadlines(tmp_path, capsys):
    fixed = {"id": "FIXED", **HIGH_INFRA, "status": "fixed", "fixed_at": "2026-11-18T09:00:00+01:00"}
    assert status_report(tmp_path, capsys, fixed) == {}
    listed_all = status_report(tmp_path, capsys, fixed, every=True)["FIXED"]
    assert listed_all["status"] == "fixed"
    assert [d["state"] for d in listed_all["deadlines"]] == ["met", "met"]


def test_an_accepted_risk_is_quiet_until_it_expires_then_listed_as_expired(tmp_path, capsys):
    accepted = {**HIGH_INFRA, "status": "risk-accepted", "justification": "isolated lab host, retired in Q1"}
    report = status_report(
        tmp_path,
        capsys,
        {"id": "VALID", **accepted, "accepted_until": "2027-03-31T00:00:00+02:00"},
        {"id": "EXPIRED", **accepted, "accepted_until": "2026-11-21T12:00:00+01:00"},
        every=True,
    )
    assert report["VALID"]["status"] == "risk accepted until 2027-03-31"
    assert [d["state"] for d in report["VALID"]["deadlines"]] == ["accepted", "accepted"]
    assert report["VALID"]["justification"] == "isolated lab host, retired in Q1"
    assert report["EXPIRED"]["status"] == (
        "risk acceptance expired 2d ago; mitigation overdue by 2d 19h; fix overdue by 2d 3h"
    )
    assert (
        list(
            status_report(
                tmp_path, capsys, {"id": "VALID", **accepted, "accepted_until": "2027-03-31T00:00:00+02:00"}
            )
        )
        == []
    )


def test_the_table_counts_mitigated_and_expired_findings(tmp_path, capsys):
    path = tmp_path / "findings.csv"
    path.write_text(
        "id,kind,discovered_at,base_score,status,mitigated_at,accepted_until,justification\n"
        f"M,infra,{FOUND},7.5,mitigated,2026-11-17T09:00:00+01:00,,\n"
        f"E,infra,{FOUND},7.5,risk-accepted,,2026-11-21T12:00:00+01:00,vendor patch pending\n"
        f"O,infra,{FOUND},7.5,,,,\n"
    )
    assert main([str(path), "--now", NOW, "--timezone", "Europe/Paris"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "1 mitigated but not fixed, 1 risk acceptance(s) expired"
    assert {line.split()[0] for line in lines[1:-3]} == {"M", "E", "O"}


# --- Properties of the deadline rules (hypothesis) -----------------------------------------------------------

# Moments from 2025 to 2028 at minute precision, in Paris (daylight saving changes included).
moments = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2028, 12, 31),
    timezones=st.just(PARIS),
    allow_imaginary=False,
).map(lambda moment: moment.replace(second=0, microsecond=0))
scores = st.decimals(min_value=Decimal("0.1"), max_value=Decimal("10.0"), places=1)
holidays = st.frozensets(st.dates(min_value=date(2025, 1, 1), max_value=date(2029, 6, 30)), max_size=60)
calendars = st.builds(
    lambda days, hours: WorkCalendar(timezone="Europe/Paris", holidays=days, working_hours=hours),
    holidays,
    st.sampled_from(["09:00-17:00", "08:00-12:00", "00:00-23:59", "13:00-14:00"]),
)
PROPERTIES = settings(max_examples=300, deadline=None)


def scored(score: Decimal, kind: str, discovered_at: datetime) -> Finding:
    return Finding.model_validate(
        {"id": "P", "kind": kind, "base_score": str(score), "discovered_at": discovered_at.isoformat()}
    )


@PROPERTIES
@given(moments, scores, st.sampled_from(["product", "infra"]), calendars)
def test_property_the_mitigation_is_never_due_after_the_fix(discovered, score, kind, calendar):
    mitigation, fix = assess(scored(score, kind, discovered), calendar).deadlines
    uncapped = SLA[Severity.of(score)][Kind(kind)][0].due(discovered, calendar)
    assert mitigation.due is not None and uncapped is not None and mitigation.due > discovered
    if fix.due is None:  # critical: the fix is immediate, the mitigation keeps its 24 h
        assert mitigation.due == uncapped
    else:
        assert discovered < fix.due
        assert mitigation.due == min(uncapped, fix.due)
        assert ("capped at the fix" in mitigation.term) == (uncapped > fix.due)


@PROPERTIES
@given(moments, st.integers(min_value=1, max_value=200), calendars)
def test_property_working_hours_end_inside_a_working_window(start, hours, calendar):
    due = calendar.add_working_hours(start, hours).astimezone(PARIS)
    assert calendar.is_working_day(due.date())
    assert calendar.day_start < due.time() <= calendar.day_end


@PROPERTIES
@given(moments, moments, st.integers(min_value=1, max_value=96), calendars)
def test_property_a_later_discovery_is_never_due_earlier(first, second, hours, calendar):
    early, late = sorted((first, second))
    assert calendar.add_working_hours(early, hours) <= calendar.add_working_hours(late, hours)


@PROPERTIES
@given(moments, st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=3650)))
def test_property_a_finding_from_the_future_is_always_refused_naming_the_field(now, ahead):
    later = now.astimezone(UTC) + ahead  # elapsed time, whatever the local clock does
    record = {"id": "FUTURE", "kind": "infra", "base_score": "5.0", "discovered_at": later.isoformat()}
    with pytest.raises(ValidationError) as error:
        Finding.model_validate(record, context={"now": now})
    assert describe(error.value.errors()[0]).startswith('field "discovered_at" ')
    assert Finding.model_validate(record, context={"now": later}).discovered_at == later
