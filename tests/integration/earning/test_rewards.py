"""The shopper's rewards view (states and reasons, cursor history) and `loyalty ledger check`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from typer.testing import CliRunner

from backend.adapters.orm.earning import WalletBalance
from backend.adapters.orm.minting import CreditOutbox, MintBatch
from backend.entrypoints.cli.main import app as cli_app
from backend.services.earning.ledger import check_ledger
from tests.support.shop import Shop

W = "0x" + "f6" * 20
UNIT = 10**18


def test_rewards_view_explains_each_pending_credit(shop: Shop) -> None:
    shop.promote(
        {"name": "v", "rules": [{"kind": "fixed", "key": "v", "action_types": ["custom:visit"], "amount": "1"}]}
    )
    for i in range(5):
        shop.act(idempotency_key=f"v{i}", type="custom", custom_type="visit", wallet=W, customer_id="secret-42")
    now = datetime.now(UTC)
    with shop.container.uow() as uow:
        ids = list(uow.session.scalars(select(CreditOutbox.id).order_by(CreditOutbox.id)))
        token = uow.session.scalars(select(CreditOutbox.token_address)).first()
        for batch_id, state, tx in (("0x" + "1" * 64, "submitted", "0x" + "ab" * 32), ("0x" + "2" * 64, "built", None)):
            uow.session.add(
                MintBatch(
                    batch_id=batch_id,
                    chain_id=shop.container.chain.chain_id,
                    token_address=token,
                    state=state,
                    manifest_root="0x" + "3" * 64,
                    recipients=1,
                    total=UNIT,
                    actions=1,
                    tx_hash=tx,
                    created_at=now,
                    updated_at=now,
                )
            )
        uow.session.flush()
        uow.session.execute(update(CreditOutbox).where(CreditOutbox.id == ids[0]).values(state="minted"))
        uow.session.execute(
            update(CreditOutbox).where(CreditOutbox.id == ids[1]).values(state="batched", batch_id="0x" + "1" * 64)
        )
        uow.session.execute(
            update(CreditOutbox).where(CreditOutbox.id == ids[2]).values(state="batched", batch_id="0x" + "2" * 64)
        )
        uow.session.execute(update(CreditOutbox).where(CreditOutbox.id == ids[3]).values(reason="fees above cap"))
        uow.commit()

    view = shop.client.get(f"/v1/wallets/{W}/rewards?limit=2").json()
    assert "secret-42" not in str(view)  # the brand's customer id never leaves the brand
    (entry,) = view["tokens"]
    assert (entry["minted"], entry["pending"], entry["lifetime_earned"]) == (str(UNIT), str(4 * UNIT), str(5 * UNIT))
    pending = [(p["state"], p["reason"]) for p in entry["pending_credits"]]
    assert pending == [
        ("submitted", f"in batch 0x{'1' * 64}, transaction 0x{'ab' * 32} submitted"),
        ("batched", f"in batch 0x{'2' * 64}, waiting to be sent"),
        ("pending", "fees above cap"),
        ("pending", "waiting for the next batch"),
    ]
    seen, cursor = [], None
    while True:
        page = shop.client.get(
            f"/v1/wallets/{W}/rewards", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        history = page.json()["history"]
        seen += [item["id"] for item in history["items"]]
        cursor = history["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 5


def test_ledger_check_detects_a_tampered_balance(shop: Shop) -> None:
    shop.promote(
        {"name": "v", "rules": [{"kind": "fixed", "key": "v", "action_types": ["custom:visit"], "amount": "2"}]}
    )
    shop.act(idempotency_key="a", type="custom", custom_type="visit", wallet=W)
    runner = CliRunner()
    env = {"LOYALTY_DATABASE_URL": shop.container.settings.database_url}
    from backend.config import get_settings

    get_settings.cache_clear()
    try:
        ok = runner.invoke(cli_app, ["ledger", "check"], env=env)
        assert ok.exit_code == 0, ok.output
        with shop.container.uow() as uow:
            assert check_ledger(uow.session) == []
            uow.session.execute(update(WalletBalance).values(credited=3 * UNIT))
            uow.commit()
        with shop.container.uow() as uow:
            problems = check_ledger(uow.session)
        assert [(p.field, p.stored, p.expected) for p in problems] == [("credited", 3 * UNIT, 2 * UNIT)]
        bad = runner.invoke(cli_app, ["ledger", "check"], env=env)
        assert bad.exit_code == 1 and "credited" in bad.output
    finally:
        get_settings.cache_clear()
