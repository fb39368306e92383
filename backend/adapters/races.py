"""Retry a unit of work that lost a race with a concurrent one, from scratch.

A race shows up as `IntegrityError` (the same idempotency key or order at the same moment) or `OperationalError`
(a deadlock, SQLite busy); the work is idempotent, so running it again gives the answer the winner left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

T = TypeVar("T")
RACE_ERRORS = (IntegrityError, OperationalError)
ATTEMPTS = 3


def retry_on_race(work: Callable[[], T], attempts: int = ATTEMPTS, *, rollback: Callable[[], None] | None = None) -> T:
    """`work()`, run up to `attempts` times in all; `rollback` (if given) runs after each lost race.

    The last attempt's error propagates."""
    for attempt in range(attempts):
        try:
            return work()
        except RACE_ERRORS:
            if rollback is not None:
                rollback()
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
