"""One wording for every validation problem: which field, what is wrong, how to fix it."""

from __future__ import annotations

from typing import Any


def describe(detail: Any) -> str:
    """A pydantic error detail as 'field "name" <problem>; <fix>' (the validators word problem and fix)."""
    field = ".".join(str(part) for part in detail["loc"])
    if detail["type"] == "missing":
        message = "is missing; add it"
    else:
        error = detail.get("ctx", {}).get("error")
        message = str(error) if error is not None else detail["msg"]
    return f'field "{field}" {message}' if field else message
