"""GDPR export and erasure; and the chain never holds personal data (checked on real minted and redeemed txs)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import pytest
from eth_utils import to_checksum_address
from fastapi.testclient import TestClient
from hexbytes import HexBytes
from sqlalchemy import func, insert, select

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.keys import Signer, dev_account
from backend.adapters.chain.transactions import send_and_wait
from backend.adapters.orm.base import Base, utcnow
from backend.adapters.orm.earning import Action, LedgerEntry
from backend.adapters.orm.minting import MintBatch
from backend.bootstrap import Container
from tests.integration.notifications.conftest import WALLET, Brand, earn_everything, purchase
from tests.support.auth import create_api_key

EMAIL = "jane.doe.gdpr@example.com"
CUSTOMER = "cust-jane-doe-4711"


def add_profile(container: Container, wallet: str) -> None:
    shoppers = Base.metadata.tables["shoppers"]
    with container.uow() as uow:
        now = utcnow()
        uow.session.execute(
            insert(shoppers).values(
                wallet=wallet,
                email=EMAIL,
                preferences={"name": "Jane Doe"},
                marketing_consent=True,
                created_at=now,
                updated_at=now,
            )
        )
        uow.commit()


def ledger_totals(container: Container) -> tuple[int, list[Any]]:
    with container.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(LedgerEntry))
        rows = uow.session.execute(
            select(LedgerEntry.action_id, LedgerEntry.kind, LedgerEntry.wallet, LedgerEntry.amount).order_by(
                LedgerEntry.id
            )
        ).all()
        return int(count or 0), [tuple(r) for r in rows]


def test_admin_exports_everything_then_erases_personal_data_but_not_the_ledger(
    client: TestClient, container: Container, admin: dict[str, str], brand_a: Brand
) -> None:
    earn_everything(client, brand_a)
    purchase(client, brand_a, 1, customer_id=CUSTOMER)
    add_profile(container, WALLET_CS)

    exported = client.get("/v1/gdpr/export", params={"wallet": WALLET}, headers=admin)
    assert exported.status_code == 200, exported.text
    tables = exported.json()["tables"]
    assert tables["shoppers"][0]["email"] == EMAIL
    assert tables["actions"][0]["customer_id"] == CUSTOMER
    assert len(tables["ledger_entries"]) == 1 and tables["credit_outbox"]

    before = ledger_totals(container)
    erased = client.post("/v1/gdpr/erase", json={"wallet": WALLET}, headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] == {"actions": 1, "shoppers": 1}
    assert ledger_totals(container) == before  # amounts, action ids, wallets: intact
    again = client.get("/v1/gdpr/export", params={"wallet": WALLET}, headers=admin).json()["tables"]
    assert "shoppers" not in again and again["actions"][0]["customer_id"] is None
    assert EMAIL not in str(again) and CUSTOMER not in str(again)


def test_a_brand_exports_and_erases_only_its_own_customers(client: TestClient, brand_a: Brand, brand_b: Brand) -> None:
    earn_everything(client, brand_a)
    earn_everything(client, brand_b)
    purchase(client, brand_a, 1, customer_id=CUSTOMER)
    purchase(client, brand_b, 1, customer_id=CUSTOMER)  # same id string at another brand: another person
    gdpr_scopes = ["gdpr:export", "gdpr:erase"]  # never in a key's default scopes
    brand_a = Brand(brand_a.id, create_api_key(client, brand_a.id, gdpr_scopes))
    brand_b = Brand(brand_b.id, create_api_key(client, brand_b.id, gdpr_scopes))

    mine = client.get("/v1/gdpr/export", params={"customer_id": CUSTOMER}, headers=brand_a.headers)
    assert mine.status_code == 200, mine.text
    assert {row["brand_id"] for rows in mine.json()["tables"].values() for row in rows} == {brand_a.id}
    assert "wallet_balances" not in mine.json()["tables"]  # platform-wide data is not the brand's
    assert client.get("/v1/gdpr/export", params={"wallet": WALLET}, headers=brand_a.headers).status_code == 403
    other = client.get(
        "/v1/gdpr/export", params={"customer_id": CUSTOMER, "brand_id": brand_a.id}, headers=brand_b.headers
    )
    assert other.status_code == 403

    assert client.post("/v1/gdpr/erase", json={"customer_id": CUSTOMER}, headers=brand_a.headers).status_code == 200
    left = client.get("/v1/gdpr/export", params={"customer_id": CUSTOMER}, headers=brand_b.headers).json()
    assert left["tables"]["actions"][0]["customer_id"] == CUSTOMER  # brand B's customer untouched
    gone = client.get("/v1/gdpr/export", params={"customer_id": CUSTOMER}, headers=brand_a.headers).json()
    assert gone["tables"] == {}


def test_gdpr_needs_credentials_and_one_subject(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get("/v1/gdpr/export", params={"wallet": WALLET}).status_code == 401
    assert client.post("/v1/gdpr/erase", json={"wallet": WALLET}).status_code == 401
    assert client.get("/v1/gdpr/export", headers=admin).status_code == 422
    both = {"wallet": WALLET, "customer_id": "x"}
    assert client.post("/v1/gdpr/erase", json=both, headers=admin).status_code == 422
    assert client.get("/v1/gdpr/export", params={"wallet": "0x123"}, headers=admin).status_code == 422


WALLET_CS = to_checksum_address(WALLET)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"confirmations": 0, "batch_window_s": 0.01, "shared_run_wait_s": 0}


def test_the_chain_holds_no_personal_data(
    client: TestClient, container: Container, brand_a: Brand, db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the chain is the same for both databases; once is enough")
    shopper = Signer(dev_account(9))
    start = container.chain.head()
    earn_everything(client, brand_a, tokens="5")
    purchase(client, brand_a, 1, wallet=shopper.address, customer_id=CUSTOMER)
    add_profile(container, shopper.address)
    pipeline = container.pipeline
    for _ in range(100):
        pipeline.run_all()
        with container.uow() as uow:
            states = list(uow.session.scalars(select(MintBatch.state)))
        if states and all(s == "confirmed" for s in states):
            break
        time.sleep(0.05)
    assert states == ["confirmed"]
    with container.uow() as uow:
        token = uow.session.scalar(select(LedgerEntry.token_address))
        action_id = uow.session.scalar(select(Action.public_id))
    assert token is not None and action_id
    contract = token_contract(container.chain, token)
    redeem = contract.encode_abi("redeem", [2 * 10**18, secrets.token_bytes(32), secrets.token_bytes(32)])
    send_and_wait(container.chain, shopper, {"to": token, "data": redeem})
    assert contract.functions.balanceOf(shopper.address).call() == 3 * 10**18  # minted 5, redeemed 2

    w3 = container.chain.w3
    needles = [s.encode() for s in (EMAIL, CUSTOMER, "Jane Doe", "jane.doe")]
    needles += [s.encode().hex().encode() for s in (EMAIL, CUSTOMER)]
    scanned = 0  # calldata bytes looked at
    for number in range(start + 1, container.chain.head() + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert isinstance(tx, Mapping)
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            calldata = tx.get("input", tx.get("data", b""))  # eth-tester names it `data`
            blobs = [bytes(HexBytes(calldata))] + [bytes(log["data"]) for log in receipt["logs"]]
            blobs += [bytes(t) for log in receipt["logs"] for t in log["topics"]]
            for blob in blobs:
                for needle in needles:
                    assert needle not in blob and needle not in blob.hex().encode(), (number, needle)
            scanned += len(blobs[0])
    assert scanned > 200  # calldata of the batch mint and the redemption at least (not an empty scan)
    assert action_id  # the action's id is what the chain carries (in the manifest root), never who earned it
