"""A QR campaign export is rendered once and then served from its file; one export renders per brand at a time."""

from __future__ import annotations

import io
import zipfile

from backend.adapters.orm.qr import QrCampaign
from backend.services.qr.export import QrExportCache, export_cache
from tests.integration.security.conftest import World
from tests.support.auth import create_brand, key_headers

CODES = 40


def _campaign(world: World, headers: dict[str, str], codes: int = CODES) -> int:
    body = {"name": "print run", "codes": codes, "ends_at": "2099-01-01T00:00:00Z", "reward_amount": "1"}
    response = world.client.post("/v1/qr/campaigns", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _exports(world: World) -> QrExportCache:
    return export_cache(world.container.settings.deployments_dir.parent / "qr-exports")


def test_second_export_is_the_same_file_and_renders_nothing(world: World) -> None:
    headers = world.callers["key_a"]
    campaign = _campaign(world, headers)
    exports = _exports(world)
    before = exports.renders

    first = world.client.get(f"/v1/qr/campaigns/{campaign}/export.zip", headers=headers)
    assert first.status_code == 200, first.text
    assert exports.renders - before == CODES  # each code rendered once
    second = world.client.get(f"/v1/qr/campaigns/{campaign}/export.zip", headers=headers)

    assert second.status_code == 200 and second.headers["content-type"] == "application/zip"
    assert second.content == first.content
    assert exports.renders - before == CODES  # served from the cache: no code rendered again
    archive = zipfile.ZipFile(io.BytesIO(second.content))
    assert archive.testzip() is None
    assert len([n for n in archive.namelist() if n.endswith(".png")]) == CODES


def test_one_export_rendering_per_brand_at_a_time(world: World) -> None:
    headers = world.callers["key_a"]
    busy, waiting = _campaign(world, headers), _campaign(world, headers)
    _, other_key = create_brand(world.client, "qr-export-other")
    other = _campaign(world, key_headers(other_key), codes=2)
    ring = world.container.qr_keyring
    with world.container.sessions() as session:
        held = session.get(QrCampaign, busy)
        assert held is not None
        session.expunge(held)
    stream = _exports(world).render(held, ring)
    next(stream)  # brand A's first export is being rendered (a slow client reads it)

    refused = world.client.get(f"/v1/qr/campaigns/{waiting}/export.zip", headers=headers)
    again = world.client.get(f"/v1/qr/campaigns/{busy}/export.zip", headers=headers)
    elsewhere = world.client.get(f"/v1/qr/campaigns/{other}/export.zip", headers=key_headers(other_key))

    assert refused.status_code == again.status_code == 429
    assert refused.json()["code"] == "qr-export-busy" and int(refused.headers["Retry-After"]) > 0
    assert elsewhere.status_code == 200  # another brand is not held up
    stream.close()  # the reader went away: the slot is free and no partial file is kept
    assert _exports(world).cached(held, ring) is None
    assert world.client.get(f"/v1/qr/campaigns/{waiting}/export.zip", headers=headers).status_code == 200
