"""Gasless redemptions under faults: shoppers sign in with SIWE and sign EIP-712 (a stranger's first: refused)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from devtools.chaos.plan import Shopper
from devtools.chaos.requests import problem_code, request_with_retries
from devtools.chaos.tally import RedemptionTally
from loyalty_client import Wallet


class Redeemers:
    """Shoppers redeem twice each once their tokens are minted, while the faults run."""

    def __init__(
        self,
        base: str,
        shoppers: list[Shopper],
        deadline: float,
        violation: Callable[[str], None],
        tally: RedemptionTally,
        per_shopper: int = 2,
    ) -> None:
        self.base, self.shoppers, self.deadline = base, shoppers, deadline
        self.violation, self.tally, self.per_shopper = violation, tally, per_shopper
        self.stranger = Wallet.from_key(b"\x42" * 32)

    def run(self, threads: int = 4) -> None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(self.serve, self.shoppers))

    def _call(self, http: httpx.Client, method: str, path: str, **kw: Any) -> tuple[httpx.Response, bool]:
        return request_with_retries(http, method, path, self.tally.lock, self.tally.statuses, attempts=8, **kw)

    def serve(self, shopper: Shopper) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=30) as http:
                while shopper.redemptions < self.per_shopper and time.monotonic() < self.deadline:
                    if not self._spendable(http, shopper):
                        time.sleep(1.0)
                        continue
                    self._redeem(http, shopper)
        except Exception as exc:
            self.violation(f"redeemer {shopper.address}: {type(exc).__name__}: {exc}")

    def _spendable(self, http: httpx.Client, shopper: Shopper) -> bool:
        params = {"wallet": shopper.address, "brand_id": shopper.brand["id"]}
        r, _ = self._call(http, "GET", "/v1/offers/available", params=params)
        if r.status_code != 200:
            self.violation(f"offers/available got {r.status_code}: {r.text[:160]}")
            return False
        offers = [o for o in r.json().get("offers", []) if o["offer"]["id"] == shopper.brand["offer_id"]]
        return bool(offers and offers[0].get("claimable"))

    def _session(self, http: httpx.Client, shopper: Shopper) -> dict[str, str] | None:
        nonce, _ = self._call(http, "POST", "/v1/auth/siwe/nonce")
        if nonce.status_code != 200:
            self.violation(f"SIWE nonce got {nonce.status_code}: {nonce.text[:160]}")
            return None
        message = shopper.wallet.siwe_message(nonce.json())
        body = {"message": message, "signature": shopper.wallet.sign_text(message)}
        signed, retried = self._call(http, "POST", "/v1/auth/siwe/verify", json=body)
        if signed.status_code == 200:
            return {"Authorization": f"Bearer {signed.json()['access_token']}"}
        if not retried:  # after a lost connection the nonce may be spent already: sign in again
            self.violation(f"SIWE verify got {signed.status_code}: {signed.text[:160]}")
        return None

    def _redeem(self, http: httpx.Client, shopper: Shopper) -> None:
        headers = self._session(http, shopper)
        if headers is None:
            return
        offer_id = shopper.brand["offer_id"]
        prepared, _ = self._call(http, "POST", f"/v1/offers/{offer_id}/redemptions:prepare", headers=headers)
        if prepared.status_code == 409:  # not claimable right now (pending redemptions hold the balance)
            time.sleep(1.0)
            return
        if prepared.status_code != 201:
            self.violation(f"redemption prepare got {prepared.status_code}: {prepared.text[:160]}")
            return
        p = prepared.json()
        if shopper.redemptions == 0:  # someone else's signature: refused, nothing relayed
            forged = {"redemption_id": p["redemption_id"], "signature": self.stranger.sign_typed(p["typed_data"])}
            bad, _ = self._call(http, "POST", "/v1/redemptions", json=forged, headers=headers)
            if bad.status_code != 422 or problem_code(bad) != "redemption-bad-signature":
                self.violation(f"forged redemption signature got {bad.status_code}: {bad.text[:160]}")
            else:
                with self.tally.lock:
                    self.tally.bad_signature_refused += 1
        body = {"redemption_id": p["redemption_id"], "signature": shopper.wallet.sign_typed(p["typed_data"])}
        submitted, retried = self._call(http, "POST", "/v1/redemptions", json=body, headers=headers)
        replayed = retried and submitted.status_code == 409 and problem_code(submitted) == "redemption-replayed"
        if submitted.status_code == 202 or replayed:
            shopper.redemptions += 1
            with self.tally.lock:
                self.tally.submitted.append(p["redemption_id"])
        elif submitted.status_code == 409 and problem_code(submitted) in ("offer-not-claimable", "out-of-stock"):
            time.sleep(1.0)  # the balance moved between prepare and submit
        else:
            self.violation(f"redemption submit got {submitted.status_code}: {submitted.text[:160]}")
