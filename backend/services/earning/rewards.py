"""The shopper's view of a wallet: per token what is pending (and why), minted, reversed, owed; and history.

Public by wallet address, so it carries no personal data: no customer ids, no order ids, no brand contacts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.orm.earning import Action, Brand, LedgerEntry, WalletBalance
from backend.adapters.orm.minting import CreditOutbox, MintBatch
from backend.domain.rules_amounts import from_base_units
from backend.errors import InvalidInput

MAX_PENDING_ITEMS = 100
RECENT_ACTIONS = 20  # how many of the wallet's latest actions are searched for ones that earned nothing


def _status(row: CreditOutbox, batch: MintBatch | None) -> tuple[str, str]:
    """(state, human explanation) of one credit on its way to the chain."""
    if row.state == "minted":
        return "confirmed", "minted on chain"
    if row.state == "held":
        return "held", row.reason or "held: it cannot be minted; the operators were alerted"
    if row.state == "batched" and batch is not None:
        if batch.tx_hash and batch.state in ("submitted", "included"):
            return "submitted", f"in batch {batch.batch_id}, transaction {batch.tx_hash} submitted"
        if batch.state == "confirmed":
            return "confirmed", f"in batch {batch.batch_id}, transaction {batch.tx_hash} confirmed"
        return "batched", row.reason or batch.reason or f"in batch {batch.batch_id}, waiting to be sent"
    return "pending", row.reason or "waiting for the next batch"


def wallet_rewards(session: Session, wallet: str, cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
    symbols = {b.token_address: (b.token_symbol, b.token_decimals) for b in session.scalars(select(Brand))}
    tokens: dict[tuple[int, str], dict[str, Any]] = {}

    def token(chain_id: int, address: str) -> dict[str, Any]:
        key = (chain_id, address)
        if key not in tokens:
            symbol, decimals = symbols.get(address, ("LOYAL", 18))
            tokens[key] = {
                "chain_id": chain_id,
                "token_address": address,
                "symbol": symbol,
                "decimals": decimals,
                "pending": 0,
                "minted": 0,
                "reversed": 0,
                "debt": 0,
                "lifetime_earned": 0,
                "pending_credits": [],
            }
        return tokens[key]

    for balance in session.scalars(select(WalletBalance).where(WalletBalance.wallet == wallet)):
        entry = token(balance.chain_id, balance.token_address)
        entry.update(reversed=balance.reversed, debt=balance.debt, lifetime_earned=balance.lifetime_earned)
    rows = session.execute(
        select(CreditOutbox, MintBatch)
        .outerjoin(MintBatch, MintBatch.batch_id == CreditOutbox.batch_id)
        .where(CreditOutbox.wallet == wallet, CreditOutbox.state != "cancelled")
        .order_by(CreditOutbox.id)
    ).tuples()
    for row, batch in rows:
        entry = token(row.chain_id, row.token_address)
        state, why = _status(row, batch)
        if state == "confirmed":
            entry["minted"] += row.amount
            continue
        entry["pending"] += row.amount
        if len(entry["pending_credits"]) < MAX_PENDING_ITEMS:
            entry["pending_credits"].append(
                {
                    "amount": str(row.amount),
                    "tokens": from_base_units(row.amount, entry["decimals"]),
                    "state": state,
                    "reason": why,
                    "action_id": row.action_id,
                    "batch_id": row.batch_id,
                    "tx_hash": batch.tx_hash if batch is not None else None,
                    "since": row.created_at.isoformat(),
                }
            )
    for entry in tokens.values():
        for name in ("pending", "minted", "reversed", "debt", "lifetime_earned"):
            entry[name] = str(entry[name])
    return {
        "wallet": wallet,
        "tokens": list(tokens.values()),
        "unrewarded_actions": unrewarded(session, wallet),
        "history": history(session, wallet, cursor, limit),
    }


def unrewarded(session: Session, wallet: str) -> list[dict[str, Any]]:
    """The wallet's latest actions that earned nothing, each with why (`no_credit_reasons` of its answer)."""
    rows = session.execute(
        select(Action.public_id, Action.brand_id, Action.type, Action.created_at, Action.result)
        .where(Action.wallet == wallet)
        .order_by(Action.id.desc())
        .limit(RECENT_ACTIONS)
    ).tuples()
    return [
        {
            "action_id": public_id,
            "brand_id": brand_id,
            "type": kind,
            "created_at": created_at.isoformat(),
            "reasons": result["no_credit_reasons"],
        }
        for public_id, brand_id, kind, created_at, result in rows
        if isinstance(result, dict) and result.get("no_credit_reasons")
    ]


def history(session: Session, wallet: str, cursor: str | None, limit: int) -> dict[str, Any]:
    """Ledger entries, newest first; `next_cursor` continues where this page stopped."""
    query = select(LedgerEntry).where(LedgerEntry.wallet == wallet).order_by(LedgerEntry.id.desc()).limit(limit + 1)
    if cursor:
        if not cursor.isdigit() or int(cursor) >= 2**63:
            raise InvalidInput("invalid cursor")
        query = query.where(LedgerEntry.id < int(cursor))
    entries = list(session.scalars(query))
    page = entries[:limit]
    return {
        "items": [
            {
                "id": e.id,
                "kind": e.kind,
                "chain_id": e.chain_id,
                "token_address": e.token_address,
                "amount": str(e.amount),
                "tokens": from_base_units(e.amount),
                "action_id": e.action_id,
                "brand_id": e.brand_id,
                "promotion_id": e.promotion_id,
                "promotion_version": e.promotion_version,
                "rule_id": e.rule_id,
                "note": e.note,
                "created_at": e.created_at.isoformat(),
            }
            for e in page
        ],
        "next_cursor": str(page[-1].id) if len(entries) > limit else None,
    }
