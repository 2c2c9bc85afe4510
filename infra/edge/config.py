"""The web edge's stack config (key `edge`): ALB, certificate, WAF and Shield Advanced."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from infra.baseline import ALB_TLS_POLICIES, DEFAULT_ALB_TLS_POLICY, WAF_RATE_LIMIT_RANGE, ExceptionName
from infra.model import ConfigKeyError, ConfigModel, Weakening, prod_default, turned_off_in_prod

_DNS_NAME = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class EdgeConfig(ConfigModel):
    """The tenant's internet-facing web edge: ALB, certificate, WAF, Shield Advanced (stack key `edge`)."""

    domain_name: str | None = None
    hosted_zone_id: str | None = None
    tls_policy: str = DEFAULT_ALB_TLS_POLICY
    app_port: Annotated[int, Field(ge=1, le=65535)] = 443
    health_check_path: str = "/"
    rate_limit: Annotated[int, Field(ge=WAF_RATE_LIMIT_RANGE[0], le=WAF_RATE_LIMIT_RANGE[1])] = 2000
    allowed_countries: tuple[str, ...] = ()
    shield_advanced: bool | None = None

    @field_validator("domain_name")
    @classmethod
    def _domain_name(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not _DNS_NAME.fullmatch(value)):
            raise ValueError(f"{value!r} is not a lowercase DNS name: use e.g. app.example.com")
        return value

    @field_validator("hosted_zone_id")
    @classmethod
    def _hosted_zone_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"Z[A-Z0-9]{1,31}", value):
            raise ValueError(f"{value!r} is not a Route 53 hosted zone id: use e.g. Z0123456789ABCDEFGHIJ")
        return value

    @field_validator("tls_policy")
    @classmethod
    def _tls_policy(cls, value: str) -> str:
        if value not in ALB_TLS_POLICIES:
            raise ValueError(
                f"{value!r} is not an allowed ALB security policy (only TLS 1.3 and 1.2 with strong ciphers may "
                f"be negotiated): use one of {', '.join(ALB_TLS_POLICIES)}"
            )
        return value

    @field_validator("health_check_path")
    @classmethod
    def _health_check_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} is not a URL path: start it with /, e.g. /health")
        return value

    @field_validator("allowed_countries")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code: use e.g. DE, FR, IE")
        if len(set(value)) != len(value):
            raise ValueError("a country is listed twice: list each once")
        return value

    @model_validator(mode="after")
    def _zone_needs_domain(self) -> Self:
        if self.hosted_zone_id is not None and self.domain_name is None:
            raise ConfigKeyError(
                "edge.hostedZoneId",
                "a hosted zone without edge.domainName: set the domain or remove the zone",
            )
        return self

    def shield_in_effect(self, environment: str) -> bool:
        """Shield Advanced in effect: the stack's choice, else on for prod and off for preprod (it is paid)."""
        return prod_default(self.shield_advanced, environment)

    def weakenings(self, environment: str) -> Iterator[Weakening]:
        """What this config weakens in the baseline, each with the exception that must justify it."""
        yield from turned_off_in_prod(
            self.shield_advanced,
            environment,
            ExceptionName.NO_SHIELD_ADVANCED,
            "edge.shieldAdvanced is off for prod (no DDoS response team, no cost protection)",
        )
