"""A tenant's waivers, in one file per tenant (`tenants/<tenant>/waivers.yaml`), read by every half of the project.

A waiver names the control it weakens, the setting that weakens it (a stack exception of the baseline or a role
variable), the environments it covers, why, who approved it and until when. The stack config takes its exceptions
from here, the inventory hands the roles their waiver variables from here, and the evidence report shows every
waiver per control and tenant environment. An expired waiver stops a deployment and is flagged in the evidence.

Kept free of Pulumi and Ansible: the program, the inventory plugin and the report all import it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.baseline import TENANT_ID, WAIVABLE_SETTINGS, Environment, ExceptionName, RoleWaiver

ROOT = Path(__file__).resolve().parent.parent
TENANTS = ROOT / "tenants"
CONTROLS = ROOT / "controls.yaml"
WAIVERS_FILE = "waivers.yaml"
# A waiver is approved for at most a year at a time: a far-off expiry would be a permanent exception in disguise.
MAX_VALIDITY = timedelta(days=366)
# The shortest justification accepted: a sentence that says why, not "ok" or "temporary".
MIN_JUSTIFICATION = 20
EXAMPLE = (
    "waivers:\n  - control: LOG-02\n    setting: shortLogRetention\n    environments: [preprod]\n"
    "    justification: <why the control cannot be met, and what stands in for it>\n"
    "    approved_by: <name and role of who accepted the risk>\n    expires: <YYYY-MM-DD, within a year>"
)


class WaiverError(ValueError):
    """A waiver file, or a waiver in it, that cannot be used; the message names the file, the entry and the fix."""


@cache
def control_ids(path: Path = CONTROLS) -> frozenset[str]:
    """The control ids of the controls matrix."""
    return frozenset(str(control["id"]) for control in yaml.safe_load(path.read_text())["controls"])


def _hint(value: str, known: Iterable[str]) -> str:
    """The closest known name, whatever the case of the typo; else the list of them."""
    by_folded = {name.casefold(): name for name in known}
    close = difflib.get_close_matches(value.casefold(), list(by_folded), n=1, cutoff=0.6)
    return (
        f"did you mean {by_folded[close[0]]}?"
        if close
        else f"use one of {', '.join(sorted(by_folded.values()))}"
    )


class Waiver(BaseModel):
    """One accepted weakening of the baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    control: str
    setting: ExceptionName | RoleWaiver
    environments: Annotated[tuple[Environment, ...], Field(min_length=1)]
    justification: str
    approved_by: str
    expires: date

    @field_validator("control")
    @classmethod
    def _known_control(cls, value: str) -> str:
        ids = control_ids()
        if value not in ids:
            raise ValueError(f"{value!r} is not a control of controls.yaml: {_hint(value, ids)}")
        waivable = sorted(set(WAIVABLE_SETTINGS.values()))
        if value not in waivable:
            raise ValueError(
                f"{value} is mandatory: no setting may weaken it, so it cannot be waived (waivable controls: "
                f"{', '.join(waivable)}); meet the control instead"
            )
        return value

    @field_validator("setting", mode="before")
    @classmethod
    def _known_setting(cls, value: object) -> object:
        names = [str(setting) for setting in WAIVABLE_SETTINGS]
        if isinstance(value, str) and value not in names:
            raise ValueError(
                f"{value!r} is not a waivable setting: {_hint(value, names)} (a stack exception of the baseline "
                "or a role's waiver variable)"
            )
        return value

    @field_validator("environments")
    @classmethod
    def _each_environment_once(cls, value: tuple[Environment, ...]) -> tuple[Environment, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"{list(value)} names an environment twice: list each once")
        return value

    @field_validator("justification")
    @classmethod
    def _written_justification(cls, value: str) -> str:
        if len(" ".join(value.split())) < MIN_JUSTIFICATION:
            raise ValueError(
                f"{value!r} does not justify a waiver: write at least {MIN_JUSTIFICATION} characters saying why "
                "the control cannot be met and what stands in for it"
            )
        return value

    @field_validator("approved_by")
    @classmethod
    def _named_approver(cls, value: str) -> str:
        if not value:
            raise ValueError("empty: name who accepted the risk (name and role), as the approval records it")
        return value

    @field_validator("expires")
    @classmethod
    def _within_a_year(cls, value: date) -> date:
        latest = date.today() + MAX_VALIDITY
        if value > latest:
            raise ValueError(
                f"{value} is more than a year ahead: a waiver is approved for a year at most; set expires on or "
                f"before {latest} and renew the approval then"
            )
        return value

    @model_validator(mode="after")
    def _setting_weakens_the_control(self) -> Self:
        weakened = WAIVABLE_SETTINGS[self.setting]
        if weakened != self.control:
            raise ValueError(
                f"setting {self.setting} weakens control {weakened}, not {self.control}: set control to {weakened}"
            )
        return self

    @property
    def role_variable(self) -> bool:
        """The setting is a role variable (the inventory sets it), not a stack exception (the program reads it)."""
        return isinstance(self.setting, RoleWaiver)

    def expired(self, today: date) -> bool:
        """Past its last day (`expires` is the last day it holds)."""
        return today > self.expires

    @property
    def statement(self) -> str:
        """The justification with its approval, as a role prints it on every run and the preview shows it."""
        return f"{self.justification} (approved by {self.approved_by}, expires {self.expires})"


class WaiverFile(BaseModel):
    """`tenants/<tenant>/waivers.yaml`: the tenant's waivers, at most one per setting and environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: tuple[Waiver, ...] = ()

    @model_validator(mode="after")
    def _one_waiver_per_setting_and_environment(self) -> Self:
        first: dict[tuple[str, str], int] = {}
        for index, waiver in enumerate(self.waivers):
            for environment in waiver.environments:
                seen = first.setdefault((waiver.setting, environment), index)
                if seen != index:
                    raise ValueError(
                        f"waivers[{seen}] and waivers[{index}] both waive {waiver.setting} in {environment}: keep "
                        "one (a setting has one justification, approver and expiry per environment)"
                    )
        return self

    def for_environment(self, environment: str) -> tuple[Waiver, ...]:
        return tuple(waiver for waiver in self.waivers if environment in waiver.environments)


def waivers_path(tenant: str, tenants: Path | None = None) -> Path:
    """The tenant's waiver file; a tenant id that is not one, or a file linked from outside the tenant, is refused."""
    if not re.fullmatch(TENANT_ID, tenant):
        raise WaiverError(
            f"{tenant!r} is not a tenant id (2-12 lowercase letters and digits): fix the tenant"
        )
    folder = (tenants or TENANTS) / tenant
    path = folder / WAIVERS_FILE
    if (path.exists() or path.is_symlink()) and not path.resolve().is_relative_to(folder.resolve()):
        raise WaiverError(
            f"{waiver_file(tenant)} leads to {path.resolve()}, outside tenants/{tenant}: a tenant's waivers are "
            "kept in its own folder, under review with it; replace the link by the file itself"
        )
    return path


def waiver_file(tenant: str) -> str:
    """The tenant's waiver file as the operator names it, wherever the tenants folder is."""
    return f"tenants/{tenant}/{WAIVERS_FILE}"


def load_waivers(tenant: str, tenants: Path | None = None) -> WaiverFile:
    """Every waiver of the tenant, checked (expired ones included); no file means no waivers."""
    path = waivers_path(tenant, tenants)
    if not path.exists():
        return WaiverFile()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise WaiverError(
            f"{waiver_file(tenant)} is not readable YAML ({' '.join(str(error).split())}): fix it"
        ) from None
    if document is None:
        return WaiverFile()
    try:
        return WaiverFile.model_validate(document)
    except ValidationError as error:
        raise WaiverError(_describe(waiver_file(tenant), error)) from None


def _describe(shown: str, error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"])
        key = key.lstrip(".") or "(file)"
        cause = problem.get("ctx", {}).get("error")
        message = str(cause) if cause is not None else problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = f"unknown key: a waiver holds {', '.join(Waiver.model_fields)}"
        elif problem["type"] == "missing":
            message = f"missing: every waiver names {', '.join(Waiver.model_fields)}"
        elif problem["type"] == "model_type" and key == "(file)":
            message = f"a waiver file is a mapping with a list of waivers, e.g.\n{EXAMPLE}"
        lines.append(f"  {key}: {message}")
    return f"{shown}: invalid waivers:\n" + "\n".join(lines)


def waivers_in_force(
    tenant: str, environment: str, today: date | None = None, tenants: Path | None = None
) -> tuple[Waiver, ...]:
    """The tenant environment's waivers for a deployment: refused while any of them has expired."""
    waivers = load_waivers(tenant, tenants).for_environment(environment)
    today = today or date.today()
    expired = [waiver for waiver in waivers if waiver.expired(today)]
    if expired:
        names = "; ".join(f"{w.setting} ({w.control}) expired on {w.expires}" for w in expired)
        raise WaiverError(
            f"{waiver_file(tenant)}: the waiver of {names} for {environment}: nothing is deployed under an "
            "expired waiver. Renew it (a new approval: approved_by and a later expires) or remove it and meet the "
            "control"
        )
    return waivers


def statements(waivers: Iterable[Waiver], *, role_variables: bool) -> dict[str, str]:
    """One side's waived settings (the roles' waiver variables, or the stack's exceptions) and their statements."""
    return {str(w.setting): w.statement for w in waivers if w.role_variable == role_variables}
