"""`FastJSONResponse`: JSON bodies encoded by pydantic-core (Rust), for large answers such as bulk results."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic_core import to_json


class FastJSONResponse(JSONResponse):
    """Same content and media type as `JSONResponse`; a 10,000-result body encodes several times faster."""

    def render(self, content: Any) -> bytes:
        return to_json(content)
