"""A shopper's whole journey, every step real, on two stacks:

- `embedded`: the embedded default's in-process chain (eth-tester) and PostgreSQL, no Redis; the test steps the
  pipeline (that chain mines only on transactions);
- `anvil`: the embedded runner (its background threads: minting pipeline, relayer, redemption settle, indexer,
  webhooks) on a real JSON-RPC node (anvil, contracts deployed over RPC), PostgreSQL and Redis (rate limits).

brand onboarded → purchases credited by a promotion → minted by the pipeline → the shopper signs in with SIWE
(a real key) → sees balance and offers → signs the EIP-712 redemption → the relayer pays the gas → the settle
step confirms → code + QR → the on-chain balance dropped by the cost → the brand gets a signed webhook → and
nothing the chain recorded on the way carries the shopper's personal data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from eth_account import Account
from fastapi.testclient import TestClient
from hexbytes import HexBytes
from sqlalchemy import text

from backend.bootstrap import Container, provision
from backend.entrypoints.api.app import create_app
from backend.entrypoints.runner import EmbeddedRunner, background_tasks
from devtools.anvil import AnvilNode, anvil_available
from tests.conftest import make_settings, wipe_postgres
from tests.integration.shoppers.kit import TOKEN, Wallet, balance, siwe_message
from tests.support.auth import create_brand, key_headers
from tests.support.webhook_receiver import Receiver, webhook_receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
EMAIL, CUSTOMER = "jane.doe@example.com", "loyal-7"


@dataclass
class Stack:
    """A platform under test and how its background work runs: stepped by the test, or the embedded runner."""

    container: Container
    node: AnvilNode | None = None
    runner: EmbeddedRunner | None = None

    def until(self, done_sql: str, timeout_s: float = 120) -> None:
        """Let the pipeline and the redemption settle step work until `done_sql` answers true."""
        pipeline = self.container.pipeline
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.runner is None:  # the in-process chain mines only on transactions: step as the runner would
                pipeline.build()
                pipeline.dispatch()
                self.container.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
                pipeline.track()
                pipeline.settle()
                self.container.redemption_settlement.settle()
            else:  # the runner's threads do the work; the node keeps producing blocks
                assert self.node is not None
                self.node.mine(1)
                time.sleep(0.1)
            with self.container.engine.connect() as conn:
                if conn.scalar(text(done_sql)):
                    return
        raise AssertionError(f"not reached in {timeout_s}s: {done_sql}")

    def delivered(self, receiver: Receiver, event_type: str, timeout_s: float = 60) -> list[dict[str, Any]]:
        """The verified webhook deliveries of `event_type` (waiting for the runner's webhook task)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.runner is None:
                self.container.webhook_dispatcher.run_once(wait=True)
            events = receiver.events(event_type)
            if events or time.monotonic() > deadline:
                return events
            time.sleep(0.1)


FAST_RUNNER = {"pipeline_poll_s": 0.1, "pipeline_settle_poll_s": 0.1, "webhook_poll_s": 0.1, "indexer_poll_s": 0.2}


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=[pytest.mark.anvil, pytest.mark.redis])])
def platform(request: pytest.FixtureRequest, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    overrides: dict[str, object] = {"confirmations": 0, "use_finalized_tag": False, "batch_window_s": 0.001}
    node: AnvilNode | None = None
    if request.param == "anvil":
        if not anvil_available():
            pytest.fail("anvil is required (node_modules/.bin/anvil)")
        node = AnvilNode().start()
        overrides |= FAST_RUNNER | {"rpc_urls": node.url}
        overrides["redis_url"] = request.getfixturevalue("redis_url")
        overrides["redis_prefix"] = request.getfixturevalue("redis_prefix")
    wipe_postgres(pg_url)
    c = provision(make_settings(pg_url, tmp_path, **overrides))
    runner = EmbeddedRunner(c, background_tasks(c)) if node is not None else None
    if runner is not None:
        runner.start()
    yield Stack(c, node, runner)
    if runner is not None:
        runner.stop()
    c.webhook_dispatcher.close()
    c.close()
    if node is not None:
        node.stop()
    wipe_postgres(pg_url)


@pytest.fixture
def stack_receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


def test_shopper_earns_signs_in_and_redeems_without_gas(platform: Stack, stack_receiver: Receiver) -> None:
    stack = platform.container
    client = TestClient(create_app(stack))
    brand_id, key = create_brand(client, "cafe")
    brand = key_headers(key)
    shopper = Wallet(Account.create())
    receiver = stack_receiver
    hook = client.post(
        f"/v1/brands/{brand_id}/webhooks",
        json={"url": receiver.url, "event_types": ["redemption.confirmed"]},
        headers=brand,
    )
    assert hook.status_code == 201, hook.text
    receiver.secrets = [hook.json()["secret"]]

    rule = {"kind": "rate", "key": "eur", "currency": "EUR", "per": "1.00", "tokens": "10"}
    assert (
        client.post(
            f"/v1/brands/{brand_id}/promotions", json={"name": "base", "rules": [rule]}, headers=brand
        ).status_code
        == 201
    )
    for n in range(3):
        body = {
            "idempotency_key": f"order-{n}",
            "type": "purchase",
            "wallet": shopper.address,
            "order_id": f"order-{n}",
            "amount": "5.00",
            "currency": "EUR",
            "customer_id": CUSTOMER,
        }
        assert client.post("/v1/actions", json=body, headers=brand).status_code in (200, 201)
    platform.until("SELECT count(*) = 3 FROM credit_outbox WHERE state = 'minted'")
    token = client.get(f"/v1/brands/{brand_id}", headers=brand).json()["token_address"]
    assert balance(stack, token, shopper.address) == 150 * TOKEN

    # Sign in with Ethereum.
    nonce = client.post("/v1/auth/siwe/nonce").json()
    message = siwe_message(shopper.address, nonce["nonce"], domain=nonce["domain"], chain_id=nonce["chain_id"])
    signed_in = client.post("/v1/auth/siwe/verify", json={"message": message, "signature": shopper.sign_text(message)})
    assert signed_in.status_code == 200, signed_in.text
    me = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    profile = client.get("/v1/me/profile", headers=me).json()
    assert profile["brand_tiers"][0]["tier"] == "silver"  # 150 tokens earned with the cafe
    assert profile["linked_customers"][0]["customer_id"] == CUSTOMER
    assert client.patch("/v1/me/profile", json={"email": EMAIL}, headers=me).status_code == 200

    offer = client.post(
        f"/v1/brands/{brand_id}/offers",
        json={"title": "Cake", "cost": "40", "stock": 2, "min_tier": "silver"},
        headers=brand,
    ).json()
    seen = client.get("/v1/offers/available", params={"wallet": shopper.address}).json()
    assert seen["offers"][0]["claimable"] and seen["balances"][0]["spendable"] == str(150 * TOKEN)

    # Sign the EIP-712 redemption; the platform relays it.
    prepared = client.post(f"/v1/offers/{offer['id']}/redemptions:prepare", headers=me).json()
    signature = shopper.sign_typed(prepared["typed_data"])
    submitted = client.post(
        "/v1/redemptions", json={"redemption_id": prepared["redemption_id"], "signature": signature}, headers=me
    )
    assert submitted.status_code == 202, submitted.text
    platform.until("SELECT count(*) = 0 FROM redemptions WHERE status = 'pending'")

    done = client.get(f"/v1/redemptions/{prepared['redemption_id']}", headers=me).json()
    assert done["status"] == "confirmed" and len(done["code"]) == 10, done
    qr = client.get(f"/v1/redemptions/{prepared['redemption_id']}/qr.png", headers=me)
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    assert balance(stack, token, shopper.address) == 110 * TOKEN
    assert stack.chain.w3.eth.get_balance(shopper.account.address) == 0  # never held gas money
    assert [r["code"] for r in client.get(f"/v1/brands/{brand_id}/redemptions", headers=brand).json()] == [done["code"]]

    (event,) = platform.delivered(stack_receiver, "redemption.confirmed")
    assert event["data"]["redemption_id"] == prepared["redemption_id"] and event["data"]["wallet"] == shopper.address

    assert_chain_holds_no_personal_data(stack, [EMAIL, CUSTOMER, "jane.doe"])
    if platform.runner is not None:  # the anvil stack: no background task failed, requests counted in Redis
        assert platform.runner.errors == {}
        client_redis = redis.Redis.from_url(stack.settings.redis_url)
        prefix = stack.settings.redis_prefix
        assert client_redis.keys(f"{prefix}rl:wallet:{shopper.address.lower()}:*")
        assert client_redis.keys(f"{prefix}rl:key:*")


def assert_chain_holds_no_personal_data(container: Container, personal: list[str]) -> None:
    """No transaction's calldata, log data or topic, from genesis to head, contains the strings (raw or hex)."""
    w3 = container.chain.w3
    needles = [s.encode() for s in personal] + [s.encode().hex().encode() for s in personal]
    scanned = 0
    for number in range(0, container.chain.head() + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            assert isinstance(tx, Mapping)
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            blobs = [bytes(HexBytes(tx.get("input", tx.get("data", b""))))]  # eth-tester names it `data`
            blobs += [bytes(log["data"]) for log in receipt["logs"]]
            blobs += [bytes(topic) for log in receipt["logs"] for topic in log["topics"]]
            for blob in blobs:
                for needle in needles:
                    assert needle not in blob and needle not in blob.hex().encode(), (number, needle)
            scanned += len(blobs[0])
    assert scanned > 1000  # deployments, mints and the redemption were looked at (not an empty scan)
