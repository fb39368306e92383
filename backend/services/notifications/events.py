"""The platform event log: facts recorded in the same transaction as the change they describe.

One stream feeds outbound webhooks (`backend.services.notifications.webhooks`) and the live feed
(`backend.services.notifications.feed`).
Payloads never carry personal data (emails, customer ids, names): wallets, amounts and ids only.

    record_event(session, brand_id, type, payload)      # one event, in the caller's transaction
    record_events(session, [(brand_id, type, payload)]) # bulk (one INSERT), for bulk writers
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from backend.adapters.bulk import bulk_insert
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import Promotion
from backend.adapters.orm.minting import CreditOutbox, MintBatch
from backend.adapters.orm.notifications import EVENT_TYPES, PlatformEvent

EVENTS: Table = PlatformEvent.__table__  # type: ignore[assignment]
BUDGET_LOW_RATIO = Fraction(9, 10)  # exact: budgets are uint256 base units, far beyond float precision


def record_event(session: Session, brand_id: int, type: str, payload: dict[str, Any]) -> None:
    record_events(session, [(brand_id, type, payload)])


def record_events(session: Session, events: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
    bulk_insert(session, EVENTS, event_rows(events))  # COPY on PostgreSQL when a bulk request credits many actions


def event_rows(events: Iterable[tuple[int, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """`platform_events` rows for these events, for writers that batch their inserts."""
    now = utcnow()
    rows = []
    for brand_id, type_, payload in events:
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}")
        rows.append({"brand_id": brand_id, "type": type_, "payload": payload, "fanned_out": False, "created_at": now})
    return rows


def credited_events(brand_id: int, bodies: Iterable[dict[str, Any]]) -> list[tuple[int, str, dict[str, Any]]]:
    """`action.credited` for each recorded action body that credited something (no customer ids, no order data)."""
    events = []
    for body in bodies:
        credits = body.get("credits") or []
        if not credits:
            continue
        payload = {
            "action_id": body["action_id"],
            "action_type": body["type"],
            "wallet": body["wallet"],
            "credits": [
                {k: c[k] for k in ("wallet", "chain_id", "token_address", "amount", "promotion_id", "rule_id")}
                for c in credits
            ],
        }
        events.append((brand_id, "action.credited", payload))
    return events


def record_credited(session: Session, brand_id: int, bodies: Iterable[dict[str, Any]]) -> None:
    record_events(session, credited_events(brand_id, bodies))


def record_batch_confirmed(session: Session, batch: MintBatch) -> None:
    """`batch.confirmed` once per brand whose credits the batch minted."""
    per_brand: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for brand_id, amount in session.execute(
        select(CreditOutbox.brand_id, CreditOutbox.amount).where(CreditOutbox.batch_id == batch.batch_id)
    ).tuples():
        totals = per_brand[brand_id or 0]
        totals[0] += 1
        totals[1] += int(amount)
    common = {
        "batch_id": batch.batch_id,
        "chain_id": batch.chain_id,
        "token_address": batch.token_address,
        "tx_hash": batch.tx_hash,
        "block_number": batch.block_number,
    }
    record_events(
        session,
        [
            (brand_id, "batch.confirmed", {**common, "credits": count, "amount": str(total)})
            for brand_id, (count, total) in sorted(per_brand.items())
            if brand_id
        ],
    )


def record_batch_reorged(session: Session, batch: MintBatch, block_number: int | None, block_hash: str | None) -> None:
    """`batch.reorged` once per brand that got `batch.confirmed` for it: that block left the canonical chain."""
    brands = session.scalars(
        select(CreditOutbox.brand_id).where(CreditOutbox.batch_id == batch.batch_id).distinct()
    ).all()
    common = {
        "batch_id": batch.batch_id,
        "chain_id": batch.chain_id,
        "token_address": batch.token_address,
        "block_number": block_number,
        "block_hash": block_hash,
    }
    record_events(session, [(b, "batch.reorged", common) for b in sorted(b for b in brands if b)])


def note_budget_spend(session: Session, brand_id: int, spends: Iterable[tuple[int, int]]) -> None:
    """`promotion.budget_low` when this transaction's spend made a budget cross `BUDGET_LOW_RATIO`."""
    totals: dict[int, int] = defaultdict(int)
    for promotion_id, amount in spends:
        totals[promotion_id] += amount
    totals = {pid: amount for pid, amount in totals.items() if amount > 0}
    if not totals:
        return
    events = []
    rows = session.execute(select(Promotion.id, Promotion.budget, Promotion.spent).where(Promotion.id.in_(totals)))
    for pid, budget, spent in rows.tuples():
        if not budget:
            continue
        threshold = budget * BUDGET_LOW_RATIO
        if spent >= threshold > spent - totals[pid]:
            payload = {
                "promotion_id": pid,
                "budget": str(budget),
                "spent": str(spent),
                "ratio": str(float(BUDGET_LOW_RATIO)),
            }
            events.append((brand_id, "promotion.budget_low", payload))
    record_events(session, events)


def record_redemption_confirmed(session: Session, redemption: Any) -> None:
    """`redemption.confirmed` (no counter code: that one is for the shopper only)."""
    r = redemption
    payload = {
        "redemption_id": r.id,
        "offer_id": r.offer_id,
        "wallet": r.wallet,
        "chain_id": r.chain_id,
        "token_address": r.token_address,
        "amount": str(r.amount),
        "tx_hash": r.tx_hash,
        "block_number": r.block_number,
    }
    record_event(session, r.brand_id, "redemption.confirmed", payload)
