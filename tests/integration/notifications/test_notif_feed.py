"""The live feed over WebSocket: authenticated, scoped per brand, events as they are committed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.integration.notifications.conftest import Brand, earn_everything, purchase
from tests.support.auth import login


def jwt_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def refused(client: TestClient, url: str, **kwargs: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect(url, **kwargs) as ws:
        ws.receive_json()
    return int(exc.value.code)


def test_admin_sees_every_brand_and_a_brand_only_itself(
    client: TestClient, admin: dict[str, str], brand_a: Brand, brand_b: Brand
) -> None:
    earn_everything(client, brand_a)
    earn_everything(client, brand_b)
    with (
        client.websocket_connect(f"/v1/feed?token={jwt_of(admin)}") as everyone,
        client.websocket_connect("/v1/feed", subprotocols=["bearer", brand_b.key]) as only_b,
    ):
        assert only_b.accepted_subprotocol == "bearer"
        a = purchase(client, brand_a, 1)
        b = purchase(client, brand_b, 1)
        first, second = everyone.receive_json(), everyone.receive_json()
        assert [first["data"]["action_id"], second["data"]["action_id"]] == [a["action_id"], b["action_id"]]
        assert first["type"] == "action.credited" and first["brand_id"] == brand_a.id
        got = only_b.receive_json()  # A's event was committed first, yet B's socket's first message is B's own
        assert got["brand_id"] == brand_b.id and got["data"]["action_id"] == b["action_id"]


def test_resume_after_an_event_replays_what_followed(client: TestClient, brand_a: Brand, brand_b: Brand) -> None:
    earn_everything(client, brand_a)
    earn_everything(client, brand_b)
    purchase(client, brand_a, 1)
    purchase(client, brand_b, 1)
    second = purchase(client, brand_a, 2)
    with client.websocket_connect(f"/v1/feed?token={brand_a.key}&after=0") as ws:
        backlog = [ws.receive_json(), ws.receive_json()]
        assert [e["brand_id"] for e in backlog] == [brand_a.id, brand_a.id]
        assert backlog[1]["data"]["action_id"] == second["action_id"]
        third = purchase(client, brand_a, 3)
        assert ws.receive_json()["data"]["action_id"] == third["action_id"]


def test_credentials_and_roles_are_enforced(
    client: TestClient, admin: dict[str, str], brand_a: Brand, brand_b: Brand
) -> None:
    assert refused(client, "/v1/feed") == 4401
    assert refused(client, "/v1/feed?token=not-a-token") == 4401
    assert refused(client, "/v1/feed?token=lk_1_forged") == 4401
    assert refused(client, f"/v1/feed?token={brand_b.key}&brand_id={brand_a.id}") == 4403
    body = {"email": "viewer@example.com", "password": "viewer-password-1", "role": "viewer"}
    assert client.post("/v1/operators", json=body, headers=admin).status_code == 201
    viewer = login(client, "viewer@example.com", "viewer-password-1")
    assert refused(client, f"/v1/feed?token={jwt_of(viewer)}") == 4403
