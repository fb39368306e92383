"""The QR API as brands and shoppers use it: create, render, export, claim, and tenant isolation."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image

from backend.bootstrap import Container
from backend.domain import qr as codec
from backend.entrypoints.api.app import create_app
from tests.integration.qr.campaigns import OTHER_WALLET, WALLET, make_brand

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def api(pg_container: Container) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    """The HTTP layer on PostgreSQL + Redis (the claim service itself is tested on SQLite and PostgreSQL)."""
    _, acme = make_brand(pg_container, "acme")
    _, globex = make_brand(pg_container, "globex")
    with TestClient(create_app(pg_container)) as client:
        yield client, acme, globex


def _campaign(client: TestClient, headers: dict[str, str], codes: int = 3, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "store flyers",
        "codes": codes,
        "ends_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "reward_amount": "5000000000000000000",
        **extra,
    }
    response = client.post("/v1/qr/campaigns", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _codes(client: TestClient, headers: dict[str, str], campaign_id: int) -> list[str]:
    response = client.get(f"/v1/qr/campaigns/{campaign_id}/codes", headers=headers, params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


def test_brand_creates_codes_that_render_as_png_and_svg(api: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, acme, _ = api
    campaign = _campaign(client, acme, codes=4)
    assert (campaign["codes"], campaign["claims"], campaign["state"]) == (4, 0, "active")
    codes = _codes(client, acme, campaign["id"])
    assert len(set(codes)) == 4

    png = client.get(f"/v1/qr/campaigns/{campaign['id']}/codes/2.png", headers=acme)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    image.load()
    assert image.format == "PNG" and image.size[0] == image.size[1] >= 25 * 8

    svg = client.get(f"/v1/qr/campaigns/{campaign['id']}/codes/2.svg", headers=acme)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(svg.content).tag.endswith("svg")

    missing = client.get(f"/v1/qr/campaigns/{campaign['id']}/codes/5.png", headers=acme)
    assert missing.status_code == 404


def test_export_zip_holds_every_code_and_a_manifest(api: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, acme, _ = api
    campaign = _campaign(client, acme, codes=12)
    response = client.get(f"/v1/qr/campaigns/{campaign['id']}/export.zip", headers=acme)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    pngs = [n for n in archive.namelist() if n.endswith(".png")]
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert len(pngs) == len(manifest) == 12
    assert {row["code"] for row in manifest} == set(_codes(client, acme, campaign["id"]))
    Image.open(io.BytesIO(archive.read(pngs[0]))).verify()
    sheet = client.get(f"/v1/qr/campaigns/{campaign['id']}/sheet.html", headers=acme, params={"limit": 5})
    assert sheet.status_code == 200 and sheet.text.count("<svg") == 5 and manifest[0]["code"] in sheet.text
    claimed = client.post("/v1/qr/claims", json={"code": manifest[0]["code"], "wallet": WALLET})
    assert claimed.status_code == 201, claimed.text


def test_brand_cannot_see_another_brands_campaigns_or_codes(
    api: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, acme, globex = api
    campaign = _campaign(client, acme)
    base = f"/v1/qr/campaigns/{campaign['id']}"
    paths = (base, f"{base}/codes", f"{base}/codes/1.png", f"{base}/codes/1.svg", f"{base}/export.zip")
    for path in (*paths, f"{base}/sheet.html", f"{base}/claims"):
        response = client.get(path, headers=globex)
        assert response.status_code == 403, path
        assert response.json()["code"] == "cross-tenant"
    assert client.patch(base, json={"state": "paused"}, headers=globex).status_code == 403
    assert client.get("/v1/qr/campaigns", headers=globex).json() == []
    assert [c["id"] for c in client.get("/v1/qr/campaigns", headers=acme).json()] == [campaign["id"]]
    assert client.get(base).status_code == 401


def test_claims_over_http_give_one_problem_code_per_failure(
    api: tuple[TestClient, dict[str, str], dict[str, str]], pg_container: Container
) -> None:
    client, acme, _ = api
    campaign = _campaign(client, acme, codes=2)
    code, second = _codes(client, acme, campaign["id"])

    won = client.post("/v1/qr/claims", json={"code": code, "wallet": WALLET})
    assert won.status_code == 201, won.text
    assert won.json()["code_id"] == 1 and won.json()["campaign_id"] == campaign["id"]
    assert won.json()["amount"] == "5000000000000000000" and won.json()["action_id"]

    ring = codec.QrKeyring(pg_container.settings.qr_secret)
    past = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    expired = codec.encode(codec.QrPayload(campaign["id"], 2, past, ring.current_id), ring.signing_key())
    forged = codec.encode(codec.QrPayload(campaign["id"], 2, past + 10**6, ring.current_id), b"guessed-key-material")
    unknown = codec.encode(codec.QrPayload(campaign["id"] + 100, 1, past + 10**6, ring.current_id), ring.signing_key())
    expected = {
        code: (409, "qr-already-claimed"),
        forged: (422, "qr-forged"),
        expired: (410, "qr-expired"),
        "HELLO-WORLD": (422, "qr-malformed"),
        unknown: (404, "qr-unknown-campaign"),
    }
    for raw, (status, problem) in expected.items():
        response = client.post("/v1/qr/claims", json={"code": raw, "wallet": OTHER_WALLET})
        assert (response.status_code, response.json()["code"]) == (status, problem), raw
        assert response.headers["content-type"].startswith("application/problem+json")

    assert client.patch(f"/v1/qr/campaigns/{campaign['id']}", json={"state": "paused"}, headers=acme).status_code == 200
    paused = client.post("/v1/qr/claims", json={"code": second, "wallet": WALLET})
    assert (paused.status_code, paused.json()["code"]) == (409, "qr-campaign-inactive")
    bad_wallet = client.post("/v1/qr/claims", json={"code": second, "wallet": "0x1234"})
    assert bad_wallet.status_code == 422

    claims = client.get(f"/v1/qr/campaigns/{campaign['id']}/claims", headers=acme).json()
    assert [(c["code_id"], c["wallet"].lower()) for c in claims] == [(1, WALLET)]


@pytest.mark.postgres
@pytest.mark.redis
def test_concurrent_http_claims_of_one_code_admit_one(pg_container: Container) -> None:
    _, acme = make_brand(pg_container, "acme")
    with TestClient(create_app(pg_container)) as client:
        campaign = _campaign(client, acme, codes=1)
        (code,) = _codes(client, acme, campaign["id"])

    config = uvicorn.Config(create_app(pg_container), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]

        async def storm() -> Counter[str]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                calls = [
                    http.post("/v1/qr/claims", json={"code": code, "wallet": "0x" + f"{i + 1:040x}"})
                    for i in range(100)
                ]
                responses = await asyncio.gather(*calls)
            return Counter(r.json().get("code", str(r.status_code)) for r in responses)

        outcomes = asyncio.run(storm())
    finally:
        server.should_exit = True
        thread.join(10)
    assert outcomes == Counter({"201": 1, "qr-already-claimed": 99})
