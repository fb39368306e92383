"""Outbound webhooks end to end: a real receiver on 127.0.0.1 verifies every signature it gets."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from backend.bootstrap import Container
from backend.services.notifications.webhook_dispatcher import WebhookDispatcher
from tests.integration.notifications.conftest import Brand, earn_everything, purchase
from tests.support.webhook_receiver import Receiver, webhook_receiver


def register(client: TestClient, brand: Brand, url: str, types: list[str] | None = None) -> dict[str, Any]:
    body = {"url": url, "event_types": types or ["action.credited"]}
    response = client.post(f"/v1/brands/{brand.id}/webhooks", json=body, headers=brand.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def deliveries(client: TestClient, brand: Brand, webhook_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/v1/brands/{brand.id}/webhooks/{webhook_id}/deliveries", headers=brand.headers)
    assert response.status_code == 200, response.text
    return list(response.json())


def test_signed_delivery_reaches_the_receiver_and_is_logged(
    client: TestClient, brand_a: Brand, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    hook = register(client, brand_a, receiver.url)
    assert hook["secret"].startswith("whsec_")
    receiver.secrets = [hook["secret"]]
    listed = client.get(f"/v1/brands/{brand_a.id}/webhooks", headers=brand_a.headers).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]  # shown once

    earn_everything(client, brand_a)
    action = purchase(client, brand_a, 1, customer_id="cust-secret-42")
    dispatcher.run_once(wait=True)

    (event,) = receiver.events("action.credited")
    assert event["brand_id"] == brand_a.id
    assert event["data"]["action_id"] == action["action_id"]
    assert event["data"]["credits"][0]["amount"] == str(10**18)
    assert "cust-secret-42" not in receiver.verified()[0].raw.decode()  # no personal data leaves
    (log,) = deliveries(client, brand_a, hook["id"])
    assert log["state"] == "delivered" and log["attempts"] == 1
    assert log["log"][0]["status_code"] == 200 and log["log"][0]["latency_ms"] >= 0


def test_failing_receiver_is_retried_then_dead_and_can_be_replayed(
    client: TestClient, container: Container, brand_a: Brand, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    hook = register(client, brand_a, receiver.url)
    receiver.secrets, receiver.status = [hook["secret"]], 500
    earn_everything(client, brand_a)
    purchase(client, brand_a, 1)
    max_attempts = container.settings.webhook_max_attempts
    for _ in range(max_attempts * 20):
        dispatcher.run_once(wait=True)
        (log,) = deliveries(client, brand_a, hook["id"])
        if log["state"] == "dead":
            break
    assert log["state"] == "dead" and log["attempts"] == max_attempts
    assert [a["attempt"] for a in log["log"]] == list(range(1, max_attempts + 1))
    assert {a["status_code"] for a in log["log"]} == {500} and log["last_error"] == "HTTP 500"
    assert [r.attempt for r in receiver.verified()] == list(range(1, max_attempts + 1))

    receiver.status = 200
    replay = client.post(
        f"/v1/brands/{brand_a.id}/webhooks/{hook['id']}/deliveries/{log['id']}:replay", headers=brand_a.headers
    )
    assert replay.status_code == 202, replay.text
    dispatcher.run_once(wait=True)
    newest = deliveries(client, brand_a, hook["id"])[0]
    assert newest["id"] == replay.json()["id"] and newest["replay_of"] == log["id"]
    assert newest["state"] == "delivered"
    assert receiver.events()[-1]["id"] == receiver.events()[0]["id"]  # the same event, sent again


def test_rotation_signs_with_both_secrets_during_the_overlap(
    client: TestClient, brand_a: Brand, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    hook = register(client, brand_a, receiver.url)
    old = hook["secret"]
    rotate = f"/v1/brands/{brand_a.id}/webhooks/{hook['id']}:rotate-secret"
    rotated = client.post(rotate, json={"overlap_s": 3600}, headers=brand_a.headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and rotated.json()["previous_secret_expires_at"] is not None
    receiver.secrets = [old, new]
    earn_everything(client, brand_a)
    purchase(client, brand_a, 1)
    dispatcher.run_once(wait=True)
    (got,) = receiver.verified()
    assert sorted(got.valid_for) == sorted([old, new])  # a receiver on either secret accepts it

    again = client.post(
        f"/v1/brands/{brand_a.id}/webhooks/{hook['id']}:rotate-secret", json={"overlap_s": 0}, headers=brand_a.headers
    )
    newest = again.json()["secret"]
    receiver.secrets = [new, newest]
    purchase(client, brand_a, 2)
    dispatcher.run_once(wait=True)
    assert receiver.verified()[-1].valid_for == [newest]  # no overlap asked: the old secret stops at once


def test_a_slow_receiver_does_not_hold_up_another_brand(
    client: TestClient, brand_a: Brand, brand_b: Brand, dispatcher: WebhookDispatcher
) -> None:
    with webhook_receiver() as slow, webhook_receiver() as fast:
        slow_hook = register(client, brand_a, slow.url)
        fast_hook = register(client, brand_b, fast.url)
        slow.secrets, slow.delay_s = [slow_hook["secret"]], 5.0  # beyond the 2 s read timeout
        fast.secrets = [fast_hook["secret"]]
        earn_everything(client, brand_a)
        earn_everything(client, brand_b)
        purchase(client, brand_a, 1)
        purchase(client, brand_b, 1)
        dispatcher.run_once(wait=True)
        assert len(fast.events("action.credited")) == 1
        (slow_log,) = deliveries(client, brand_a, slow_hook["id"])
        assert slow_log["state"] == "pending" and "Timeout" in (slow_log["last_error"] or "")
        assert slow_log["last_status_code"] is None


def test_unacceptable_urls_are_refused(client: TestClient, brand_a: Brand) -> None:
    for url in ["ftp://example.com/x", "https://user:pw@example.com/hook", "http://", "javascript:alert(1)", "nope"]:
        body = {"url": url, "event_types": ["action.credited"]}
        response = client.post(f"/v1/brands/{brand_a.id}/webhooks", json=body, headers=brand_a.headers)
        assert response.status_code == 422, (url, response.text)


def test_unknown_event_types_are_refused(client: TestClient, brand_a: Brand) -> None:
    body = {"url": "https://example.com/h", "event_types": ["action.credited", "everything"]}
    assert client.post(f"/v1/brands/{brand_a.id}/webhooks", json=body, headers=brand_a.headers).status_code == 422


def test_another_brand_cannot_see_or_change_webhooks(client: TestClient, brand_a: Brand, brand_b: Brand) -> None:
    hook = register(client, brand_a, "https://example.com/hook")
    base = f"/v1/brands/{brand_a.id}/webhooks"
    assert client.get(base, headers=brand_b.headers).status_code == 403
    assert client.delete(f"{base}/{hook['id']}", headers=brand_b.headers).status_code == 403
    assert client.post(f"{base}/{hook['id']}:rotate-secret", headers=brand_b.headers).status_code == 403
    # and B's own path never reaches A's endpoint either
    assert client.get(f"/v1/brands/{brand_b.id}/webhooks/{hook['id']}", headers=brand_b.headers).status_code == 404


def test_deleted_endpoint_gets_nothing_more(
    client: TestClient, brand_a: Brand, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    hook = register(client, brand_a, receiver.url)
    receiver.secrets = [hook["secret"]]
    earn_everything(client, brand_a)
    purchase(client, brand_a, 1)
    dispatcher.fan_out()
    deleted = client.delete(f"/v1/brands/{brand_a.id}/webhooks/{hook['id']}", headers=brand_a.headers)
    assert deleted.status_code == 204
    dispatcher.run_once(wait=True)
    assert receiver.received == []
    assert client.get(f"/v1/brands/{brand_a.id}/webhooks", headers=brand_a.headers).json() == []


def test_private_receivers_are_refused_when_configured(
    client: TestClient, container: Container, brand_a: Brand
) -> None:
    container.settings.webhook_allow_private_urls = False  # production setting (SSRF guard)
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://169.254.169.254/"):
        body = {"url": url, "event_types": ["action.credited"]}
        response = client.post(f"/v1/brands/{brand_a.id}/webhooks", json=body, headers=brand_a.headers)
        assert response.status_code == 422 and response.json()["code"] == "invalid-webhook-url", url
