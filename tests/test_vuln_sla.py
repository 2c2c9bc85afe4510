"""VUL-01: the CVSS 3.1 remediation SLA, from findings files to the overdue / due-soon listing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from vuln.findings import Finding, FindingsError, Kind, Severity, load_findings
from vuln.sla import assess, main
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
        "HIGH-INFRA": "mitigation due in 5h; fix due in 1h",
        "HIGH-PRODUCT": "mitigation due in 5h",
    }
    assert list(listed(report)) == ["LOW-PRODUCT", "CRIT-INFRA", "HIGH-INFRA", "HIGH-PRODUCT"]
    high_infra = next(item for item in report["findings"] if item["id"] == "HIGH-INFRA")
    assert high_infra["deadlines"] == [
        {
            "action": "mitigation",
            "term": "48 working hours",
            "due": "2026-11-23T17:00:00+01:00",
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
