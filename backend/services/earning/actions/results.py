"""What recording one action gives back: a result (created or replayed) or a per-item error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.errors import LoyaltyError
from backend.services.earning.actions.errors import IdempotencyConflict


@dataclass(frozen=True)
class ActionResult:
    status: str  # "created" | "replayed"
    body: dict[str, Any]


@dataclass(frozen=True)
class ActionError:
    index: int
    error: LoyaltyError


def conflict(index: int, key: str) -> ActionError:
    return ActionError(index, IdempotencyConflict(f"idempotency key {key!r} was used with a different body"))
