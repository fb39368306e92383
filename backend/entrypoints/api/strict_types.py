"""Request types that refuse what they would otherwise coerce: ids in range, booleans as booleans, date-times as
RFC 3339 strings (never a number of seconds), hostnames of a hostname's length."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator, Field, JsonValue, StrictBool, StrictInt

from backend.domain.actions import MAX_ID

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]  # an id out of range names nothing: 422, never 403/404/500


def _rfc3339_only(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise ValueError("a date-time must be an RFC 3339 string, e.g. 2030-01-01T00:00:00Z")
    return value


RfcDateTime = Annotated[datetime, BeforeValidator(_rfc3339_only)]
Hostname = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")]

__all__ = ["Hostname", "PathId", "RfcDateTime", "StrictBool", "StrictInt"]


def one_of(*fields: str) -> list[JsonValue]:
    """JSON Schema `oneOf`: exactly one of `fields` is present and not null (what a model validator enforces)."""
    return [{"required": [f], "properties": {f: {"not": {"type": "null"}}}} for f in fields]
