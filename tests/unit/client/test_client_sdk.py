"""The Python SDK without a server: problems become typed errors, signatures verify, webhooks are checked."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from backend.domain.webhooks import signature_header
from backend.services.shoppers import siwe
from loyalty_client import ApiError, LoyaltyClient, Wallet, WebhookSignatureError, verify_webhook


def _api(handler: httpx.MockTransport) -> LoyaltyClient:
    return LoyaltyClient(http=httpx.Client(base_url="http://loyalty.test", transport=handler))


def test_a_refusal_raises_an_api_error_carrying_the_problem() -> None:
    problem = {
        "type": "https://loyalty.dev/problems/qr-already-claimed",
        "title": "Already claimed",
        "status": 409,
        "detail": "this code was claimed at 12:00",
        "code": "qr-already-claimed",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json=problem, headers={"content-type": "application/problem+json"})

    with pytest.raises(ApiError) as caught:
        _api(httpx.MockTransport(answer)).claim_qr("ABCD", "0x" + "11" * 20)
    error = caught.value
    assert (error.status, error.code, error.detail) == (409, "qr-already-claimed", "this code was claimed at 12:00")
    assert error.type == problem["type"] and error.problem == problem
    assert str(error).startswith("POST /v1/qr/claims → 409: ")


def test_an_error_without_a_problem_body_still_has_its_status() -> None:
    api = _api(httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway")))
    with pytest.raises(ApiError) as caught:
        api.batches()
    assert caught.value.status == 502 and caught.value.code is None and caught.value.problem == {}


def test_health_answers_a_degraded_platform_too() -> None:
    api = _api(httpx.MockTransport(lambda request: httpx.Response(503, json={"status": "degraded"})))
    assert api.health() == {"status": "degraded"}


def test_the_wallets_sign_in_message_passes_the_servers_checks() -> None:
    wallet = Wallet.from_key("0x" + "22" * 32)
    nonce = {"domain": "127.0.0.1:8000", "chain_id": 31337, "nonce": "abcdef0123456789"}
    message = wallet.siwe_message(nonce)
    now = datetime.now(UTC)
    parsed = siwe.check_message(message, wallet.sign_text(message), domain="127.0.0.1:8000", chain_id=31337, now=now)
    assert parsed.address == wallet.address


def test_a_webhook_is_verified_with_the_endpoints_secret_only() -> None:
    body = json.dumps({"id": 7, "type": "credit.minted"}).encode()
    header = signature_header(["whsec_new", "whsec_old"], 1_700_000_000, body)
    assert verify_webhook(body, {"Loyalty-Signature": header}, "whsec_old", now=1_700_000_010)["id"] == 7
    with pytest.raises(WebhookSignatureError):
        verify_webhook(body, header, "whsec_other", now=1_700_000_010)
    with pytest.raises(WebhookSignatureError):  # a replay long after the delivery
        verify_webhook(body, header, "whsec_new", now=1_700_100_000)
    with pytest.raises(WebhookSignatureError):
        verify_webhook(body, {}, "whsec_new")
