"""What a brand does with its API key: promotions, offers, actions (one, a batch, an import), QR, webhooks."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from loyalty_client.errors import WaitTimeout
from loyalty_client.transport import Json, Transport


class Brand:
    """A brand's client, authenticated by one of its API keys (`lk_...`)."""

    def __init__(self, transport: Transport, api_key: str, brand_id: int, *, info: Json | None = None) -> None:
        self.transport, self.api_key, self.id = transport, api_key, brand_id
        self.info: Json = info or {}  # the brand as onboarded (name, slug, token_address, ...), when known
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self.transport.call(method, path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def get(self) -> Json:
        """The brand (its token address among the fields)."""
        brand: Json = self._call("GET", f"/v1/brands/{self.id}")
        return brand

    # --- promotions and offers -------------------------------------------------------------------------------
    def create_promotion(self, spec: Json) -> Json:
        """A promotion from `{"name": ..., "rules": [...]}` (see the API reference for the rule kinds)."""
        promotion: Json = self._call("POST", f"/v1/brands/{self.id}/promotions", json=spec)
        return promotion

    def create_offer(self, title: str, cost: str, stock: int, **extra: Any) -> Json:
        """An offer shoppers redeem for `cost` tokens (a decimal string, whole tokens)."""
        body = {"title": title, "cost": cost, "stock": stock, **extra}
        offer: Json = self._call("POST", f"/v1/brands/{self.id}/offers", json=body)
        return offer

    # --- actions ---------------------------------------------------------------------------------------------
    def record_action(self, action: Json) -> Json:
        """Record one action (201; 200 with the first answer when its idempotency key and body are replayed)."""
        recorded: Json = self._call("POST", "/v1/actions", json=action)
        return recorded

    def record_actions(self, actions: Sequence[Json]) -> Json:
        """Record a batch now: counts and one result per action (`created`, `replayed` or `error` + problem)."""
        answer: Json = self._call("POST", "/v1/actions:batch", json={"actions": list(actions)})
        return answer

    def import_actions(self, actions: Sequence[Json]) -> Json:
        """Upload a batch as an import (202, recorded by the workers): its `id`, `status_url`, `results_url`."""
        accepted: Json = self._call(
            "POST", "/v1/actions:batch", json={"actions": list(actions)}, headers={"Prefer": "respond-async"}
        )
        return accepted

    def action_import(self, import_id: str) -> Json:
        """An import's progress: `state` (`accepted` → `done`) and counts."""
        progress: Json = self._call("GET", f"/v1/action-imports/{import_id}")
        return progress

    def wait_for_import(self, import_id: str, timeout_s: float = 600.0, poll_s: float = 0.2) -> Json:
        """Poll until the import is `done`; `WaitTimeout` after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while (progress := self.action_import(import_id))["state"] != "done":
            if time.monotonic() > deadline:
                raise WaitTimeout(f"import {import_id} not recorded after {timeout_s:.0f} s")
            time.sleep(poll_s)
        return progress

    def import_results(self, import_id: str, after: int = -1, limit: int | None = None) -> Json:
        """One page of an import's results (`items`, `next_after`: None on the last page)."""
        params: dict[str, Any] = {"after": after}
        if limit is not None:
            params["limit"] = limit
        page: Json = self._call("GET", f"/v1/action-imports/{import_id}/results", params=params)
        return page

    def iter_import_results(self, import_id: str) -> Iterator[Json]:
        """Every result of an import, in request order."""
        after: int | None = -1
        while after is not None:
            page = self.import_results(import_id, after)
            yield from page["items"]
            after = page["next_after"]

    # --- QR campaigns ----------------------------------------------------------------------------------------
    def create_qr_campaign(self, name: str, codes: int, ends_at: datetime, reward_amount: int, **extra: Any) -> Json:
        """A campaign of `codes` signed QR codes, each worth `reward_amount` base units until `ends_at`."""
        body = {"name": name, "codes": codes, "ends_at": ends_at.isoformat(), "reward_amount": str(reward_amount)}
        campaign: Json = self._call("POST", "/v1/qr/campaigns", json={**body, **extra})
        return campaign

    def qr_codes(self, campaign_id: int, *, offset: int | None = None, limit: int | None = None) -> Json:
        """A page of the campaign's codes (`items`, each with its `code`)."""
        params = {k: v for k, v in (("offset", offset), ("limit", limit)) if v is not None}
        page: Json = self._call("GET", f"/v1/qr/campaigns/{campaign_id}/codes", params=params or None)
        return page

    def all_qr_codes(self, campaign_id: int, count: int, page_size: int = 1000) -> list[str]:
        """The first `count` codes of a campaign, read a page at a time."""
        out: list[str] = []
        while len(out) < count:
            page = self.qr_codes(campaign_id, offset=len(out), limit=page_size)
            out += [item["code"] for item in page["items"]]
        return out

    # --- webhooks --------------------------------------------------------------------------------------------
    def create_webhook(self, url: str, event_types: list[str], description: str | None = None) -> Json:
        """A webhook endpoint; its signing `secret` (`whsec_...`) is in this answer only (see `verify_webhook`)."""
        body: Json = {"url": url, "event_types": event_types}
        if description is not None:
            body["description"] = description
        endpoint: Json = self._call("POST", f"/v1/brands/{self.id}/webhooks", json=body)
        return endpoint

    def webhooks(self) -> list[Json]:
        """The brand's webhook endpoints."""
        endpoints: list[Json] = self._call("GET", f"/v1/brands/{self.id}/webhooks")
        return endpoints
