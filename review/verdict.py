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
