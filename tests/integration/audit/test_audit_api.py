"""The audit API: a batch's manifest file and an action's trail (with a proof the contract accepts), no credentials."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.keys import dev_account
from backend.adapters.orm.earning import Action
from backend.adapters.orm.minting import CreditOutbox
from backend.audit.manifest_file import manifest_root, parse_manifest
from backend.bootstrap import Container
from backend.entrypoints.api.app import create_app
from tests.integration.audit.history import batch_mint

W1, W2 = dev_account(5).address, dev_account(6).address


def _setup(container: Container) -> tuple[TestClient, str]:
    assert container.contracts is not None
    return TestClient(create_app(container)), container.contracts.coalition.address


def test_manifests_and_unminted_credits(container: Container) -> None:
    client, coalition = _setup(container)
    minted = batch_mint(container, coalition, "api-1", [("act-1", W1, 100), ("act-2", W2, 5), ("act-1", W2, 1, "ref")])
    response = client.get(f"/v1/audit/batches/{minted.batch_id.upper().replace('0X', '0x')}/manifest")
    assert response.status_code == 200, response.text
    assert response.headers["X-Batch-State"] == "confirmed"
    manifest = parse_manifest(response.json())
    assert (manifest.batch_id, manifest.tx_hash, manifest.block_number) == (
        minted.batch_id,
        minted.tx_hash,
        minted.block_number,
    )
    assert manifest_root(manifest.entries) == minted.root == manifest.manifest_root
    assert [(e.action_id, e.wallet, e.amount) for e in manifest.entries] == [
        ("act-1", W1, 100),
        ("act-2", W2, 5),
        ("act-1", W2, 1),
    ]

    missing = client.get(f"/v1/audit/batches/0x{'ab' * 32}/manifest")
    assert missing.status_code == 404 and missing.json()["code"] == "manifest-not-found"
    assert client.get("/v1/audit/batches/0x1234/manifest").status_code == 422

    # a credit not minted yet: its state and why it waits
    with container.uow() as uow:
        uow.session.add(
            CreditOutbox(
                chain_id=container.chain.chain_id,
                token_address=coalition,
                wallet=W1,
                amount=12,
                action_id="scan-7",
                rule_id="qr",
                state="pending",
                reason="fees above cap",
            )
        )
        uow.commit()
    body = client.get("/v1/audit/actions/scan-7").json()
    assert body["credits"] == [
        {
            "chain_id": container.chain.chain_id,
            "token": coalition,
            "wallet": W1,
            "amount": "12",
            "rule_id": "qr",
            "state": "pending",
            "reason": "fees above cap",
            "batch": None,
        }
    ]
    with container.uow() as uow:  # an action that earned nothing to mint (no rule matched)
        uow.session.add(
            Action(
                public_id="quiet-1", brand_id=1, idempotency_key="k1", body_hash="0" * 64, type="custom",
                wallet=W1, result={},
            )
        )  # fmt: skip
        uow.commit()
    quiet = client.get("/v1/audit/actions/quiet-1")
    assert quiet.status_code == 200 and quiet.json()["credits"] == []
    unknown = client.get("/v1/audit/actions/nope")
    assert unknown.status_code == 404 and unknown.json()["code"] == "action-not-found"


def test_an_action_trail_proves_each_credit_on_chain(container: Container) -> None:
    client, coalition = _setup(container)
    minted = batch_mint(container, coalition, "api-2", [("buy-1", W1, 70, "base"), ("buy-1", W2, 3, "referral")])
    batch_mint(container, coalition, "api-3", [("other", W1, 9)])
    response = client.get("/v1/audit/actions/buy-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["action_id"] == "buy-1" and "verifyManifestLeaf" in body["leaf_encoding"]
    assert [(c["wallet"], c["amount"], c["rule_id"], c["state"]) for c in body["credits"]] == [
        (W1, "70", "base", "minted"),
        (W2, "3", "referral", "minted"),
    ]
    token = token_contract(container.chain, coalition)
    for credit in body["credits"]:
        batch = credit["batch"]
        assert (batch["batch_id"], batch["tx_hash"], batch["block_number"]) == (
            minted.batch_id,
            minted.tx_hash,
            minted.block_number,
        )
        assert batch["manifest_url"] == f"/v1/audit/batches/{minted.batch_id}/manifest"
        proof = [bytes.fromhex(p[2:]) for p in batch["proof"]]
        leaf = bytes.fromhex(batch["leaf"][2:])
        assert token.functions.verifyManifestLeaf(bytes.fromhex(minted.batch_id[2:]), leaf, proof).call() is True
