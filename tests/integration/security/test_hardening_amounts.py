"""Poisoned amounts: what one `batchMint` entry cannot carry (2^96-1 base units) is refused at the boundary, and a
credit that still gets into the outbox is held with its reason, never blocking the rest of its token's credit."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.contracts import brand_id_bytes, create_token, token_contract
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import Action, Brand
from backend.adapters.orm.imports import ActionImport, ActionInboxItem
from backend.adapters.orm.minting import CreditOutbox, OperatorAlert
from backend.bootstrap import Container, provision
from backend.domain.rules_amounts import from_base_units
from backend.entrypoints.api.app import create_app
from backend.services.foundation.deployment import PlatformContracts
from tests.conftest import make_settings, use_template
from tests.support.auth import create_brand, key_headers

WALLET = "0x" + "cd" * 20
MAX_TOKEN_UNITS = 2**96 - 1  # what one batchMint entry carries (LoyaltyToken._AMOUNT_MASK)
TOKENS_MAX = from_base_units(MAX_TOKEN_UNITS)  # "79228162514.264337593543950335"
JUST_ABOVE = "79228162515"  # whole tokens: one more than one entry can carry


@pytest.fixture
def container(
    db_url: str, sqlite_template: Path, tmp_path: Path, shared_chain: tuple[ChainClient, PlatformContracts]
) -> Iterator[Container]:
    chain, contracts = shared_chain
    c = provision(make_settings(use_template(db_url, sqlite_template), tmp_path), chain=chain, with_contracts=False)
    c.contracts = contracts
    yield c
    c.close()


@pytest.fixture
def shop(container: Container) -> tuple[TestClient, int, dict[str, str]]:
    """A brand paying 1 token per EUR and per JPY."""
    client = TestClient(create_app(container))
    brand_id, key = create_brand(client, "amounts")
    headers = key_headers(key)
    rules = [
        {"key": "eur", "kind": "rate", "currency": "EUR", "tokens": "1"},
        {"key": "jpy", "kind": "rate", "currency": "JPY", "tokens": "1"},
    ]
    response = client.post(f"/v1/brands/{brand_id}/promotions", json={"name": "p", "rules": rules}, headers=headers)
    assert response.status_code == 201, response.text
    return client, brand_id, headers


def purchase(key: str, amount: Any, currency: str = "EUR") -> dict[str, Any]:
    return {"idempotency_key": key, "type": "purchase", "wallet": WALLET, "order_id": key, "amount": amount,
            "currency": currency}  # fmt: skip


OUT_OF_RANGE = {
    "int40": 10**39,  # a JSON integer of 40 digits
    "str300": "9" * 300,  # a decimal string of 300 digits
    "rate": (str(10**11), "JPY"),  # in range itself, but earns 10^11 tokens = 10^29 base units > 2^96-1
}


def bad_purchase(name: str, key: str) -> dict[str, Any]:
    value = OUT_OF_RANGE[name]
    return purchase(key, *value) if isinstance(value, tuple) else purchase(key, value)


def count(container: Container, model: Any) -> int:
    with container.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_one_action_out_of_range_is_a_422_problem_and_records_nothing(
    shop: tuple[TestClient, int, dict[str, str]], container: Container, name: str
) -> None:
    client, _, headers = shop
    response = client.post("/v1/actions", json=bad_purchase(name, "bad"), headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "amount-out-of-range"
    assert count(container, Action) == 0 and count(container, CreditOutbox) == 0
    # the largest purchase whose credit one entry still carries is accepted
    ok = client.post("/v1/actions", json=purchase("ok", "79228162514", "JPY"), headers=headers)
    assert ok.status_code == 201, ok.text
    assert [c["amount"] for c in ok.json()["credits"]] == [str(79228162514 * 10**18)]


def test_batch_item_out_of_range_errors_alone_and_the_others_are_recorded(
    shop: tuple[TestClient, int, dict[str, str]], container: Container
) -> None:
    client, _, headers = shop
    actions = [purchase("ok-1", "10"), *(bad_purchase(n, f"bad-{n}") for n in sorted(OUT_OF_RANGE))]
    actions.append(purchase("ok-2", "20"))
    response = client.post("/v1/actions:batch", json={"actions": actions}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["error"]) == (2, 3)
    statuses = [(r["status"], r.get("problem", {}).get("code")) for r in body["results"]]
    assert statuses == [("created", None), *[("error", "amount-out-of-range")] * 3, ("created", None)]
    assert count(container, Action) == 2
    with container.uow() as uow:
        amounts = sorted(int(a) for a in uow.session.scalars(select(CreditOutbox.amount)))
    assert amounts == [10 * 10**18, 20 * 10**18]


def test_import_with_an_amount_out_of_range_is_refused_whole(
    shop: tuple[TestClient, int, dict[str, str]], container: Container
) -> None:
    client, _, headers = shop
    for name in ("int40", "str300"):
        actions = [purchase("ok-1", "10"), bad_purchase(name, "bad")]
        response = client.post(
            "/v1/actions:batch", json={"actions": actions}, headers={**headers, "Prefer": "respond-async"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "amount-out-of-range" and "actions[1]" in response.json()["detail"]
    assert count(container, ActionImport) == 0 and count(container, ActionInboxItem) == 0


def test_offer_cost_qr_reward_and_promotion_amounts_out_of_range_are_422(
    shop: tuple[TestClient, int, dict[str, str]], container: Container
) -> None:
    client, brand_id, headers = shop
    offer = {"title": "mug", "stock": 5}
    for cost in (JUST_ABOVE, "9" * 30):
        response = client.post(f"/v1/brands/{brand_id}/offers", json={**offer, "cost": cost}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (422, "amount-out-of-range"), response.text
    response = client.post(f"/v1/brands/{brand_id}/offers", json={**offer, "cost": TOKENS_MAX}, headers=headers)
    assert response.status_code == 201, response.text

    campaign = {"name": "c", "codes": 2, "ends_at": "2099-01-01T00:00:00Z"}
    for reward in (str(MAX_TOKEN_UNITS + 1), "9" * 78):
        response = client.post("/v1/qr/campaigns", json={**campaign, "reward_amount": reward}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (422, "amount-out-of-range"), response.text
    # NOTE: max_claims is an id-sized integer (≤ 2^31 − 1), so reward × claims stays far below the budget column.
    huge_cap = {**campaign, "reward_amount": str(MAX_TOKEN_UNITS), "max_claims": 10**30}
    response = client.post("/v1/qr/campaigns", json=huge_cap, headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "max_claims"], response.text

    fixed = {"key": "f", "kind": "fixed", "action_types": ["purchase"], "amount": JUST_ABOVE}
    tiered = [
        {**fixed, "amount": "1000000000"},  # 10^9 tokens × 100 for platinum shoppers: beyond one entry
        {"key": "t", "kind": "tier_multiplier", "multipliers": {"platinum": "100"}},
    ]
    rate = {"key": "r", "kind": "rate", "currency": "EUR", "tokens": JUST_ABOVE}
    for rules in ([fixed], tiered, [rate]):
        response = client.post(f"/v1/brands/{brand_id}/promotions", json={"name": "p", "rules": rules}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (422, "amount-out-of-range"), response.text


# -- the pipeline ------------------------------------------------------------------------------------------


@pytest.fixture
def platform(db_url: str, tmp_path: Path) -> Iterator[Container]:
    """A platform on its own in-process chain (the pipeline signs with its hot wallets' nonces)."""
    c = provision(make_settings(db_url, tmp_path, batch_window_s=0.001))
    yield c
    c.close()


def new_wallet() -> str:
    return to_checksum_address(secrets.token_bytes(20).hex())


def test_a_credit_no_batch_can_carry_is_held_and_the_rest_of_its_token_mints(platform: Container) -> None:
    assert platform.contracts is not None
    client = TestClient(create_app(platform))
    brand_id, _ = create_brand(client, "held")
    with platform.uow() as uow:
        brand = uow.session.get(Brand, brand_id)
        assert brand is not None
        brand_token = brand.token_address
    coalition = platform.contracts.coalition.address
    good, victim = new_wallet(), new_wallet()
    # Old data (accepted before the boundary checks), one row each of what no batchMint can carry.
    rows = [
        (coalition, good, 10**18, "good-1"),
        (coalition, victim, MAX_TOKEN_UNITS + 1, "poison-above"),
        (coalition, good, 3 * 10**18, "good-2"),
        (coalition, "0xnot-a-wallet", 10**18, "poison-wallet"),
        (coalition, victim, 0, "poison-zero"),
        (brand_token, victim, 2**255, "poison-huge"),
        (brand_token, good, 5 * 10**17, "good-3"),
        ("0xnot-a-token", good, 10**18, "token-broken"),  # fails its token's build each tick, and only that
    ]
    now = utcnow()
    with platform.engine.begin() as conn:
        conn.execute(
            insert(CreditOutbox.__table__),
            [
                {"chain_id": platform.chain.chain_id, "token_address": t, "wallet": w, "amount": a, "action_id": i,
                 "brand_id": brand_id, "state": "pending", "created_at": now, "updated_at": now}
                for t, w, a, i in rows
            ],
        )  # fmt: skip

    pipeline = platform.pipeline
    for _ in range(30):  # bounded by rounds: each round builds, sends, mines and settles
        pipeline.run_all()
        platform.chain.tester.mine_blocks(1)
        with platform.uow() as uow:
            states = dict(uow.session.execute(select(CreditOutbox.action_id, CreditOutbox.state)).all())
        if {states[i] for i in ("good-1", "good-2", "good-3")} == {"minted"}:
            break
    assert states == {
        "good-1": "minted",
        "good-2": "minted",
        "good-3": "minted",
        "poison-above": "held",
        "poison-wallet": "held",
        "poison-zero": "held",
        "poison-huge": "held",
        "token-broken": "pending",
    }
    assert token_contract(platform.chain, coalition).functions.balanceOf(good).call() == 4 * 10**18
    assert token_contract(platform.chain, brand_token).functions.balanceOf(good).call() == 5 * 10**17
    assert token_contract(platform.chain, coalition).functions.balanceOf(victim).call() == 0

    with platform.uow() as uow:
        reasons = dict(
            uow.session.execute(
                select(CreditOutbox.action_id, CreditOutbox.reason).where(CreditOutbox.state == "held")
            ).all()
        )
        alerts = uow.session.execute(
            select(OperatorAlert.severity, OperatorAlert.message).where(OperatorAlert.kind == "credit-held")
        ).all()
    assert all(r is not None and r.startswith("held: ") for r in reasons.values()), reasons
    assert "2^96-1" in reasons["poison-above"] and "2^96-1" in reasons["poison-huge"]
    alerted = " ".join(message for _, message in alerts)
    assert {severity for severity, _ in alerts} == {"critical"} and all(i in alerted for i in reasons)

    view = client.get(f"/v1/wallets/{victim}/rewards").json()
    held = [(p["action_id"], p["state"], p["reason"]) for t in view["tokens"] for p in t["pending_credits"]]
    assert sorted(held) == sorted((i, "held", reasons[i]) for i in ("poison-above", "poison-zero", "poison-huge"))


def test_a_credit_larger_than_the_cap_room_waits_and_the_others_of_its_token_mint(platform: Container) -> None:
    assert platform.contracts is not None
    token = create_token(
        platform.chain,
        platform.contracts.factory.address,
        platform.deployer,
        brand_id_bytes("capped"),
        "Capped",
        "CAP",
        18,
        10 * 10**18,  # cap: 10 tokens
        platform.deployer.address,
        [w.address for w in platform.hot_wallets],
    ).address
    first, big, last = new_wallet(), new_wallet(), new_wallet()
    now = utcnow()
    rows = [(first, 2 * 10**18, "fits-1"), (big, 20 * 10**18, "too-big"), (last, 3 * 10**18, "fits-2")]
    with platform.engine.begin() as conn:
        conn.execute(
            insert(CreditOutbox.__table__),
            [
                {"chain_id": platform.chain.chain_id, "token_address": token, "wallet": w, "amount": a,
                 "action_id": i, "state": "pending", "created_at": now, "updated_at": now}
                for w, a, i in rows
            ],
        )  # fmt: skip
    pipeline = platform.pipeline
    for _ in range(30):
        pipeline.run_all()
        platform.chain.tester.mine_blocks(1)
        with platform.uow() as uow:
            states = dict(uow.session.execute(select(CreditOutbox.action_id, CreditOutbox.state)).all())
        if states["fits-1"] == states["fits-2"] == "minted":
            break
    assert states == {"fits-1": "minted", "fits-2": "minted", "too-big": "pending"}
    erc20 = token_contract(platform.chain, token).functions
    assert [erc20.balanceOf(w).call() for w in (first, big, last)] == [2 * 10**18, 0, 3 * 10**18]
    with platform.uow() as uow:
        reason = uow.session.scalar(select(CreditOutbox.reason).where(CreditOutbox.action_id == "too-big"))
    assert reason is not None and "supply cap" in reason


def test_refunding_a_purchase_whose_credit_is_held_reverses_it_instead_of_owing_it(
    shop: tuple[TestClient, int, dict[str, str]], container: Container
) -> None:
    client, _, headers = shop
    assert client.post("/v1/actions", json=purchase("p1", "10"), headers=headers).status_code == 201
    with container.uow() as uow:
        uow.session.execute(update(CreditOutbox).values(state="held", reason="held: test"))
        uow.commit()
    refund = {"idempotency_key": "r1", "type": "refund", "wallet": WALLET, "order_id": "p1"}
    response = client.post("/v1/actions", json=refund, headers=headers)
    assert response.status_code == 201, response.text
    (reversal,) = response.json()["reversals"]
    assert (reversal["reversed"], reversal["debt"]) == (str(10 * 10**18), "0")  # never minted: nothing owed
    with container.uow() as uow:
        assert list(uow.session.scalars(select(CreditOutbox.state))) == ["cancelled"]
