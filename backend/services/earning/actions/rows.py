"""The rows one call writes: actions (with their stored response body), ledger entries and outbox rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from backend.adapters.bulk import allocate_ids, is_postgres
from backend.adapters.orm.earning import Action, LedgerEntry
from backend.adapters.orm.minting import CreditOutbox
from backend.adapters.write_batch import WriteBatch
from backend.domain.actions import ActionIn
from backend.domain.rules import EarnedCredit

ACTIONS: Table = Action.__table__  # type: ignore[assignment]
ENTRIES: Table = LedgerEntry.__table__  # type: ignore[assignment]
OUTBOX: Table = CreditOutbox.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class RowBuilder:
    """Row dicts for one brand at one instant (the call's `now`)."""

    brand_id: int
    now: datetime

    def entry(self, action_id: str, kind: str, wallet: str, chain_id: int, token: str, amount: int) -> dict[str, Any]:
        return {
            "brand_id": self.brand_id,
            "action_id": action_id,
            "kind": kind,
            "wallet": wallet,
            "chain_id": chain_id,
            "token_address": token,
            "amount": amount,
            "promotion_id": None,
            "promotion_version": None,
            "rule_id": None,
            "ref_entry_id": None,
            "outbox_id": None,
            "note": None,
            "created_at": self.now,
        }

    def outbox(self, action_id: str, credit: EarnedCredit, amount: int) -> dict[str, Any]:
        return {
            "chain_id": credit.chain_id,
            "token_address": credit.token_address,
            "wallet": credit.wallet,
            "amount": amount,
            "action_id": action_id,
            "ledger_entry_id": None,
            "rule_id": credit.rule_id,
            "brand_id": self.brand_id,
            "state": "pending",
            "batch_id": None,
            "reason": None,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def body(self, public_id: str, action: ActionIn, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "action_id": public_id,
            "idempotency_key": action.idempotency_key,
            "type": action.type,
            "wallet": action.wallet,
            "order_id": action.order_id,
            "created_at": self.now.isoformat(),
            "credits": [],
            "reversals": [],
        }
        body.update(extra)
        return body

    def action_row(self, public_id: str, action: ActionIn, body_hash: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "public_id": public_id,
            "brand_id": self.brand_id,
            "idempotency_key": action.idempotency_key,
            "body_hash": body_hash,
            "type": action.type,
            "wallet": action.wallet,
            "customer_id": action.customer_id,
            "order_id": action.order_id,
            "purchase_order_id": action.order_id if action.type == "purchase" else None,
            "amount": None if action.amount is None else format(action.amount, "f"),
            "currency": action.currency,
            "refunded_amount": None,
            "referrer": action.referrer,
            "promotion_id": action.promotion_id,
            "custom_type": action.custom_type,
            "result": body,
            "created_at": self.now,
        }


def insert_rows(
    session: Session,
    writes: WriteBatch,
    action_rows: list[dict[str, Any]],
    entry_rows: list[dict[str, Any]],
    outbox_rows: list[tuple[int, dict[str, Any]]],
) -> None:
    """Queue the rows on `writes`; an outbox row's int names its ledger entry's index in `entry_rows` (or -1)."""
    writes.insert(ACTIONS, action_rows)
    ids: list[int] = []
    if entry_rows and is_postgres(session):
        # NOTE: ids from the sequence in one query, so the entries and the outbox rows naming them can be
        # sent together (no RETURNING round trip).
        ids = allocate_ids(session, ENTRIES, len(entry_rows))
        writes.insert(ENTRIES, [row | {"id": i} for row, i in zip(entry_rows, ids, strict=True)])
    elif entry_rows:
        writes.execute()
        returning = insert(ENTRIES).returning(ENTRIES.c.id, sort_by_parameter_order=True)
        ids = list(session.execute(returning, entry_rows).scalars())
    writes.insert(OUTBOX, [row | {"ledger_entry_id": ids[i]} if i >= 0 else row for i, row in outbox_rows])
