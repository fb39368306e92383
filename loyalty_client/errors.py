"""The client's exceptions: one root, and an API error that carries the server's RFC 9457 problem document."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


class LoyaltyClientError(Exception):
    """Root of everything this package raises."""


class ApiError(LoyaltyClientError):
    """The API answered with an unexpected status; `problem` is its problem+json body (empty if it sent none).

    `code` is the stable machine-readable reason (e.g. `idempotency-conflict`, `qr-already-claimed`); `type`,
    `title` and `detail` are RFC 9457's fields.
    """

    def __init__(self, method: str, path: str, status: int, problem: dict[str, Any], text: str) -> None:
        self.method, self.path, self.status = method, path, status
        self.problem = problem
        self.code: str | None = _str(problem.get("code"))
        self.type: str | None = _str(problem.get("type"))
        self.title: str | None = _str(problem.get("title"))
        self.detail: str | None = _str(problem.get("detail"))
        self.text = text
        super().__init__(f"{method} {path} → {status}: {text[:500]}")

    @classmethod
    def from_response(cls, method: str, path: str, response: httpx.Response) -> ApiError:
        problem: dict[str, Any] = {}
        if response.headers.get("content-type", "").startswith((PROBLEM_JSON, "application/json")):
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                problem = body
        return cls(method, path, response.status_code, problem, response.text)


class WaitTimeout(LoyaltyClientError):
    """Something the client waits for (an import, a redemption) did not finish in time."""


class WebhookSignatureError(LoyaltyClientError):
    """A webhook delivery's `Loyalty-Signature` is missing, malformed, does not match, or is too old."""


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
