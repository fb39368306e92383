"""One exception hierarchy for the backend; the API maps it to RFC 9457 problem responses in one place."""

from __future__ import annotations

from typing import Any


class LoyaltyError(Exception):
    """Root of every error the backend raises on purpose."""

    status = 400
    code = "loyalty-error"
    title = "Request failed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def fields(self) -> dict[str, Any]:
        """The problem's core fields, for one item's error inside a larger answer (a bulk request's results)."""
        return {"status": self.status, "code": self.code, "title": self.title, "detail": self.detail}


class NotFound(LoyaltyError):
    status = 404
    code = "not-found"
    title = "Resource not found"


class Conflict(LoyaltyError):
    status = 409
    code = "conflict"
    title = "Conflicts with the current state"


class Unauthorized(LoyaltyError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(LoyaltyError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class InvalidInput(LoyaltyError):
    status = 422
    code = "invalid-input"
    title = "Invalid input"


class RateLimited(LoyaltyError):
    status = 429
    code = "rate-limited"
    title = "Too many requests"


class ConfigurationError(LoyaltyError):
    status = 500
    code = "configuration-error"
    title = "Invalid configuration"


class ChainUnavailable(LoyaltyError):
    status = 503
    code = "chain-unavailable"
    title = "Blockchain node unavailable"
