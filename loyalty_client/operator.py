"""What a platform operator does: onboard brands, issue API keys, record coalition consents, read the dashboard."""

from __future__ import annotations

from typing import Any

from loyalty_client.brand import Brand
from loyalty_client.transport import Json, Transport


class Operator:
    """A signed-in operator (`LoyaltyClient.login`); `headers` carry its bearer token."""

    def __init__(self, transport: Transport, access_token: str) -> None:
        self.transport = transport
        self.headers = {"Authorization": f"Bearer {access_token}"}

    def create_brand(
        self, name: str, slug: str, contact_email: str, *, use_coalition_token: bool | None = None, **extra: Any
    ) -> Json:
        """Onboard a brand (the platform deploys its token); the brand as the API answers it."""
        body: Json = {"name": name, "slug": slug, "contact_email": contact_email, **extra}
        if use_coalition_token is not None:
            body["use_coalition_token"] = use_coalition_token
        created: Json = self.transport.call("POST", "/v1/brands", json=body, headers=self.headers)
        return created

    def create_api_key(self, brand_id: int, name: str = "default", scopes: list[str] | None = None) -> Json:
        """A new API key of the brand; its secret `key` (`lk_...`) is in this answer only."""
        body: Json = {"name": name}
        if scopes is not None:
            body["scopes"] = scopes
        key: Json = self.transport.call("POST", f"/v1/brands/{brand_id}/api-keys", json=body, headers=self.headers)
        return key

    def onboard_brand(
        self,
        name: str,
        slug: str,
        contact_email: str,
        *,
        use_coalition_token: bool | None = None,
        key_name: str = "default",
        scopes: list[str] | None = None,
    ) -> Brand:
        """Create a brand and an API key for it: the brand's own client (`Brand.info` is the created brand)."""
        info = self.create_brand(name, slug, contact_email, use_coalition_token=use_coalition_token)
        key = self.create_api_key(int(info["id"]), key_name, scopes)
        return Brand(self.transport, str(key["key"]), int(info["id"]), info=info)

    def grant_coalition_consent(self, grantee_brand_id: int) -> Json:
        """Record the coalition's consent that `grantee_brand_id` pays bonuses in the coalition token."""
        consent: Json = self.transport.call(
            "POST", "/v1/coalition/consents", json={"grantee_brand_id": grantee_brand_id}, headers=self.headers
        )
        return consent

    def dashboard_summary(self) -> Json:
        """Queue states, batches, chain and indexer position, hot wallets and per-brand figures."""
        summary: Json = self.transport.call("GET", "/v1/dashboard/summary", headers=self.headers)
        return summary

    def reconcile(self) -> Json:
        """The indexer's mirror against the chain: balances and supplies checked, differences."""
        report: Json = self.transport.call("GET", "/v1/dashboard/reconcile", headers=self.headers)
        return report
