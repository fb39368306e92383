"""`LoyaltyClient`: the entry point (one HTTP connection pool), its public calls, and the three roles' clients."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from loyalty_client.brand import Brand
from loyalty_client.operator import Operator
from loyalty_client.shopper import Shopper, Wallet
from loyalty_client.transport import Json, Transport


class LoyaltyClient:
    """The platform's HTTP API at `base_url`, or through a ready `http` client (e.g. FastAPI's `TestClient`)."""

    def __init__(self, base_url: str | None = None, *, http: httpx.Client | None = None, timeout: float = 30.0) -> None:
        if http is None:
            if base_url is None:
                raise ValueError("give the API's base_url or an httpx.Client")
            http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
            self._owns_http = True
        else:
            self._owns_http = False
        self.http = http
        self.transport = Transport(http)

    def close(self) -> None:
        """Close the connection pool (only one this client opened)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> LoyaltyClient:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # --- the roles -------------------------------------------------------------------------------------------
    def login(self, email: str, password: str) -> Operator:
        """Sign an operator in (OAuth2 password form): an `Operator` holding its token."""
        token = self.transport.call("POST", "/v1/auth/token", data={"username": email, "password": password})
        return Operator(self.transport, str(token["access_token"]))

    def brand(self, api_key: str, brand_id: int, *, info: Json | None = None) -> Brand:
        """A brand's client from one of its API keys."""
        return Brand(self.transport, api_key, brand_id, info=info)

    def shopper(self, wallet: Wallet | None = None) -> Shopper:
        """A shopper with `wallet` (a fresh key if none); call `sign_in()` before its own calls."""
        return Shopper(self.transport, wallet)

    # --- public calls (no credentials) -----------------------------------------------------------------------
    def health(self) -> Json:
        """Liveness and dependencies (answered with 503 when degraded: still returned)."""
        health: Json = self.transport.call("GET", "/health", ok=(200, 503))
        return health

    def claim_qr(self, code: str, wallet: str) -> Json:
        """Claim a scanned QR code for `wallet` (201); refusals raise `ApiError` (`qr-already-claimed`, ...)."""
        claim: Json = self.transport.call("POST", "/v1/qr/claims", json={"code": code, "wallet": wallet})
        return claim

    def available_offers(self, wallet: str, brand_id: int | None = None) -> Json:
        """What `wallet` may claim, and why not."""
        params: dict[str, Any] = {"wallet": wallet}
        if brand_id is not None:
            params["brand_id"] = brand_id
        offers: Json = self.transport.call("GET", "/v1/offers/available", params=params)
        return offers

    def batches(self, *, state: str | None = None, limit: int = 100, before: str | None = None) -> Json:
        """One page of mint batches, newest first (`items`, `next_before`)."""
        params: dict[str, Any] = {"limit": limit}
        if state is not None:
            params = {"state": state, **params}
        if before:
            params["before"] = before
        page: Json = self.transport.call("GET", "/v1/batches", params=params)
        return page

    def iter_batches(self, *, state: str | None = None, limit: int = 100) -> Iterator[Json]:
        """Every mint batch (in `state`), newest first, a page at a time."""
        before: str | None = None
        while True:
            page = self.batches(state=state, limit=limit, before=before)
            yield from page["items"]
            before = page.get("next_before")
            if not before:
                return

    def batch_manifest(self, batch_id: str) -> Json:
        """The audit manifest of a batch (every entry and its Merkle root), as the auditor verifies it."""
        manifest: Json = self.transport.call("GET", f"/v1/audit/batches/{batch_id}/manifest")
        return manifest
