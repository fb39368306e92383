"""The loyalty platform's Python SDK: a typed, synchronous client of its HTTP API (httpx + eth-account).

    from loyalty_client import ApiError, LoyaltyClient, verify_webhook

    with LoyaltyClient("https://loyalty.example.com") as api:
        brand = api.brand("lk_...", brand_id=7)              # a brand's API key
        brand.create_promotion({"name": "1 point per euro",
                                "rules": [{"kind": "rate", "key": "spend", "currency": "EUR", "tokens": "1"}]})
        brand.record_action({"idempotency_key": "order-1001", "type": "purchase", "wallet": "0x...",
                             "order_id": "1001", "amount": "12.50", "currency": "EUR"})
        accepted = brand.import_actions(day_of_orders)       # up to 10,000 at once, recorded by the workers
        brand.wait_for_import(accepted["id"])
        try:
            api.claim_qr("ABCD...", wallet="0x...")
        except ApiError as exc:                              # the server's RFC 9457 problem
            print(exc.status, exc.code, exc.detail)         # e.g. 409 qr-already-claimed

        shopper = api.shopper()                              # a wallet with its own key (or `Wallet.from_key`)
        shopper.sign_in()                                    # SIWE (EIP-4361)
        prepared = shopper.redeem(offer_id=3)                # EIP-712 signed; the platform relays and pays gas
        shopper.wait_for_redemption(prepared["redemption_id"])

    # a webhook receiver: the raw body, the request's headers and the endpoint's `whsec_...` secret
    event = verify_webhook(raw_body, request_headers, secret)

Operators sign in with `api.login(email, password)` and onboard brands (`operator.onboard_brand(...)` returns
the new brand's `Brand` client). Answers are the API's JSON documents (`dict`); see the API reference at
`/docs`. Every error raised is a `LoyaltyClientError`.
"""

from loyalty_client.brand import Brand
from loyalty_client.client import LoyaltyClient
from loyalty_client.errors import ApiError, LoyaltyClientError, WaitTimeout, WebhookSignatureError
from loyalty_client.operator import Operator
from loyalty_client.shopper import Shopper, Wallet
from loyalty_client.transport import Json, Transport
from loyalty_client.webhooks import SIGNATURE_HEADER, verify_webhook

__all__ = [
    "SIGNATURE_HEADER",
    "ApiError",
    "Brand",
    "Json",
    "LoyaltyClient",
    "LoyaltyClientError",
    "Operator",
    "Shopper",
    "Transport",
    "WaitTimeout",
    "Wallet",
    "WebhookSignatureError",
    "verify_webhook",
]
