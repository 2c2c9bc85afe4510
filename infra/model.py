"""What every concern's config model shares: the stack-key conventions and the error that names one key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from infra.baseline import ExceptionName


class ConfigModel(BaseModel):
    """A part of the stack config: camelCase keys, unknown keys refused, immutable once validated."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )


class ConfigKeyError(ValueError):
    """A cross-field problem that belongs to one specific key (its full path under `secure-tenant:`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def prod_default(chosen: bool | None, environment: str) -> bool:
    """A protection the stack may choose, else on for prod and off for preprod."""
    return environment == "prod" if chosen is None else chosen


def turned_off_in_prod(
    chosen: bool | None, environment: str, exception: ExceptionName, problem: str
) -> Iterator[Weakening]:
    """A protection on by default in prod that the stack turns off there: the exception must justify it."""
    if environment == "prod" and not prod_default(chosen, environment):
        yield Weakening(exception, problem)


def is_private(network: IPv4Network) -> bool:
    """Inside an RFC 1918 range."""
    return any(
        network.subnet_of(block)
        for block in map(IPv4Network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    )


@dataclass(frozen=True)
class Weakening:
    """A config value below the baseline, and the named exception whose justification must accept it."""

    exception: ExceptionName
    problem: str
