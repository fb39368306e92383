"""Read side of the mirror: wallet balances across brands, brand analytics, leaderboards, cross-brand flows.

Everything reads pre-aggregated tables (`idx_balances`, `idx_daily_token_stats`), never the raw transfers, so
each answer is an index range scan even with millions of transfers. Uint256 sums happen in SQL on PostgreSQL;
on SQLite (text amounts, embedded default) they happen in Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

ZERO = "0"


@dataclass(frozen=True)
class Scope:
    """What a caller may see: `token` None = every token, else only pairs with that token; `wallets` = lists."""

    token: str | None
    wallets: bool = False


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _has_brands(session: Session) -> bool:
    return inspect(session.get_bind()).has_table("brands")


def _as_day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def wallet_balances(session: Session, chain_id: int, wallet: str) -> list[dict[str, Any]]:
    """Every loyalty token `wallet` (lowercase) holds, with token and brand names."""
    brand = (
        ", (SELECT min(br.name) FROM brands br WHERE lower(br.token_address) = b.token AND br.chain_id = b.chain_id)"
        if _has_brands(session)
        else ", NULL"
    )
    rows = session.execute(
        text(
            "SELECT b.token, b.balance, b.earned, b.redeemed, t.name, t.symbol, t.decimals"
            f"{brand} FROM idx_balances b "
            "LEFT JOIN idx_tokens t ON t.chain_id = b.chain_id AND t.address = b.token "
            "WHERE b.chain_id = :c AND b.wallet = :w AND b.balance <> :zero ORDER BY b.token"
        ),
        {"c": chain_id, "w": wallet, "zero": 0 if _pg(session) else ZERO},
    ).all()
    return [
        {
            "token": r[0],
            "balance": int(r[1]),
            "earned": int(r[2]),
            "redeemed": int(r[3]),
            "name": r[4],
            "symbol": r[5],
            "decimals": r[6],
            "brand": r[7],
        }
        for r in rows
    ]


def token_analytics(session: Session, chain_id: int, token: str) -> dict[str, Any]:
    """Issued, redeemed, burned, circulating, holders, redemption rate, and the daily series."""
    rows = session.execute(
        text(
            "SELECT day, minted, burned, redeemed, transfers, active_wallets FROM idx_daily_token_stats "
            "WHERE chain_id = :c AND token = :t ORDER BY day"
        ),
        {"c": chain_id, "t": token},
    ).all()
    series: list[dict[str, Any]] = [
        {
            "day": _as_day(r[0]).isoformat(),
            "minted": int(r[1]),
            "burned": int(r[2]),
            "redeemed": int(r[3]),
            "transfers": int(r[4]),
            "active_wallets": int(r[5]),
        }
        for r in rows
    ]
    issued = sum(s["minted"] for s in series)
    burned = sum(s["burned"] for s in series)
    redeemed = sum(s["redeemed"] for s in series)
    holders = session.execute(
        text("SELECT count(*) FROM idx_balances WHERE chain_id = :c AND token = :t AND balance <> :zero"),
        {"c": chain_id, "t": token, "zero": 0 if _pg(session) else ZERO},
    ).scalar_one()
    rate = (Decimal(redeemed) / Decimal(issued)).quantize(Decimal("0.0001")) if issued else Decimal(0)
    return {
        "token": token,
        "issued": issued,
        "redeemed": redeemed,
        "burned": burned,
        "circulating": issued - burned,
        "holders": int(holders),
        "redemption_rate": rate,
        "series": series,
    }


def leaderboard(session: Session, chain_id: int, token: str, limit: int = 10) -> list[dict[str, Any]]:
    """Top earners of a token (lifetime amount minted to them)."""
    # NOTE: SQLite keeps Uint256 as text; for digit strings without leading zeros, (length, text) orders numerically.
    order = "b.earned DESC" if _pg(session) else "length(b.earned) DESC, b.earned DESC"
    rows = session.execute(
        text(
            "SELECT b.wallet, b.earned, b.balance FROM idx_balances b "
            f"WHERE b.chain_id = :c AND b.token = :t AND b.earned <> :zero ORDER BY {order}, b.wallet LIMIT :n"
        ),
        {"c": chain_id, "t": token, "n": limit, "zero": 0 if _pg(session) else ZERO},
    ).all()
    return [{"rank": i + 1, "wallet": r[0], "earned": int(r[1]), "balance": int(r[2])} for i, r in enumerate(rows)]


def cross_brand(session: Session, chain_id: int, scope: Scope, wallets_limit: int = 50) -> dict[str, Any]:
    """Shoppers holding ≥ 2 loyalty tokens, the overlap matrix, and where tokens earned at A are redeemed.

    A brand-scoped caller gets only the pairs involving its own token and counts; wallet lists are platform-only.
    """
    pg = _pg(session)
    params: dict[str, Any] = {"c": chain_id, "zero": 0 if pg else ZERO, "t": scope.token}
    multi = session.execute(
        text(
            "SELECT count(*) FROM (SELECT wallet FROM idx_balances WHERE chain_id = :c AND balance <> :zero "
            "GROUP BY wallet HAVING count(*) >= 2) m"
        ),
        params,
    ).scalar_one()
    mine = " AND (a.token = :t OR b.token = :t)" if scope.token else ""
    overlap = session.execute(
        text(
            "SELECT a.token, b.token, count(*) FROM idx_balances a JOIN idx_balances b "
            "ON b.chain_id = a.chain_id AND b.wallet = a.wallet AND b.token > a.token "
            f"WHERE a.chain_id = :c AND a.balance <> :zero AND b.balance <> :zero{mine} "
            "GROUP BY a.token, b.token ORDER BY a.token, b.token"
        ),
        params,
    ).all()
    earned_at = " AND a.token = :t" if scope.token else ""
    flow_sql = (
        "SELECT a.token, b.token, count(*), sum(b.redeemed) FROM idx_balances a JOIN idx_balances b "
        "ON b.chain_id = a.chain_id AND b.wallet = a.wallet "
        f"WHERE a.chain_id = :c AND a.earned <> :zero AND b.redeemed <> :zero{earned_at} GROUP BY a.token, b.token"
        if pg
        else "SELECT a.token, b.token, a.wallet, b.redeemed FROM idx_balances a JOIN idx_balances b "
        "ON b.chain_id = a.chain_id AND b.wallet = a.wallet "
        f"WHERE a.chain_id = :c AND a.earned <> :zero AND b.redeemed <> :zero{earned_at}"
    )
    flows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for a, b, n, amount in session.execute(text(flow_sql), params).all():
        entry = flows[(a, b)]
        entry[0] += int(n) if pg else 1
        entry[1] += int(amount)
    result: dict[str, Any] = {
        "multi_brand_holders": int(multi),
        "overlap": [{"token_a": a, "token_b": b, "wallets": int(n)} for a, b, n in overlap],
        "redemption_flows": [
            {"earned_token": a, "redeemed_token": b, "wallets": n, "redeemed": amount}
            for (a, b), (n, amount) in sorted(flows.items())
        ],
    }
    if scope.wallets:
        wallets = session.execute(
            text(
                "SELECT wallet, count(*) FROM idx_balances WHERE chain_id = :c AND balance <> :zero "
                "GROUP BY wallet HAVING count(*) >= 2 ORDER BY count(*) DESC, wallet LIMIT :n"
            ),
            {**params, "n": wallets_limit},
        ).all()
        result["multi_brand_wallets"] = [{"wallet": w, "tokens": int(n)} for w, n in wallets]
    return result


def indexed_block(session: Session, chain_id: int) -> int | None:
    """The last block the mirror covers (answers are as of this block)."""
    value = session.execute(
        text("SELECT block_number FROM idx_cursor WHERE chain_id = :c"), {"c": chain_id}
    ).scalar_one_or_none()
    return None if value is None else int(value)
