"""Remediation deadlines of findings under the CVSS 3.1 SLA (control VUL-01), and which are overdue or due soon.

| CVSS       | product mitigation | product fix | infra mitigation | infra fix   |
|------------|--------------------|-------------|------------------|-------------|
| 9.0-10.0   | 24 h               | immediately | 24 h             | immediately |
| 7.0-8.9    | 48 working hours   | 30 days     | 48 working hours | 8 days      |
| 4.0-6.9    | 48 working hours   | 180 days    | 48 working hours | 15 days     |
| 0.1-3.9    | 96 working hours   | 365 days    | 96 working hours | 30 days     |
| 0.0        | no deadline        | no deadline | no deadline      | no deadline |

"24 h" is elapsed time; "working hours" count Monday to Friday inside the working window of the policy's
timezone, minus holidays; "days" are calendar days (same local time). "Immediately" (as soon as possible)
has no fixed deadline: such a fix is always listed as immediate. A mitigation is never due after the fix
(48 working hours can outlast an 8-day fix around holidays): it is capped at the fix deadline.

A finding's status closes deadlines: `mitigated` closes the mitigation (the fix stays due and the finding is
always listed until fixed), `fixed` closes both, `risk-accepted` suspends both until `accepted_until`, after which
they apply again and the finding is always listed as an expired acceptance.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from vuln.findings import Finding, FindingsError, Kind, Severity, Status, load_findings
from vuln.workhours import PolicyError, WorkCalendar, load_calendar


class Clock(StrEnum):
    """How a term of the SLA is counted."""

    HOURS = "h"
    WORKING_HOURS = "working hours"
    DAYS = "days"
    IMMEDIATELY = "as soon as possible"


@dataclass(frozen=True)
class Term:
    """One cell of the SLA table: an amount on a clock."""

    clock: Clock
    amount: int = 0

    def due(self, start: datetime, calendar: WorkCalendar) -> datetime | None:
        """The deadline counted from `start`; None when the term is immediate (no fixed deadline)."""
        match self.clock:
            case Clock.HOURS:
                return calendar.add_hours(start, self.amount)
            case Clock.WORKING_HOURS:
                return calendar.add_working_hours(start, self.amount)
            case Clock.DAYS:
                return calendar.add_days(start, self.amount)
            case Clock.IMMEDIATELY:
                return None

    def __str__(self) -> str:
        return str(self.clock) if self.clock is Clock.IMMEDIATELY else f"{self.amount} {self.clock}"


IMMEDIATELY = Term(Clock.IMMEDIATELY)

# (mitigation, fix) per severity and kind; a score of 0.0 (severity None) has no deadline.
SLA: dict[Severity, dict[Kind, tuple[Term, Term]]] = {
    Severity.CRITICAL: {
        Kind.PRODUCT: (Term(Clock.HOURS, 24), IMMEDIATELY),
        Kind.INFRA: (Term(Clock.HOURS, 24), IMMEDIATELY),
    },
    Severity.HIGH: {
        Kind.PRODUCT: (Term(Clock.WORKING_HOURS, 48), Term(Clock.DAYS, 30)),
        Kind.INFRA: (Term(Clock.WORKING_HOURS, 48), Term(Clock.DAYS, 8)),
    },
    Severity.MEDIUM: {
        Kind.PRODUCT: (Term(Clock.WORKING_HOURS, 48), Term(Clock.DAYS, 180)),
        Kind.INFRA: (Term(Clock.WORKING_HOURS, 48), Term(Clock.DAYS, 15)),
    },
    Severity.LOW: {
        Kind.PRODUCT: (Term(Clock.WORKING_HOURS, 96), Term(Clock.DAYS, 365)),
        Kind.INFRA: (Term(Clock.WORKING_HOURS, 96), Term(Clock.DAYS, 30)),
    },
}


class Action(StrEnum):
    MITIGATION = "mitigation"
    FIX = "fix"


class State(StrEnum):
    """Where a deadline stands at `now`, most urgent first."""

    OVERDUE = "overdue"
    IMMEDIATE = "immediate"
    DUE_SOON = "due soon"
    PENDING = "pending"
    MET = "met"  # closed by the finding's status (mitigated or fixed)
    ACCEPTED = "accepted"  # suspended by a risk acceptance that has not expired


@dataclass(frozen=True)
class Deadline:
    """When one action (mitigation or fix) of a finding is due under the SLA."""

    action: Action
    term: str
    due: datetime | None  # None: immediate, no fixed deadline

    def state(self, now: datetime, window: timedelta) -> State:
        if self.due is None:
            return State.IMMEDIATE
        if self.due < now:
            return State.OVERDUE
        return State.DUE_SOON if self.due <= now + window else State.PENDING


@dataclass(frozen=True)
class Assessment:
    """A finding with its score, severity and SLA deadlines (none for a score of 0.0)."""

    finding: Finding
    deadlines: tuple[Deadline, ...]

    def accepted(self, now: datetime) -> bool:
        """The risk is accepted and the acceptance has not expired at `now`."""
        until = self.finding.accepted_until
        return self.finding.status is Status.RISK_ACCEPTED and until is not None and now < until

    def acceptance_expired(self, now: datetime) -> bool:
        return self.finding.status is Status.RISK_ACCEPTED and not self.accepted(now)

    def mitigated_not_fixed(self) -> bool:
        return self.finding.status is Status.MITIGATED and bool(self.deadlines)

    def state(self, deadline: Deadline, now: datetime, window: timedelta) -> State:
        """Where one deadline stands at `now`, given the finding's status."""
        status = self.finding.status
        if status is Status.FIXED or (status is Status.MITIGATED and deadline.action is Action.MITIGATION):
            return State.MET
        if self.accepted(now):
            return State.ACCEPTED
        return deadline.state(now, window)

    def urgent(self, now: datetime, window: timedelta) -> list[tuple[Deadline, State]]:
        """The open deadlines that are overdue, immediate or due within `window` of `now`."""
        states = ((deadline, self.state(deadline, now, window)) for deadline in self.deadlines)
        return [
            (deadline, state)
            for deadline, state in states
            if state in (State.OVERDUE, State.IMMEDIATE, State.DUE_SOON)
        ]

    def always_listed(self, now: datetime) -> bool:
        """Mitigated-but-unfixed findings and expired risk acceptances are listed whatever their deadlines."""
        return self.mitigated_not_fixed() or self.acceptance_expired(now)


def assess(finding: Finding, calendar: WorkCalendar) -> Assessment:
    """Apply the SLA table to one finding; the mitigation is capped at the fix deadline."""
    rule = SLA.get(finding.severity)
    if rule is None:  # a score of 0.0: nothing to remediate
        return Assessment(finding, ())
    mitigation, fix = rule[finding.kind]
    fix_due = fix.due(finding.discovered_at, calendar)
    mitigation_due = mitigation.due(finding.discovered_at, calendar)
    mitigation_term = str(mitigation)
    if fix_due is not None and mitigation_due is not None and mitigation_due > fix_due:
        mitigation_due, mitigation_term = fix_due, f"{mitigation}, capped at the fix"
    return Assessment(
        finding,
        (
            Deadline(Action.MITIGATION, mitigation_term, mitigation_due),
            Deadline(Action.FIX, str(fix), fix_due),
        ),
    )


@dataclass(frozen=True)
class Report:
    """The findings to act on at `now`: overdue, immediate, or due within `window`, most urgent first."""

    now: datetime
    window: timedelta
    calendar: WorkCalendar
    assessed: int
    rows: list[tuple[Assessment, list[tuple[Deadline, State]]]]

    @classmethod
    def build(
        cls,
        assessments: Sequence[Assessment],
        now: datetime,
        window: timedelta,
        calendar: WorkCalendar,
        every: bool,
    ) -> Report:
        rows = [(assessment, assessment.urgent(now, window)) for assessment in assessments]
        if not every:
            rows = [row for row in rows if row[1] or row[0].always_listed(now)]

        def urgency(row: tuple[Assessment, list[tuple[Deadline, State]]]) -> tuple[int, datetime, str]:
            assessment, urgent = row
            rank = min((list(State).index(state) for _, state in urgent), default=len(State))
            dues = [deadline.due for deadline in assessment.deadlines if deadline.due is not None]
            return rank, min(dues, default=datetime.max.replace(tzinfo=UTC)), assessment.finding.id

        return cls(
            now.astimezone(calendar.zone), window, calendar, len(assessments), sorted(rows, key=urgency)
        )

    def status(self, assessment: Assessment, urgent: list[tuple[Deadline, State]]) -> str:
        finding = assessment.finding
        parts = []
        if assessment.mitigated_not_fixed():
            parts.append("mitigated, not fixed")
        elif finding.status is Status.FIXED:
            parts.append("fixed")
        elif finding.accepted_until is not None and assessment.accepted(self.now):
            parts.append(
                f"risk accepted until {finding.accepted_until.astimezone(self.calendar.zone):%Y-%m-%d}"
            )
        elif finding.accepted_until is not None:
            parts.append(f"risk acceptance expired {_span(self.now - finding.accepted_until)} ago")
        for deadline, state in urgent:
            if state is State.IMMEDIATE:
                parts.append(f"{deadline.action} immediately")
            elif deadline.due is not None:
                delta = deadline.due - self.now
                when = f"overdue by {_span(-delta)}" if state is State.OVERDUE else f"due in {_span(delta)}"
                parts.append(f"{deadline.action} {when}")
        return "; ".join(parts) or "on track"

    def _listed(self, predicate: Callable[[Assessment], bool]) -> int:
        return sum(1 for assessment, _ in self.rows if predicate(assessment))

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "due_within_hours": self.window / timedelta(hours=1),
            "timezone": self.calendar.timezone,
            "findings": [
                {
                    "id": assessment.finding.id,
                    "kind": str(assessment.finding.kind),
                    "base_score": float(assessment.finding.score),
                    "severity": str(assessment.finding.severity),
                    "vector": assessment.finding.vector,
                    "discovered_at": assessment.finding.discovered_at.isoformat(),
                    "finding_status": str(assessment.finding.status),
                    **{
                        name: _local(moment, self.calendar)
                        for name in ("mitigated_at", "fixed_at", "accepted_until")
                        if (moment := getattr(assessment.finding, name)) is not None
                    },
                    **(
                        {"justification": assessment.finding.justification}
                        if assessment.finding.justification
                        else {}
                    ),
                    "deadlines": [
                        {
                            "action": str(deadline.action),
                            "term": deadline.term,
                            "due": _local(deadline.due, self.calendar),
                            "state": str(assessment.state(deadline, self.now, self.window)),
                        }
                        for deadline in assessment.deadlines
                    ],
                    "status": self.status(assessment, urgent),
                }
                for assessment, urgent in self.rows
            ],
        }

    def to_table(self) -> str:
        header = ("ID", "KIND", "SCORE", "SEVERITY", "MITIGATE BY", "FIX BY", "STATUS")
        lines = [header]
        for assessment, urgent in self.rows:
            by = {deadline.action: deadline for deadline in assessment.deadlines}
            lines.append(
                (
                    assessment.finding.id,
                    str(assessment.finding.kind),
                    str(assessment.finding.score),
                    str(assessment.finding.severity),
                    _cell(by.get(Action.MITIGATION), self.calendar),
                    _cell(by.get(Action.FIX), self.calendar),
                    self.status(assessment, urgent),
                )
            )
        widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
        table = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        listed = sum(1 for _, deadlines in self.rows if deadlines)
        summary = [
            (
                f"{listed} of {self.assessed} finding(s) overdue, immediate or due within {_span(self.window)} "
                f"at {self.now:%Y-%m-%d %H:%M %Z}"
            )
        ]
        mitigated = self._listed(Assessment.mitigated_not_fixed)
        expired = self._listed(lambda assessment: assessment.acceptance_expired(self.now))
        if mitigated or expired:
            summary.append(f"{mitigated} mitigated but not fixed, {expired} risk acceptance(s) expired")
        return "\n".join([*table, "", *summary])


def _local(moment: datetime | None, calendar: WorkCalendar) -> str | None:
    return None if moment is None else moment.astimezone(calendar.zone).isoformat()


def _cell(deadline: Deadline | None, calendar: WorkCalendar) -> str:
    if deadline is None:
        return "-"
    if deadline.due is None:
        return "immediately"
    return f"{deadline.due.astimezone(calendar.zone):%Y-%m-%d %H:%M}"


def _span(delta: timedelta) -> str:
    """A duration in days, hours and minutes, e.g. 2d 5h or 3h 20m (minutes only under a day)."""
    days, minutes = divmod(max(0, round(delta / timedelta(minutes=1))), 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes and not days else "",
    ]
    return " ".join(part for part in parts if part) or "0m"


_WINDOW = re.compile(r"(?P<amount>\d+)(?P<unit>[mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_window(text: str) -> timedelta:
    """A window like 48h, 2d, 90m or 1w."""
    match = _WINDOW.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; write e.g. 48h, 2d, 90m or 1w")
    return timedelta(**{_UNITS[match["unit"]]: int(match["amount"])})


def parse_now(text: str) -> datetime:
    """An ISO 8601 time with a UTC offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time with a UTC offset; write e.g. 2026-11-23T09:30:00+01:00"
        )
    return moment


def parse_holiday(text: str) -> date:
    """A date, YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-25"
        ) from None


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secure-tenant-vuln-sla",
        description="List findings whose CVSS 3.1 SLA deadline is overdue, immediate or due soon.",
        epilog=(
            'Findings: a .json file (a list, or {"findings": [...]}) or a .csv file with the columns id, kind '
            "(product|infra), discovered_at (ISO 8601 with a UTC offset), vector (CVSS:3.1/...) and/or "
            "base_score; optional status (open|mitigated|fixed|risk-accepted) with mitigated_at, fixed_at, or "
            "justification and accepted_until. "
            'Policy file (YAML): timezone: Europe/Paris, working_hours: "09:00-17:00", '
            "holidays: [2026-12-25, ...]. Exit status: 0 listed, 2 unusable input (nothing listed)."
        ),
    )
    parser.add_argument("findings", type=Path, help="findings file, .json or .csv")
    parser.add_argument(
        "--now", type=parse_now, help="assess at this time (ISO 8601 with offset; default: now)"
    )
    parser.add_argument(
        "--due-within",
        type=parse_window,
        default=timedelta(hours=48),
        help="window for 'due soon' (default 48h)",
    )
    parser.add_argument("--all", action="store_true", help="list every finding, not only the urgent ones")
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.add_argument(
        "--policy", type=Path, help="YAML working-hours policy: timezone, working_hours, holidays"
    )
    parser.add_argument("--timezone", help="IANA timezone of the working hours (default UTC)")
    parser.add_argument("--working-hours", help="daily working window, HH:MM-HH:MM (default 09:00-17:00)")
    parser.add_argument(
        "--holiday",
        action="append",
        default=[],
        type=parse_holiday,
        help="a holiday, YYYY-MM-DD (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `secure-tenant-vuln-sla`."""
    parser = _arguments()
    args = parser.parse_args(argv)
    now = args.now or datetime.now(UTC)
    try:
        calendar = load_calendar(args.policy, args.timezone, args.working_hours, args.holiday)
        findings = load_findings(args.findings, now)
    except (PolicyError, FindingsError) as error:
        print(f"secure-tenant-vuln-sla: nothing listed, fix these first:\n{error}", file=sys.stderr)
        return 2
    report = Report.build(
        [assess(finding, calendar) for finding in findings], now, args.due_within, calendar, args.all
    )
    print(json.dumps(report.to_json(), indent=2) if args.format == "json" else report.to_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
