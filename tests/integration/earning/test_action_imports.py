"""Bulk imports (`Prefer: respond-async`): accepted at once, recorded later in order, each action exactly once."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from backend.adapters.orm.earning import Action, LedgerEntry
from backend.adapters.orm.imports import ActionImport, ActionInboxItem
from backend.services.earning import action_imports
from backend.services.earning.ledger import check_ledger
from tests.integration.earning.test_actions import RATE, UNIT, W1, W2, purchase
from tests.support.auth import create_brand, key_headers
from tests.support.shop import Shop

ASYNC = {"Prefer": "respond-async"}


def submit(shop: Shop, actions: list[dict[str, Any]], headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = shop.client.post(
        "/v1/actions:batch", json={"actions": actions}, headers={**(headers or shop.headers), **ASYNC}
    )
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "respond-async"
    body = response.json()
    assert response.headers["location"] == body["status_url"] == f"/v1/action-imports/{body['id']}"
    return body


def results(shop: Shop, import_id: str, **params: Any) -> dict[str, Any]:
    response = shop.client.get(f"/v1/action-imports/{import_id}/results", params=params, headers=shop.headers)
    assert response.status_code == 200, response.text
    return response.json()


def record_all(shop: Shop, chunk: int = action_imports.CHUNK) -> None:
    while action_imports.process_next(shop.container.sessions, chunk):
        pass


def credited(shop: Shop) -> dict[str, int]:
    with shop.container.uow() as uow:
        rows = uow.session.execute(
            select(LedgerEntry.wallet, LedgerEntry.kind, LedgerEntry.amount).where(
                LedgerEntry.brand_id == shop.brand_id
            )
        ).all()
    totals: dict[str, int] = {}
    for wallet, kind, amount in rows:
        sign = -1 if kind == "reversal" else 1
        totals[wallet] = totals.get(wallet, 0) + sign * int(amount)
    return totals


def test_an_import_is_accepted_at_once_then_recorded_in_order(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    actions = [purchase(f"k{i}", wallet=(W1, W2)[i % 2], amount="2.00") for i in range(7)]
    actions.append({"idempotency_key": "r1", "type": "refund", "wallet": W1, "order_id": "k0"})  # same file
    accepted = submit(shop, actions)
    assert accepted["state"] == "accepted" and accepted["total"] == 8 and accepted["processed"] == 0
    page = results(shop, accepted["id"])
    assert [i["status"] for i in page["items"]] == ["queued"] * 8 and page["next_after"] is None
    assert credited(shop) == {}  # nothing is credited before a worker records it

    record_all(shop, chunk=3)  # three transactions of 3, 3 and 2 actions
    status = shop.client.get(accepted["status_url"], headers=shop.headers).json()
    assert status["state"] == "done" and status["finished_at"]
    assert (status["processed"], status["created"], status["replayed"], status["error"]) == (8, 8, 0, 0)
    items = results(shop, accepted["id"])["items"]
    assert [i["idempotency_key"] for i in items] == [a["idempotency_key"] for a in actions]
    assert items[7]["action"]["type"] == "refund" and items[7]["action"]["reversals"]
    # W1: 4 purchases of 20 tokens, the first refunded in full; W2: 3 purchases
    w1, w2 = items[0]["action"]["wallet"], items[1]["action"]["wallet"]
    assert credited(shop) == {w1: 60 * UNIT, w2: 60 * UNIT}
    with shop.container.uow() as uow:
        assert check_ledger(uow.session) == []


def test_pages_of_results(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    accepted = submit(shop, [purchase(f"p{i}", amount="1") for i in range(5)])
    record_all(shop)
    first = results(shop, accepted["id"], limit=2)
    assert [i["index"] for i in first["items"]] == [0, 1] and first["next_after"] == 1
    rest = results(shop, accepted["id"], after=first["next_after"], limit=10)
    assert [i["index"] for i in rest["items"]] == [2, 3, 4] and rest["next_after"] is None


def test_keys_replay_and_conflict_across_imports_and_single_requests(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    single = shop.client.post("/v1/actions", json=purchase("a"), headers=shop.headers)
    assert single.status_code == 201
    first = submit(shop, [purchase("a"), purchase("b"), purchase("b")])
    again = submit(shop, [purchase("b"), purchase("a", amount="99"), purchase("c")])
    record_all(shop)
    one = results(shop, first["id"])["items"]
    two = results(shop, again["id"])["items"]
    assert [i["status"] for i in one] == ["replayed", "created", "replayed"]
    assert one[0]["action"] == single.json()
    assert [i["status"] for i in two] == ["replayed", "error", "created"]
    assert two[0]["action"] == one[1]["action"]
    assert two[1]["problem"]["code"] == "idempotency-conflict" and two[1]["problem"]["status"] == 409
    summary = shop.client.get(again["status_url"], headers=shop.headers).json()
    assert (summary["created"], summary["replayed"], summary["error"]) == (1, 1, 1)
    with shop.container.uow() as uow:
        keys = uow.session.scalars(select(Action.idempotency_key).where(Action.brand_id == shop.brand_id)).all()
    assert sorted(keys) == ["a", "b", "c"]  # each credited once


def test_invalid_action_refuses_the_whole_import(shop: Shop) -> None:
    bad = [purchase("ok"), {**purchase("zero"), "wallet": "0x" + "0" * 40}]
    response = shop.client.post("/v1/actions:batch", json={"actions": bad}, headers={**shop.headers, **ASYNC})
    assert response.status_code == 422 and response.headers["content-type"].startswith("application/problem+json")
    with shop.container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ActionImport)) == 0
        assert uow.session.scalar(select(func.count()).select_from(ActionInboxItem)) == 0


def test_another_brand_cannot_see_an_import(shop: Shop) -> None:
    accepted = submit(shop, [purchase("x")])
    _, other = create_brand(shop.client, "other")
    for path in (accepted["status_url"], accepted["results_url"], "/v1/action-imports/imp_nope"):
        response = shop.client.get(path, headers=key_headers(other))
        assert response.status_code == 404 and response.json()["code"] == "unknown-import", path
    assert shop.client.get(accepted["status_url"]).status_code == 401


def test_a_failed_chunk_is_rolled_back_whole_and_recorded_once_on_retry(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    accepted = submit(shop, [purchase(f"f{i}", wallet=(W1, W2)[i % 2], amount="1") for i in range(6)])
    real_store = action_imports._store
    calls = 0

    def crash_on_second_chunk(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("worker died")  # after recording the chunk, before its commit
        real_store(*args)

    monkeypatch.setattr(action_imports, "_store", crash_on_second_chunk)
    assert action_imports.process_next(shop.container.sessions, 2)
    with pytest.raises(RuntimeError):
        action_imports.process_next(shop.container.sessions, 2)
    status = shop.client.get(accepted["status_url"], headers=shop.headers).json()
    assert status["processed"] == 2 and status["state"] == "accepted"
    assert sum(credited(shop).values()) == 2 * 10 * UNIT  # the failed chunk left nothing behind
    monkeypatch.setattr(action_imports, "_store", real_store)
    record_all(shop, 2)
    assert sum(credited(shop).values()) == 6 * 10 * UNIT
    assert [i["status"] for i in results(shop, accepted["id"])["items"]] == ["created"] * 6


def test_a_chunk_that_loses_a_race_is_recorded_action_by_action(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    accepted = submit(shop, [purchase(f"r{i}", amount="1") for i in range(3)])
    real_record = action_imports.record_actions

    def lose_races_in_bulk(session: Any, brand_id: int, actions: list[Any]) -> Any:
        if len(actions) > 1:
            raise OperationalError("INSERT", {}, Exception("deadlock detected"))
        return real_record(session, brand_id, actions)

    monkeypatch.setattr(action_imports, "record_actions", lose_races_in_bulk)
    record_all(shop)
    assert [i["status"] for i in results(shop, accepted["id"])["items"]] == ["created"] * 3
    assert sum(credited(shop).values()) == 3 * 10 * UNIT


def test_a_brands_imports_are_recorded_one_after_another(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    first = submit(shop, [purchase("o1", amount="5")])
    second = submit(shop, [{"idempotency_key": "o1-refund", "type": "refund", "wallet": W1, "order_id": "o1"}])
    record_all(shop)
    refund = results(shop, second["id"])["items"][0]
    assert refund["status"] == "created", refund  # the purchase of the earlier import was recorded first
    assert results(shop, first["id"])["items"][0]["status"] == "created"
    assert sum(credited(shop).values()) == 0


def test_metrics_show_the_import_backlog(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    submit(shop, [purchase(f"m{i}", amount="1") for i in range(4)])
    assert "loyalty_import_actions_waiting 4.0" in shop.client.get("/metrics").text
    record_all(shop)
    assert "loyalty_import_actions_waiting 0.0" in shop.client.get("/metrics").text


def test_the_embedded_runner_records_imports(shop: Shop) -> None:
    from backend.entrypoints.runner import EmbeddedRunner, background_tasks

    shop.promote({"name": "base", "rules": [RATE]})
    accepted = submit(shop, [purchase(f"e{i}", amount="1") for i in range(3)])
    tasks = [t for t in background_tasks(shop.container) if t.name == "action-imports"]
    assert len(tasks) == 1
    runner = EmbeddedRunner(shop.container, tasks)
    runner.start()
    try:
        deadline = time.monotonic() + 30
        state = "accepted"
        while state != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
            state = shop.client.get(accepted["status_url"], headers=shop.headers).json()["state"]
    finally:
        runner.stop()
    assert state == "done" and runner.errors == {}
    assert sum(credited(shop).values()) == 3 * 10 * UNIT


def test_a_brand_lists_its_own_imports_newest_first(shop: Shop) -> None:
    ids = [submit(shop, [purchase(f"l{n}", amount="1")])["id"] for n in range(3)]
    _, other = create_brand(shop.client, "other")
    submit(shop, [purchase("theirs")], headers=key_headers(other))
    first = shop.client.get("/v1/action-imports", params={"limit": 2}, headers=shop.headers).json()
    assert [i["id"] for i in first["items"]] == ids[:0:-1] and first["cursor"]
    rest = shop.client.get("/v1/action-imports", params={"cursor": first["cursor"]}, headers=shop.headers).json()
    assert [i["id"] for i in rest["items"]] == ids[:1] and rest["cursor"] is None
    record_all(shop)
    done = shop.client.get("/v1/action-imports", params={"state": "done"}, headers=shop.headers).json()
    assert {i["id"] for i in done["items"]} == set(ids)  # never the other brand's
    bad = shop.client.get("/v1/action-imports", params={"state": "lost"}, headers=shop.headers)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
