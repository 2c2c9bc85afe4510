"""Findings read from JSON or CSV and validated as a whole before anything is reported.

A finding carries a CVSS 3.1 base vector, a base score, or both (they must agree). The vector is checked
and scored by the maintained `cvss` library; the severity follows the CVSS 3.1 qualitative rating scale.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Self

from cvss import CVSS3
from cvss.exceptions import CVSSError
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vuln.validation import describe

EXAMPLE_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
EXAMPLE_TIME = "2026-11-23T09:30:00+01:00"


class Kind(StrEnum):
    """What the finding affects; product and infrastructure have different fix deadlines."""

    PRODUCT = "product"
    INFRA = "infra"


class Severity(StrEnum):
    """CVSS 3.1 qualitative severity rating (specification, section 5)."""

    NONE = "None"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"
    CRITICAL = "Critical"

    @classmethod
    def of(cls, score: Decimal) -> Severity:
        """The rating of a base score between 0.0 and 10.0."""
        if score == 0:
            return cls.NONE
        if score < 4:
            return cls.LOW
        if score < 7:
            return cls.MEDIUM
        if score < 9:
            return cls.HIGH
        return cls.CRITICAL


class Status(StrEnum):
    """Where the remediation of a finding stands."""

    OPEN = "open"
    MITIGATED = "mitigated"  # the risk is reduced (workaround, rule, isolation); the fix is still due
    FIXED = "fixed"
    RISK_ACCEPTED = "risk-accepted"  # with a written justification, until an expiry; then due again


# The time each status needs, and the times that only make sense with some statuses.
STATUS_TIMES = {
    "mitigated_at": (Status.MITIGATED, Status.FIXED),
    "fixed_at": (Status.FIXED,),
    "accepted_until": (Status.RISK_ACCEPTED,),
}
REQUIRED_TIME = {
    Status.MITIGATED: "mitigated_at",
    Status.FIXED: "fixed_at",
    Status.RISK_ACCEPTED: "accepted_until",
}


class FindingsError(ValueError):
    """The findings cannot be used; the message lists every problem with the field and the fix."""


def _blank_to_none(value: Any) -> Any:
    """CSV cells are strings: an empty cell means the field was not given."""
    return None if isinstance(value, str) and not value.strip() else value


class Finding(BaseModel):
    """One finding as given, with its base score and severity settled."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    kind: Kind
    discovered_at: datetime
    vector: str | None = None
    base_score: Decimal | None = None
    status: Status = Status.OPEN
    mitigated_at: datetime | None = None
    fixed_at: datetime | None = None
    accepted_until: datetime | None = None
    justification: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_is_not_blank(cls, value: Any) -> Any:
        if isinstance(value, int | str) and str(value).strip():
            return str(value).strip()
        raise ValueError("is empty; give each finding a unique identifier")

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_is_known(cls, value: Any) -> Any:
        known = [kind.value for kind in Kind]
        if isinstance(value, str) and value.strip().lower() in known:
            return value.strip().lower()
        raise ValueError(f"{value!r} is not a kind of finding; use one of {', '.join(known)}")

    @field_validator("discovered_at", "mitigated_at", "fixed_at", "accepted_until", mode="before")
    @classmethod
    def _time_has_a_timezone(cls, value: Any) -> datetime | None:
        value = _blank_to_none(value)
        if value is None:
            return None
        fix = f"write it as ISO 8601 with a UTC offset, e.g. {EXAMPLE_TIME} or 2026-11-23T08:30:00Z"
        try:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time; {fix}") from None
        if moment.utcoffset() is None:
            raise ValueError(f"{value!r} has no timezone; {fix}")
        return moment

    @field_validator("discovered_at", "mitigated_at", "fixed_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        # What happened cannot be later than the moment of the assessment (given as context by the loader);
        # a future discovery would start its clock late and hide the finding as "on track".
        now = (info.context or {}).get("now")
        if value is not None and now is not None and value > now:
            raise ValueError(
                f"{value.isoformat()} is after the assessment time {now.isoformat()}; correct it (a clock or "
                "timezone mistake?) or assess later with --now"
            )
        return value

    @field_validator("status", mode="before")
    @classmethod
    def _status_is_known(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return Status.OPEN
        known = [status.value for status in Status]
        if isinstance(value, str) and value.strip().lower() in known:
            return value.strip().lower()
        raise ValueError(f"{value!r} is not a status; use one of {', '.join(known)}")

    @field_validator("justification", mode="before")
    @classmethod
    def _justification_is_text(cls, value: Any) -> Any:
        return None if (value := _blank_to_none(value)) is None else str(value).strip()

    @field_validator("vector", mode="before")
    @classmethod
    def _vector_is_cvss_3_1(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return None
        vector = str(value).strip()
        try:
            parsed = CVSS3(vector)
        except CVSSError as error:
            raise ValueError(
                f"{vector!r} is not a valid CVSS 3.1 vector ({error}); e.g. {EXAMPLE_VECTOR}"
            ) from None
        if parsed.minor_version != 1:
            raise ValueError(
                f"{vector!r} is a CVSS 3.{parsed.minor_version} vector; give the CVSS 3.1 vector "
                "(starting with CVSS:3.1/), the SLA is defined on CVSS 3.1 scores"
            )
        return parsed.clean_vector()

    @field_validator("base_score", mode="before")
    @classmethod
    def _base_score_is_a_cvss_score(cls, value: Any) -> Decimal | None:
        value = _blank_to_none(value)
        if value is None:
            return None
        fix = "give the CVSS 3.1 base score, 0.0 to 10.0 with one decimal (e.g. 7.5), or the vector instead"
        try:
            score = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number; {fix}") from None
        if not score.is_finite() or not 0 <= score <= 10:
            raise ValueError(f"{value!r} is outside 0.0 to 10.0; {fix}")
        if score != score.quantize(Decimal("0.1")):
            raise ValueError(f"{value!r} has more than one decimal; {fix}")
        return score.quantize(Decimal("0.1"))

    @model_validator(mode="after")
    def _score_is_known_and_consistent(self) -> Self:
        if self.vector is None and self.base_score is None:
            raise ValueError(
                f"has neither vector nor base_score; give the CVSS 3.1 vector (e.g. {EXAMPLE_VECTOR})"
            )
        if self.vector is not None and self.base_score is not None and self.base_score != self.score:
            raise ValueError(
                f"base_score {self.base_score} disagrees with its vector, which scores {self.score}; "
                "correct one of them (or give only the vector)"
            )
        return self

    @model_validator(mode="after")
    def _status_is_complete_and_consistent(self) -> Self:
        required = REQUIRED_TIME.get(self.status)
        if required is not None and getattr(self, required) is None:
            raise ValueError(f"status {self.status} needs {required}; add it (ISO 8601 with a UTC offset)")
        for name, statuses in STATUS_TIMES.items():
            moment = getattr(self, name)
            if moment is not None and self.status not in statuses:
                raise ValueError(
                    f"{name} is given but the status is {self.status}; set the status to "
                    f"{' or '.join(statuses)}, or remove {name}"
                )
            if moment is not None and moment < self.discovered_at:
                raise ValueError(f"{name} {moment.isoformat()} is before discovered_at; correct one of them")
        if self.status is Status.RISK_ACCEPTED and not self.justification:
            raise ValueError("status risk-accepted needs a justification; write why the risk is accepted")
        if self.justification and self.status is not Status.RISK_ACCEPTED:
            raise ValueError(
                f"justification is given but the status is {self.status}; it is for risk-accepted"
            )
        return self

    @cached_property
    def score(self) -> Decimal:
        """The CVSS 3.1 base score: computed from the vector when one was given."""
        if self.vector is not None:
            return Decimal(CVSS3(self.vector).base_score)
        assert self.base_score is not None  # the validator above requires one of the two
        return self.base_score

    @property
    def severity(self) -> Severity:
        return Severity.of(self.score)


def load_findings(path: Path, now: datetime | None = None) -> list[Finding]:
    """Read and validate every finding in a .json or .csv file; raise FindingsError listing all problems.

    With `now`, a finding discovered, mitigated or fixed after it is a problem too.
    """
    records = _read_records(path)
    problems: list[str] = []
    findings: list[Finding] = []
    for position, record in enumerate(records, start=1):
        where = f"{path}: {'row' if path.suffix.lower() == '.csv' else 'item'} {position}"
        if not isinstance(record, dict):
            problems.append(
                f"{where}: is not an object with the fields id, kind, discovered_at, vector/base_score"
                " (and optionally status, mitigated_at, fixed_at, accepted_until, justification)"
            )
            continue
        try:
            findings.append(Finding.model_validate(record, context={"now": now}))
        except ValidationError as error:
            label = (
                f"finding {str(record['id']).strip()!r}" if str(record.get("id") or "").strip() else "finding"
            )
            problems.extend(f"{where}: {label}: {describe(detail)}" for detail in error.errors())
    duplicates = sorted(
        key for key, count in Counter(finding.id for finding in findings).items() if count > 1
    )
    problems.extend(
        f"{path}: finding id {key!r} appears more than once; ids must be unique" for key in duplicates
    )
    if problems:
        raise FindingsError("\n".join(problems))
    return findings


def _read_records(path: Path) -> list[Any]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise FindingsError(f"{path}: cannot be read ({error.strerror})") from None
    if suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise FindingsError(
                f"{path}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            )
        records = data.get("findings") if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise FindingsError(f'{path}: expected a list of findings, or an object with a "findings" list')
        return records
    raise FindingsError(f"{path}: unknown format {suffix or '(no extension)'}; give a .json or .csv file")
