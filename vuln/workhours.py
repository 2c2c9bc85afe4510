"""Working-hours calendar: Monday to Friday, one daily window, minus holidays, in one timezone.

"48 working hours" after a finding counts only time inside working windows: a finding discovered on Friday
at 16:00 with 09:00-17:00 days has used 1 hour by the weekend, and one found at night starts counting when the
next working day opens. Windows are local wall-clock times of the calendar's timezone (daylight saving
included); durations inside them are measured in real elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from vuln.validation import describe

WORKDAYS = frozenset(range(5))  # Monday (0) to Friday (4)


class PolicyError(ValueError):
    """The working-hours policy is unusable; the message names the setting and the fix."""


class WorkCalendar(BaseModel):
    """When the team works: the daily window, the holidays, and the timezone both are read in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "UTC"
    working_hours: tuple[time, time] = (time(9, 0), time(17, 0))
    holidays: frozenset[date] = frozenset()

    @field_validator("timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known timezone; use an IANA name such as Europe/Paris"
            ) from None
        return value

    @field_validator("working_hours", mode="before")
    @classmethod
    def _working_hours_is_a_window(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        fix = 'write the daily window as "HH:MM-HH:MM", e.g. "09:00-17:00"'
        try:
            start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
        except ValueError:
            raise ValueError(f"{value!r} is not a time window; {fix}") from None
        if start >= end:
            raise ValueError(f"{value!r} is an empty working day (it must start before it ends); {fix}")
        return start, end

    @property
    def day_start(self) -> time:
        return self.working_hours[0]

    @property
    def day_end(self) -> time:
        return self.working_hours[1]

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in WORKDAYS and day not in self.holidays

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of working time after `start` (an aware datetime), in the calendar's timezone."""
        remaining = timedelta(hours=hours)
        moment = start.astimezone(UTC)
        day = start.astimezone(self.zone).date()
        while True:
            if self.is_working_day(day):
                opens = datetime.combine(day, self.day_start, tzinfo=self.zone).astimezone(UTC)
                closes = datetime.combine(day, self.day_end, tzinfo=self.zone).astimezone(UTC)
                begin = max(opens, moment)
                if begin < closes:
                    if remaining <= closes - begin:
                        return (begin + remaining).astimezone(self.zone)
                    remaining -= closes - begin
            day += timedelta(days=1)

    def add_days(self, start: datetime, days: int) -> datetime:
        """The same local wall-clock time `days` calendar days after `start`."""
        later = start.astimezone(self.zone) + timedelta(days=days)
        return later.astimezone(UTC).astimezone(self.zone)  # settles a time that daylight saving skipped

    def add_hours(self, start: datetime, hours: int) -> datetime:
        """`hours` of elapsed calendar time after `start`, nights, weekends and holidays included."""
        return (start.astimezone(UTC) + timedelta(hours=hours)).astimezone(self.zone)


def load_calendar(
    path: Path | None,
    timezone: str | None = None,
    working_hours: str | None = None,
    holidays: Iterable[date] = (),
) -> WorkCalendar:
    """The calendar of a YAML policy file (or the defaults); command-line settings replace the file's, and
    command-line holidays are added to the file's."""
    settings: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise PolicyError(f"{path}: cannot be read as YAML ({error})") from None
        if not isinstance(loaded, dict):
            raise PolicyError(f"{path}: expected a mapping with timezone, working_hours and holidays")
        settings.update(loaded)
    if timezone is not None:
        settings["timezone"] = timezone
    if working_hours is not None:
        settings["working_hours"] = working_hours
    settings["holidays"] = [*(settings.get("holidays") or []), *holidays]
    try:
        return WorkCalendar.model_validate(settings)
    except ValidationError as error:
        source = f"{path}: " if path is not None else ""
        raise PolicyError(
            "\n".join(f"{source}policy {describe(detail)}" for detail in error.errors())
        ) from None
