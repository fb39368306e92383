"""The operator dashboard in a real (headless) Chromium: sign in, figures render, the live feed updates."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.bootstrap import Container
from backend.config import REPO_ROOT
from loyalty_client import LoyaltyClient, Operator
from tests.support.live_server import live_server

CHROMIUM = os.environ.get("LOYALTY_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
WALLET = "0x" + "a7" * 20


@pytest.fixture
def base_url(container: Container) -> Iterator[str]:
    with live_server(container) as url:
        yield url


def _admin(client: httpx.Client, container: Container) -> Operator:
    s = container.settings
    return LoyaltyClient(http=client).login(s.admin_email, s.admin_password)


def _brand_with_promotion(client: httpx.Client, admin: Operator) -> dict[str, str]:
    brand = admin.onboard_brand("Aurora", "aurora", "loyalty@aurora.example", key_name="pos")
    brand.create_promotion(
        {"name": "points", "rules": [{"kind": "rate", "key": "spend", "currency": "USD", "tokens": "1"}]}
    )
    return brand.headers


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_dashboard_signs_in_and_shows_a_credit_live(base_url: str, container: Container) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the system Chromium is required at {CHROMIUM} (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        admin = _admin(client, container)
        brand = _brand_with_promotion(client, admin)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(f"{base_url}/dashboard")
            page.fill("#email", container.settings.admin_email)
            page.fill("#password", "wrong password")
            page.click("button[type=submit]")
            sync_api.expect(page.locator("#login-error")).to_contain_text("Wrong email or password")

            page.fill("#password", container.settings.admin_password)
            page.click("button[type=submit]")
            sync_api.expect(page.locator("#app")).to_be_visible()
            sync_api.expect(page.locator("#who")).to_contain_text("admin")
            sync_api.expect(page.locator("#brands")).to_contain_text("Aurora (aurora)")
            sync_api.expect(page.locator("#wallets tr")).to_have_count(len(container.hot_wallets))
            sync_api.expect(page.locator("#feed-state")).to_have_text("live")

            action = {
                "idempotency_key": "order-1",
                "type": "purchase",
                "wallet": WALLET,
                "order_id": "order-1",
                "amount": "42.00",
                "currency": "USD",
            }
            created = client.post("/v1/actions", json=action, headers=brand)
            assert created.status_code == 201, created.text
            # no reload: the credit arrives over the WebSocket feed, and the queue shows it pending
            item = page.locator('#feed li[data-type="action.credited"]')
            sync_api.expect(item).to_have_count(1, timeout=15_000)
            sync_api.expect(item).to_contain_text("42 tokens")
            sync_api.expect(page.locator("#kpi-pending")).to_have_text("1", timeout=15_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            assert not [u for u in failed if not u.startswith(base_url)], failed  # nothing loaded from outside
            browser.close()


def test_summary_and_rpc_passthrough(base_url: str, container: Container) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        assert client.get("/v1/dashboard/summary").status_code == 401
        admin = _admin(client, container)
        summary = admin.dashboard_summary()
        assert summary["queue"]["pending"] == 0 and summary["chain"]["embedded"] is True
        assert {w["address"] for w in summary["hot_wallets"]} == {s.address for s in container.hot_wallets}
        assert not any(w["low"] for w in summary["hot_wallets"])
        container.settings = container.settings.model_copy(update={"hot_wallet_low_balance_wei": 10**30})
        drained = admin.dashboard_summary()["hot_wallets"]
        assert drained and all(w["low"] for w in drained)  # below the threshold: the dashboard warns
        assert client.get("/dashboard/../config.py").status_code == 404
        head = client.post("/rpc", json={"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber", "params": []})
        assert head.json() == {"jsonrpc": "2.0", "id": 7, "result": hex(container.chain.head())}
        batch = client.post("/rpc", json=[{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}])
        assert batch.json()[0]["result"] == hex(container.chain.chain_id)
        for method in ("evm_revert", "eth_sendTransaction"):  # no rewinding or spending unlocked dev accounts
            refused = client.post("/rpc", json={"jsonrpc": "2.0", "id": 2, "method": method, "params": []}).json()
            assert refused["error"]["code"] == -32601


def test_brand_managers_see_their_brand_only(base_url: str, container: Container) -> None:
    from backend.services.foundation.operators import create_operator

    with httpx.Client(base_url=base_url, timeout=30) as client:
        admin = _admin(client, container)
        _brand_with_promotion(client, admin)
        other = admin.create_brand("Other", "other", "x@other.example")
        with container.uow() as uow:
            create_operator(uow.session, "manager@other.example", "manager-password", "brand_manager", other["id"])
            uow.commit()
        token = client.post(
            "/v1/auth/token", data={"username": "manager@other.example", "password": "manager-password"}
        )
        manager = {"Authorization": f"Bearer {token.json()['access_token']}"}
        summary = client.get("/v1/dashboard/summary", headers=manager).json()
        assert [b["slug"] for b in summary["brands"]] == ["other"]
        assert summary["hot_wallets"] == [] and summary["scope"] == {"brand_id": other["id"]}
        assert client.get("/v1/dashboard/reconcile", headers=manager).status_code == 403
