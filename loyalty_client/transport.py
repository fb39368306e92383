"""JSON over one `httpx.Client`: a call answers the decoded body, or raises `ApiError` with the problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from loyalty_client.errors import ApiError

Json = dict[str, Any]


class Transport:
    """Sends requests on `http` (any `httpx.Client`, e.g. FastAPI's `TestClient`) and checks their status."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] | None = None,
        **kw: Any,
    ) -> Any:
        """The JSON body (None when empty) if the status is in `ok` (default: any 2xx); `ApiError` otherwise."""
        response = self.http.request(method, path, headers=dict(headers) if headers else None, **kw)
        if (response.status_code in ok) if ok is not None else response.is_success:
            return response.json() if response.content else None
        raise ApiError.from_response(method, path, response)
