"""What the build step produces: a token's planned batch, and a built one (alone or in a shared run)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.domain.batching import BatchPlan


@dataclass(frozen=True)
class BuiltBatch:
    batch_id: str
    token: str
    recipients: int
    actions: int
    gas_limit: int
    fresh: int = 0  # recipients priced as new holders
    run_ref: str | None = None  # the shared run it is minted in, if any


@dataclass(frozen=True)
class Planned:
    """A token's batch as it would be built now (not claimed yet)."""

    token: str
    plan: BatchPlan
    fresh: set[str]
    oldest: datetime
