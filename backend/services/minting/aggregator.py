"""Aggregate step: which (chain, token) groups have pending credit, how much, and since when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from backend.adapters.orm.minting import CreditOutbox
from backend.domain.batching import OutboxCredit
from backend.domain.timestamps import as_utc
from backend.services.minting.metrics import BATCHED_CREDIT, PENDING_CREDIT


@dataclass(frozen=True)
class PendingGroup:
    chain_id: int
    token: str
    credits: int
    wallets: int
    oldest: datetime


def pending_groups(session: Session) -> list[PendingGroup]:
    """Pending credit per (chain, token), oldest group first; also refreshes the pending gauges."""
    rows = session.execute(
        select(
            CreditOutbox.chain_id,
            CreditOutbox.token_address,
            func.count(),
            func.count(func.distinct(CreditOutbox.wallet)),
            func.min(CreditOutbox.created_at),
        )
        .where(CreditOutbox.state == "pending")
        .group_by(CreditOutbox.chain_id, CreditOutbox.token_address)
    ).all()
    groups = [PendingGroup(int(c), str(t), int(n), int(w), as_utc(o)) for c, t, n, w, o in rows]
    PENDING_CREDIT.set(sum(g.credits for g in groups))
    BATCHED_CREDIT.set(session.scalar(select(func.count()).where(CreditOutbox.state == "batched")) or 0)
    return sorted(groups, key=lambda g: g.oldest)


def _units(value: Any) -> int:
    """A stored amount as an int; -1 (never mintable, so held by the builder) when the row holds no integer."""
    try:
        units = int(value)
    except (TypeError, ValueError, ArithmeticError):
        return -1
    return units if units == value or isinstance(value, str) else -1


def load_pending(session: Session, chain_id: int, token: str, limit: int, *, lock: bool) -> list[OutboxCredit]:
    """The oldest pending credits of one token; on PostgreSQL locked with SKIP LOCKED (concurrent builders)."""
    query = (
        select(
            CreditOutbox.id,
            CreditOutbox.wallet,
            # NOTE: raw, not through Uint256: one corrupt amount must be held by the builder, not fail the load
            type_coerce(CreditOutbox.amount, String),
            CreditOutbox.action_id,
            CreditOutbox.rule_id,
            CreditOutbox.created_at,
        )
        .where(CreditOutbox.state == "pending", CreditOutbox.chain_id == chain_id, CreditOutbox.token_address == token)
        .order_by(CreditOutbox.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return [OutboxCredit(i, w, _units(a), act, rule, as_utc(at)) for i, w, a, act, rule, at in session.execute(query)]
