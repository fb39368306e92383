"""Read model of the operator dashboard: pending queue, batches, gas and latency series, hot wallets, brands.

Brand managers get the same document limited to their brand (its queue, the batches that carried its credits,
its analytics) and no hot-wallet section.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.adapters.bulk import is_postgres
from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.keys import Signer
from backend.adapters.orm.earning import Brand
from backend.adapters.orm.minting import CreditOutbox, MintBatch
from backend.adapters.orm.notifications import PlatformEvent
from backend.config import Settings
from backend.domain.timestamps import as_utc

BATCHES = 60
PENDING_ROWS = 50
SERIES = 100
NAIVE_MINT_GAS_FRESH = 51_000  # one OpenZeppelin `mint` tx per action, fresh holder (BRIEF, measured on anvil)


def _iso(value: datetime | None) -> str | None:
    v = as_utc(value)
    return v.isoformat() if v else None


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def _brand_batch_ids(session: Session, brand_id: int) -> Any:
    return select(CreditOutbox.batch_id).where(CreditOutbox.brand_id == brand_id, CreditOutbox.batch_id.is_not(None))


def _queue(session: Session, brand_id: int | None) -> dict[str, Any]:
    counts = select(CreditOutbox.state, func.count()).group_by(CreditOutbox.state)
    rows = (
        select(CreditOutbox)
        .where(CreditOutbox.state == "pending")
        .order_by(CreditOutbox.created_at, CreditOutbox.id)
        .limit(PENDING_ROWS)
    )
    if brand_id is not None:
        counts = counts.where(CreditOutbox.brand_id == brand_id)
        rows = rows.where(CreditOutbox.brand_id == brand_id)
    states = {state: int(n) for state, n in session.execute(counts).tuples()}
    now = datetime.now(UTC)
    items = [
        {
            "action_id": c.action_id,
            "brand_id": c.brand_id,
            "wallet": c.wallet,
            "token": c.token_address,
            "amount": str(c.amount),
            "reason": c.reason,
            "age_s": round((now - (as_utc(c.created_at) or now)).total_seconds(), 1),
        }
        for c in session.scalars(rows)
    ]
    return {
        "states": states,
        "pending": states.get("pending", 0),
        "held": states.get("held", 0),  # credits the pipeline can never mint (operator alert `credit-held`)
        "oldest_age_s": items[0]["age_s"] if items else None,
        "items": items,
    }


def _batches(session: Session, brand_id: int | None) -> list[MintBatch]:
    query = select(MintBatch).order_by(MintBatch.created_at.desc(), MintBatch.batch_id).limit(BATCHES)
    if brand_id is not None:
        query = query.where(MintBatch.batch_id.in_(_brand_batch_ids(session, brand_id)))
    return list(session.scalars(query))


def _batch_row(b: MintBatch, latency: dict[str, list[float]]) -> dict[str, Any]:
    lat = latency.get(b.batch_id, [])
    return {
        "batch_id": b.batch_id,
        "token": b.token_address,
        "state": b.state,
        "recipients": b.recipients,
        "actions": b.actions,
        "gas_used": b.gas_used,
        "gas_per_recipient": round(b.gas_used / b.recipients) if b.gas_used and b.recipients else None,
        "gas_per_action": round(b.gas_used / b.actions) if b.gas_used and b.actions else None,
        "fee_paid_wei": None if b.fee_paid_wei is None else str(b.fee_paid_wei),
        "tx_hash": b.tx_hash,
        "block_number": b.block_number,
        "reason": b.reason,
        "created_at": _iso(b.created_at),
        "confirmed_at": _iso(b.confirmed_at),
        "latency_p50_s": percentile(lat, 50),
        "latency_p95_s": percentile(lat, 95),
    }


def _latencies(session: Session, batch_ids: list[str], brand_id: int | None) -> dict[str, list[float]]:
    """Per batch: seconds from each credit's creation (action recorded) to its batch's confirmation."""
    if not batch_ids:
        return {}
    query = (
        select(CreditOutbox.batch_id, CreditOutbox.created_at, MintBatch.confirmed_at)
        .join(MintBatch, MintBatch.batch_id == CreditOutbox.batch_id)
        .where(CreditOutbox.batch_id.in_(batch_ids), MintBatch.confirmed_at.is_not(None))
    )
    if brand_id is not None:
        query = query.where(CreditOutbox.brand_id == brand_id)
    out: dict[str, list[float]] = {}
    for batch_id, created, confirmed in session.execute(query).tuples():
        c, k = as_utc(created), as_utc(confirmed)
        if c and k and batch_id:
            out.setdefault(batch_id, []).append(max(0.0, (k - c).total_seconds()))
    return out


def _hot_wallets(chain: ChainClient, wallets: list[Signer], low: int) -> list[dict[str, Any]]:
    out = []
    for signer in wallets:
        try:
            balance: int | None = int(chain.w3.eth.get_balance(to_checksum_address(signer.address)))
        except Exception:  # a node outage shows as an unknown balance, not a broken dashboard
            balance = None
        out.append(
            {
                "address": signer.address,
                "balance_wei": None if balance is None else str(balance),
                "low": balance is not None and balance < low,
            }
        )
    return out


def _credited(session: Session, brand_id: int) -> tuple[int, int]:
    """(credits, total base units) of a brand's outbox rows."""
    where = CreditOutbox.brand_id == brand_id
    if is_postgres(session):  # exact NUMERIC sum in the database
        count, total = session.execute(
            select(func.count(), func.coalesce(func.sum(CreditOutbox.amount), 0)).where(where)
        ).one()
        return int(count), int(total)
    # NOTE: SQLite keeps uint256 as text and its SUM overflows at 2^63 (9.2 tokens of 18 decimals): add in Python
    amounts = list(session.scalars(select(CreditOutbox.amount).where(where)))
    return len(amounts), sum(amounts)


def _brands(session: Session, brand_id: int | None) -> list[dict[str, Any]]:
    from indexer import analytics

    query = select(Brand).order_by(Brand.id)
    if brand_id is not None:
        query = query.where(Brand.id == brand_id)
    out = []
    for brand in session.scalars(query):
        data = analytics.token_analytics(session, brand.chain_id, brand.token_address.lower())
        credited = _credited(session, brand.id)
        out.append(
            {
                "id": brand.id,
                "slug": brand.slug,
                "name": brand.name,
                "token": brand.token_address,
                "symbol": brand.token_symbol,
                "is_coalition": brand.is_coalition,
                "credits": int(credited[0]),
                "credited": str(credited[1]),
                "issued": str(data["issued"]),
                "redeemed": str(data["redeemed"]),
                "circulating": str(data["circulating"]),
                "holders": data["holders"],
                "redemption_rate": str(data["redemption_rate"]),
            }
        )
    return out


def summary(
    session: Session, settings: Settings, chain: ChainClient, hot_wallets: list[Signer], *, brand_id: int | None
) -> dict[str, Any]:
    from indexer import analytics

    batches = _batches(session, brand_id)
    latency = _latencies(session, [b.batch_id for b in batches], brand_id)
    rows = [_batch_row(b, latency) for b in batches]
    confirmed = [r for r in reversed(rows) if r["state"] == "confirmed"][-SERIES:]
    all_latency = [s for r in confirmed for s in latency.get(r["batch_id"], [])]
    gas = sum(r["gas_used"] or 0 for r in confirmed)
    actions = sum(r["actions"] or 0 for r in confirmed)
    try:
        head: int | None = chain.head()
    except Exception:
        head = None
    indexed = analytics.indexed_block(session, chain.chain_id)
    last_event = select(func.max(PlatformEvent.id))
    if brand_id is not None:
        last_event = last_event.where(PlatformEvent.brand_id == brand_id)
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "scope": {"brand_id": brand_id},
        "last_event_id": session.scalar(last_event),
        "chain": {
            "name": settings.chain_name,
            "chain_id": chain.chain_id,
            "head": head,
            "indexed_block": indexed,
            "indexer_lag_blocks": None if head is None or indexed is None else max(0, head - indexed),
            "embedded": chain.is_embedded,
        },
        "queue": _queue(session, brand_id),
        "batches": rows,
        "series": {
            "gas_per_action": [
                {"batch_id": r["batch_id"], "at": r["confirmed_at"], "value": r["gas_per_action"]} for r in confirmed
            ],
            "latency_s": [
                {
                    "batch_id": r["batch_id"],
                    "at": r["confirmed_at"],
                    "p50": r["latency_p50_s"],
                    "p95": r["latency_p95_s"],
                }
                for r in confirmed
            ],
            "naive_mint_gas": NAIVE_MINT_GAS_FRESH,
        },
        "totals": {
            "confirmed_batches": len(confirmed),
            "confirmed_actions": actions,
            "gas_per_action": round(gas / actions) if actions else None,
            "latency_p50_s": percentile(all_latency, 50),
            "latency_p95_s": percentile(all_latency, 95),
        },
        "hot_wallets": _hot_wallets(chain, hot_wallets, settings.hot_wallet_low_balance_wei)
        if brand_id is None
        else [],
        "low_balance_wei": str(settings.hot_wallet_low_balance_wei),
        "brands": _brands(session, brand_id),
    }
