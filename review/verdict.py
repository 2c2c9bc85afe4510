"""A policy's verdict on one resource, as the offline pack runner reports it and the reviewer's report shows it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    policy: str
    control: str
    enforcement: str
    resource: str
    message: str
    # The stack's named exception that made this policy advisory, if one did.
    waived_by: str = ""

    @property
    def level(self) -> str:
        """The enforcement as a reviewer reads it: `advisory, waived by shortLogRetention`."""
        return f"{self.enforcement}, waived by {self.waived_by}" if self.waived_by else self.enforcement
