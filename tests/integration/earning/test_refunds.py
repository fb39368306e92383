"""Refunds: unminted credit is cancelled (CAS on the outbox), minted credit becomes debt netted from later credit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from backend.adapters.orm.earning import LedgerEntry, WalletBalance
from backend.adapters.orm.minting import CreditOutbox
from backend.services.earning.ledger import check_ledger
from tests.support.shop import Shop

W = "0x" + "c3" * 20
UNIT = 10**18


def buy(key: str, amount: str = "10") -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "type": "purchase",
        "wallet": W,
        "order_id": key,
        "amount": amount,
        "currency": "EUR",
    }


def refund(key: str, order: str, amount: str | None = None) -> dict[str, Any]:
    body = {"idempotency_key": key, "type": "refund", "wallet": W, "order_id": order}
    return body if amount is None else {**body, "amount": amount}


def outbox(shop: Shop) -> list[tuple[str, int]]:
    with shop.container.uow() as uow:
        rows = uow.session.scalars(select(CreditOutbox).order_by(CreditOutbox.id))
        return [(r.state, r.amount // UNIT) for r in rows]


def balance(shop: Shop) -> tuple[int, int, int, int]:
    with shop.container.uow() as uow:
        b = uow.session.scalars(select(WalletBalance).where(WalletBalance.wallet == shop_wallet())).one()
        return (b.credited // UNIT, b.reversed // UNIT, b.debt // UNIT, b.lifetime_earned // UNIT)


def shop_wallet() -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(W))


def test_refund_before_minting_cancels_and_partial_refunds_add_up(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [{"kind": "rate", "key": "eur", "currency": "EUR", "tokens": "10"}]})
    shop.act(**buy("o1"))  # 100 tokens pending
    partial = shop.act(**refund("r1", "o1", "2.50"))
    assert partial["reversals"][0] | {"credit_entry_id": 0} == {
        "wallet": shop_wallet(),
        "chain_id": shop.container.chain.chain_id,
        "token_address": partial["reversals"][0]["token_address"],
        "credit_entry_id": 0,
        "clawback": str(25 * UNIT),
        "reversed": str(25 * UNIT),
        "debt": "0",
        "still_pending": str(75 * UNIT),
    }
    assert outbox(shop) == [("cancelled", 100), ("pending", 75)]
    rest = shop.act(**refund("r2", "o1"))  # the rest of the order
    assert rest["refunded"] == "7.50"
    assert outbox(shop) == [("cancelled", 100), ("cancelled", 75)]
    assert balance(shop) == (0, 100, 0, 100)
    too_much = shop.client.post("/v1/actions", json=refund("r3", "o1", "0.01"), headers=shop.headers)
    assert too_much.status_code == 409 and too_much.json()["code"] == "refund-exceeds-purchase"
    replay = shop.client.post("/v1/actions", json=refund("r2", "o1"), headers=shop.headers)
    assert replay.status_code == 200 and replay.json() == rest
    with shop.container.uow() as uow:
        assert check_ledger(uow.session) == []


def test_refund_after_minting_records_debt_that_nets_against_the_next_credit(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [{"kind": "rate", "key": "eur", "currency": "EUR", "tokens": "10"}]})
    shop.act(**buy("o1"))  # 100
    shop.act(**buy("o2", "3"))  # 30, stays pending
    with shop.container.uow() as uow:  # the pipeline minted o1's credit (and only o1's)
        first_id = uow.session.scalars(select(CreditOutbox.id).order_by(CreditOutbox.id)).first()
        uow.session.execute(update(CreditOutbox).where(CreditOutbox.id == first_id).values(state="minted"))
        uow.commit()
    result = shop.act(**refund("r1", "o1", "6"))  # 60 of the minted 100 back
    assert [(r["reversed"], r["debt"]) for r in result["reversals"]] == [("0", str(60 * UNIT))]
    assert balance(shop) == (130, 0, 60, 130)
    next_credit = shop.act(**buy("o3", "5"))  # 50: all of it pays off debt
    assert [(c["debt_offset"], c["to_mint"]) for c in next_credit["credits"]] == [(str(50 * UNIT), "0")]
    again = shop.act(**buy("o4", "2"))  # 20: 10 pays the rest of the debt, 10 is minted
    assert [(c["debt_offset"], c["to_mint"]) for c in again["credits"]] == [(str(10 * UNIT), str(10 * UNIT))]
    assert outbox(shop) == [("minted", 100), ("pending", 30), ("pending", 10)]
    assert balance(shop) == (140, 0, 0, 200)
    with shop.container.uow() as uow:
        kinds = [e.kind for e in uow.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]
        assert kinds == ["credit", "credit", "debt", "credit", "debt_offset", "credit", "debt_offset"]
        assert check_ledger(uow.session) == []


def test_refund_loses_the_race_to_the_batcher_and_becomes_debt(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [{"kind": "rate", "key": "eur", "currency": "EUR", "tokens": "10"}]})
    shop.act(**buy("o1"))
    with shop.container.uow() as uow:  # the batcher took the row (pending → batched) before the refund's CAS
        uow.session.execute(update(CreditOutbox).values(state="batched"))
        uow.commit()
    result = shop.act(**refund("r1", "o1"))
    assert [(r["reversed"], r["debt"]) for r in result["reversals"]] == [("0", str(100 * UNIT))]
    assert outbox(shop) == [("batched", 100)]
