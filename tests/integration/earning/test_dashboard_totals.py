"""The dashboard's per-brand credited total is exact beyond 2^63 base units (SQLite keeps uint256 as text)."""

from __future__ import annotations

from sqlalchemy import insert, select

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import Brand
from backend.adapters.orm.minting import CreditOutbox
from backend.services.dashboard.read_model import summary
from tests.support.shop import Shop


def test_credited_total_is_exact_beyond_int64(shop: Shop) -> None:
    container = shop.container
    amounts = [10**19, 10**19 + 1, 3 * 10**25]  # each one past SQLite's 2^63
    with container.uow() as uow:
        brand = uow.session.scalars(select(Brand).where(Brand.id == shop.brand_id)).one()
        rows = [
            {
                "chain_id": brand.chain_id,
                "token_address": brand.token_address,
                "brand_id": brand.id,
                "wallet": "0x" + f"{i + 1:040x}",
                "amount": amount,
                "action_id": f"big-{i}",
                "state": "pending",
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
            for i, amount in enumerate(amounts)
        ]
        uow.session.execute(insert(CreditOutbox.__table__), rows)
        uow.commit()
    with container.uow() as uow:
        brands = summary(
            uow.session, container.settings, container.chain, container.hot_wallets, brand_id=shop.brand_id
        )["brands"]
    assert [(b["credits"], b["credited"]) for b in brands] == [(3, str(sum(amounts)))]
