"""Ledger persistence: locked reads of denormalized rows, bulk upserts, and `loyalty ledger check`.

Concurrency: on SQLite the write path takes the database write lock up front (`BEGIN IMMEDIATE`); on
PostgreSQL the rows a decision depends on are created if missing and then locked (`SELECT ... FOR UPDATE`,
in key order so concurrent requests cannot deadlock on one table).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.adapters.bulk import BALANCE_KEY, ensure_and_lock, is_postgres, upsert
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import LedgerEntry, WalletBalance
from backend.adapters.orm.minting import CreditOutbox
from backend.domain.ledger import Balance, BalanceKey, recompute


@dataclass
class BalanceBook:
    """Balances of the keys a request touches, loaded (locked) once and written back once."""

    loaded: dict[BalanceKey, Balance] = field(default_factory=dict)
    dirty: set[BalanceKey] = field(default_factory=set)

    def load(self, session: Session, keys: Iterable[BalanceKey]) -> None:
        missing = [k for k in set(keys) if k not in self.loaded]
        if not missing:
            return
        table = WalletBalance.__table__
        zero = {"credited": 0, "reversed": 0, "debt": 0, "lifetime_earned": 0, "updated_at": utcnow()}
        found = {}
        for row in ensure_and_lock(session, table, ["wallet", "chain_id", "token_address"], missing, zero):  # type: ignore[arg-type]
            found[(row.wallet, row.chain_id, row.token_address)] = Balance(
                row.credited, row.reversed, row.debt, row.lifetime_earned
            )
        for key in missing:
            self.loaded[key] = found.get(key, Balance())

    def get(self, key: BalanceKey) -> Balance:
        """The balance to change (must be loaded); it will be written by `save`."""
        self.dirty.add(key)
        return self.loaded[key]

    def save(self, session: Session) -> None:
        upsert(session, WalletBalance.__table__, self.rows(), list(BALANCE_KEY))  # type: ignore[arg-type]

    def rows(self) -> list[dict[str, Any]]:
        """The changed balances as rows to upsert on `BALANCE_KEY` (and forget that they changed)."""
        now = utcnow()
        rows = [
            {
                "wallet": k[0],
                "chain_id": k[1],
                "token_address": k[2],
                "credited": b.credited,
                "reversed": b.reversed,
                "debt": b.debt,
                "lifetime_earned": b.lifetime_earned,
                "updated_at": now,
            }
            for k in sorted(self.dirty)
            for b in (self.loaded[k],)
        ]
        self.dirty.clear()
        return rows


@dataclass(frozen=True)
class Discrepancy:
    wallet: str
    chain_id: int
    token_address: str
    field: str
    stored: int
    expected: int


def check_ledger(session: Session) -> list[Discrepancy]:
    """Recompute every balance from the ledger (and the outbox) and list what the stored balances get wrong."""
    columns = (LedgerEntry.wallet, LedgerEntry.chain_id, LedgerEntry.token_address, LedgerEntry.kind)
    if is_postgres(session):  # exact NUMERIC sums in the database
        rows: Any = session.execute(select(*columns, func.sum(LedgerEntry.amount)).group_by(*columns)).tuples()
        rows = [(*r[:4], int(r[4])) for r in rows]
    else:  # SQLite keeps uint256 as text, so its SUM would be a float: add up in Python
        rows = session.execute(select(*columns, LedgerEntry.amount)).tuples()
    expected = recompute(rows)
    outbox: dict[BalanceKey, int] = {}
    for wallet, chain_id, token, amount in session.execute(
        select(CreditOutbox.wallet, CreditOutbox.chain_id, CreditOutbox.token_address, CreditOutbox.amount).where(
            CreditOutbox.state != "cancelled", CreditOutbox.brand_id.is_not(None)
        )
    ).tuples():
        outbox[(wallet, chain_id, token)] = outbox.get((wallet, chain_id, token), 0) + amount
    stored = {
        (r.wallet, r.chain_id, r.token_address): Balance(r.credited, r.reversed, r.debt, r.lifetime_earned)
        for r in session.scalars(select(WalletBalance))
    }
    problems: list[Discrepancy] = []
    names = ("credited", "reversed", "debt", "lifetime_earned")
    for key in sorted(set(expected) | set(stored)):
        want = expected.get(key, Balance()).as_tuple()
        have = stored.get(key, Balance()).as_tuple()
        problems += [Discrepancy(*key, n, h, w) for n, h, w in zip(names, have, want, strict=True) if h != w]
    for key in sorted(set(expected) | set(outbox)):
        want_outbox = expected.get(key, Balance()).credited
        if outbox.get(key, 0) != want_outbox:
            problems.append(Discrepancy(*key, "outbox", outbox.get(key, 0), want_outbox))
    return problems
