"""Sign-In with Ethereum over HTTP: a session for the signer, and a distinct problem code for each refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from backend.bootstrap import Container
from tests.integration.shoppers.kit import Wallet, siwe_message


def test_sign_in_gives_a_shopper_session_for_the_signing_wallet(client: TestClient) -> None:
    wallet = Wallet()
    headers = wallet.sign_in(client)
    profile = client.get("/v1/me/profile", headers=headers)
    assert profile.status_code == 200, profile.text
    assert profile.json()["wallet"] == wallet.address
    assert profile.json()["tier"]["tier"] == "member"
    # A shopper session is no operator credential.
    assert client.get("/v1/brands", headers=headers).status_code == 401


def test_each_refusal_has_its_own_code(client: TestClient, container: Container) -> None:
    wallet, other = Wallet(), Wallet()
    chain_id = container.chain.chain_id

    def code(message: str, signature: str | None = None) -> str:
        response = wallet.verify(client, message, signature)
        assert response.status_code in (401, 422), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return str(response.json()["code"])

    nonce = wallet.nonce(client)["nonce"]
    good = siwe_message(wallet.address, nonce, chain_id=chain_id)
    assert code("not a SIWE message") == "siwe-malformed"
    assert code(siwe_message(wallet.address, nonce, chain_id=chain_id, domain="phish.example")) == "siwe-wrong-domain"
    assert code(siwe_message(wallet.address, nonce, chain_id=1)) == "siwe-wrong-chain"
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = siwe_message(
        wallet.address, nonce, chain_id=chain_id, issued_at=past - timedelta(minutes=5), expiration=past
    )
    assert code(expired) == "siwe-expired"
    assert code(good, other.sign_text(good)) == "siwe-bad-signature"
    assert code(siwe_message(wallet.address, "unknownnonce1234", chain_id=chain_id)) == "siwe-nonce-unknown"
    # None of the refusals used the nonce up: the good message still signs in, once.
    assert wallet.verify(client, good).status_code == 200
    assert code(good) == "siwe-nonce-used"


def test_an_expired_nonce_cannot_sign_in(client: TestClient, container: Container) -> None:
    wallet = Wallet()
    nonce = wallet.nonce(client)["nonce"]
    with container.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE siwe_nonces SET expires_at = created_at WHERE nonce = %s" % f"'{nonce}'"  # noqa: UP031
        )
    response = wallet.verify(client, siwe_message(wallet.address, nonce, chain_id=container.chain.chain_id))
    assert response.status_code == 401 and response.json()["code"] == "siwe-expired"


def test_a_shopper_sees_only_their_own_data(client: TestClient) -> None:
    alice, bob = Wallet(), Wallet()
    alice_headers = alice.sign_in(client)
    bob.sign_in(client)
    assert client.get(f"/v1/shoppers/{alice.address}/profile", headers=alice_headers).status_code == 200
    for path in (f"/v1/shoppers/{bob.address}/profile", f"/v1/shoppers/{bob.address}/redemptions"):
        response = client.get(path, headers=alice_headers)
        assert response.status_code == 403 and response.json()["code"] == "not-your-wallet"
    assert client.get("/v1/me/profile").status_code == 401
    assert client.get("/v1/me/profile", headers={"Authorization": "Bearer forged.jwt.token"}).status_code == 401


def test_profile_changes_record_when_consent_was_given(client: TestClient) -> None:
    wallet = Wallet()
    headers = wallet.sign_in(client)
    before = client.get("/v1/me/profile", headers=headers).json()
    assert before["marketing_consent"] is False and before["marketing_consent_at"] is None
    changed = client.patch(
        "/v1/me/profile",
        json={"email": "shopper@example.com", "preferences": {"lang": "fr"}, "marketing_consent": True},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["email"] == "shopper@example.com" and body["preferences"] == {"lang": "fr"}
    assert body["marketing_consent"] is True and body["marketing_consent_at"] is not None
    assert client.patch("/v1/me/profile", json={"wallet": "0x0"}, headers=headers).status_code == 422
