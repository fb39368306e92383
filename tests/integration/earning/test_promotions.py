"""Promotions over HTTP: versions, preview (credits nothing), caps, stacking, and a budget under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from backend.adapters.chain.client import ChainClient
from backend.adapters.orm.earning import LedgerEntry, Promotion
from backend.adapters.orm.minting import CreditOutbox
from backend.bootstrap import Container, provision
from backend.domain.actions import ActionIn
from backend.entrypoints.api.app import create_app
from backend.services.earning.actions.recorder import record_action
from backend.services.foundation.deployment import PlatformContracts
from tests.conftest import make_settings, wipe_postgres
from tests.support.auth import create_brand
from tests.support.shop import Shop

W1, W2 = "0x" + "d4" * 20, "0x" + "e5" * 20
UNIT = 10**18
FIXED = {"kind": "fixed", "key": "visit", "action_types": ["custom:visit"], "amount": "10"}


def visit(key: str, wallet: str = W1) -> dict[str, Any]:
    return {"idempotency_key": key, "type": "custom", "custom_type": "visit", "wallet": wallet}


def test_versions_preview_caps_and_stacking(shop: Shop) -> None:
    base = shop.promote({"name": "visits", "rules": [FIXED], "caps": {"per_wallet_per_day": "25"}})
    url = f"/v1/brands/{shop.brand_id}/promotions/{base['id']}"
    preview = shop.client.post(f"{url}:preview", json=visit("ignored"), headers=shop.headers)
    assert preview.status_code == 200, preview.text
    assert preview.json()["total"] == str(10 * UNIT)
    assert shop.client.get(f"/v1/wallets/{W1}/rewards").json()["tokens"] == []  # preview credited nothing
    with shop.container.uow() as uow:
        assert uow.session.scalars(select(LedgerEntry)).all() == []

    got = [sum(int(c["amount"]) for c in shop.act(**visit(f"v{i}"))["credits"]) // UNIT for i in range(3)]
    assert got == [10, 10, 5]  # daily cap of 25

    edited = shop.client.put(url, json={"name": "visits v2", "rules": [{**FIXED, "amount": "1"}]}, headers=shop.headers)
    assert edited.status_code == 200 and edited.json()["version"] == 2
    assert shop.client.get(f"{url}?version=1", headers=shop.headers).json()["definition"]["rules"][0]["amount"] == "10"
    credit = shop.act(**visit("w1", wallet=W2))["credits"][0]
    assert (credit["promotion_version"], credit["rule_id"], credit["tokens"]) == (2, f"p{base['id']}v2:visit", "1")

    bonus = {"name": "double", "priority": 5, "exclusive": True, "rules": [{**FIXED, "key": "bonus", "amount": "7"}]}
    shop.promote(bonus)
    stacked = shop.act(**visit("w2", wallet=W2))["credits"]
    assert [c["tokens"] for c in stacked] == ["7"]  # exclusive, higher priority: the base promotion is skipped
    listed = shop.client.get(f"/v1/brands/{shop.brand_id}/promotions", headers=shop.headers).json()
    assert [(p["name"], p["version"]) for p in listed] == [("visits v2", 2), ("double", 1)]
    bad = shop.client.post(
        f"/v1/brands/{shop.brand_id}/promotions",
        json={"name": "x", "rules": [{**FIXED, "amount": 1.5}]},
        headers=shop.headers,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid-input"


@pytest.fixture
def pg_container(
    pg_url: str, tmp_path: Path, shared_chain: tuple[ChainClient, PlatformContracts]
) -> Iterator[Container]:
    wipe_postgres(pg_url)
    c = provision(make_settings(pg_url, tmp_path), chain=shared_chain[0], with_contracts=False)
    c.contracts = shared_chain[1]
    yield c
    c.close()
    wipe_postgres(pg_url)


def test_budget_is_never_exceeded_by_20_concurrent_threads_on_postgres(pg_container: Container) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(pg_container))
    brand_id, key = create_brand(client, "budget")
    spec = {"name": "launch", "budget": "1000", "rules": [{**FIXED, "amount": "150"}]}
    response = client.post(f"/v1/brands/{brand_id}/promotions", json=spec, headers={"X-API-Key": key})
    assert response.status_code == 201
    start = threading.Barrier(20)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        start.wait()
        for i in range(3):
            action = ActionIn.model_validate(visit(f"t{n}-{i}", wallet=f"0x{n + 1:040x}"))
            for _attempt in range(5):
                with pg_container.uow() as uow:
                    try:
                        record_action(uow.session, brand_id, action)
                        uow.commit()
                        break
                    except (IntegrityError, OperationalError):
                        continue
                    except BaseException as exc:  # pragma: no cover - reported below
                        errors.append(exc)
                        return

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with pg_container.uow() as uow:
        spent = uow.session.scalars(select(Promotion.spent)).one()
        credited = sum(e.amount for e in uow.session.scalars(select(LedgerEntry)))
        queued = sum(r.amount for r in uow.session.scalars(select(CreditOutbox)))
    assert spent == credited == queued == 1000 * UNIT  # 60 × 150 asked for, exactly the budget paid
