"""Refunds by order linkage: credits taken back pro-rata, cancelled while unminted, otherwise booked as debt.

A refund names the purchase's `order_id`; without `amount` it refunds what is left, with `amount` it refunds that
part. Every credit the purchase earned is taken back pro-rata (cumulative, so partial refunds add up exactly to the
full credit). For each credit: if its outbox row is still `pending`, it is cancelled by compare-and-set
(`pending → cancelled`); only the winner records a `reversal`, and whatever the refund leaves is re-issued as a new
pending outbox row. If the row was already batched or minted (or the CAS lost to the batcher), the clawback becomes
`debt` of that wallet in that token, paid off by the wallet's next credits in that token (`debt_offset` entries).
Tokens already on chain are never burned from the shopper's wallet.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.adapters.bulk import is_postgres
from backend.adapters.orm.earning import Action, LedgerEntry
from backend.adapters.orm.minting import CreditOutbox
from backend.adapters.write_batch import WriteBatch
from backend.domain.actions import ActionIn
from backend.domain.ledger import CREDIT, DEBT, REVERSAL, clawback, split_refund
from backend.domain.rules import EarnedCredit
from backend.errors import InvalidInput
from backend.services.earning.actions.errors import RefundExceedsPurchase, UnknownOrder
from backend.services.earning.actions.results import ActionResult
from backend.services.earning.actions.rows import OUTBOX, RowBuilder, insert_rows
from backend.services.earning.ledger import BalanceBook

UNMINTED = ("pending", "held")  # outbox states a refund may cancel: the credit is not (and will not be) on chain


def refund(
    session: Session, rows: RowBuilder, book: BalanceBook, writes: WriteBatch, action: ActionIn, body_hash: str
) -> ActionResult:
    """Record a refund of a purchase (the policy is in the module docstring)."""
    query = select(Action).where(Action.brand_id == rows.brand_id, Action.purchase_order_id == action.order_id)
    if is_postgres(session):
        query = query.with_for_update()  # serializes refunds of one order
    purchase = session.scalar(query)
    if purchase is None or purchase.amount is None:
        raise UnknownOrder(f"no purchase with order_id {action.order_id!r}")
    if action.currency is not None and action.currency != purchase.currency:
        raise InvalidInput(f"the purchase was in {purchase.currency}")
    total = Decimal(purchase.amount)
    before = Decimal(purchase.refunded_amount or 0)
    now_refunded = action.amount if action.amount is not None else total - before
    if now_refunded <= 0 or before + now_refunded > total:
        raise RefundExceedsPurchase(f"{format(total - before, 'f')} of order {action.order_id!r} is left to refund")
    credits = list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.action_id == purchase.public_id, LedgerEntry.kind == CREDIT)
            .order_by(LedgerEntry.id)
        )
    )
    live: dict[int, list[CreditOutbox]] = defaultdict(list)
    if credits:
        for row in session.scalars(
            select(CreditOutbox).where(
                CreditOutbox.ledger_entry_id.in_([c.id for c in credits]), CreditOutbox.state != "cancelled"
            )
        ):
            live[row.ledger_entry_id or 0].append(row)
    book.load(session, {(c.wallet, c.chain_id, c.token_address) for c in credits})
    public_id = uuid.uuid4().hex
    entries: list[dict[str, Any]] = []
    reissues: list[tuple[int, dict[str, Any]]] = []
    reversals = []
    for credit in credits:
        claw = clawback(credit.amount, total, before, now_refunded)
        if claw <= 0:
            continue
        key = (credit.wallet, credit.chain_id, credit.token_address)
        balance = book.get(key)
        cancelled = _cancel_pending(session, rows.now, live.get(credit.id, []))
        split = split_refund(claw, None if cancelled is None else cancelled.amount)
        if split.reversal:
            balance.apply(REVERSAL, split.reversal)
            entry = rows.entry(public_id, REVERSAL, *key, split.reversal)
            entry.update(ref_entry_id=credit.id, outbox_id=cancelled.id if cancelled else None, rule_id=credit.rule_id)
            entry.update(promotion_id=credit.promotion_id, promotion_version=credit.promotion_version)
            entries.append(entry)
        if split.reissue:
            reissue = rows.outbox(credit.action_id, _as_credit(credit), split.reissue)
            reissue["ledger_entry_id"] = credit.id
            reissues.append((-1, reissue))
        if split.debt:
            balance.apply(DEBT, split.debt)
            entry = rows.entry(public_id, DEBT, *key, split.debt)
            entry.update(ref_entry_id=credit.id, rule_id=credit.rule_id, note="refund of credit already minted")
            entry.update(promotion_id=credit.promotion_id, promotion_version=credit.promotion_version)
            entries.append(entry)
        reversals.append(
            {
                "wallet": credit.wallet,
                "chain_id": credit.chain_id,
                "token_address": credit.token_address,
                "credit_entry_id": credit.id,
                "clawback": str(claw),
                "reversed": str(split.reversal),
                "debt": str(split.debt),
                "still_pending": str(split.reissue),
            }
        )
    purchase.refunded_amount = format(before + now_refunded, "f")
    body = rows.body(public_id, action, reversals=reversals, refunded=format(now_refunded, "f"))
    insert_rows(session, writes, [rows.action_row(public_id, action, body_hash, body)], entries, reissues)
    writes.execute()
    session.flush()
    return ActionResult("created", body)


def _cancel_pending(session: Session, now: datetime, rows: list[CreditOutbox]) -> CreditOutbox | None:
    """Compare-and-set `pending → cancelled`; only the winner may reverse (the batcher may take it first).

    A `held` credit (one the pipeline can never mint) is never on chain either, so it is cancelled the same way."""
    for row in rows:
        if row.state not in UNMINTED:
            continue
        won = session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == row.id, OUTBOX.c.state == row.state)
            .values(state="cancelled", reason="refunded", updated_at=now)
        )
        if won.rowcount == 1:  # type: ignore[attr-defined]
            return row
    return None


def _as_credit(entry: LedgerEntry) -> EarnedCredit:
    return EarnedCredit(
        entry.wallet,
        entry.amount,
        entry.promotion_id or 0,
        entry.promotion_version or 0,
        entry.rule_id or "",
        entry.chain_id,
        entry.token_address,
    )
