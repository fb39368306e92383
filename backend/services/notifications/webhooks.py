"""Outbound webhooks: per-brand endpoints, the delivery outbox fed by the platform event log, and its worker.

    create_endpoint / list_endpoints / get_endpoint / delete_endpoint / rotate_secret   (brand-scoped)
    list_deliveries / replay_delivery                                                    (delivery log)
    WebhookDispatcher (webhook_dispatcher.py): fan out new events, deliver what is due (a job in backend.jobs)

Delivery is at least once: a delivery is claimed by pushing its `next_attempt_at` past a lease, the POST runs
outside any transaction, and the outcome is written with a compare-and-set on `attempts` (a worker that died
mid-flight leaves the delivery to be retried when the lease ends). Each tick takes at most a few deliveries per
endpoint and runs them in parallel with short timeouts, so a slow or failing receiver never holds up another
brand's. Failures back off exponentially with jitter until `LOYALTY_WEBHOOK_MAX_ATTEMPTS`, then `dead`.
Signature scheme and receiver-side verification: `backend.domain.webhooks`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections import defaultdict
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.notifications import EVENT_TYPES, WebhookAttempt, WebhookDelivery
from backend.adapters.orm.notifications import WebhookEndpoint as Endpoint
from backend.domain.timestamps import as_utc
from backend.domain.webhooks import check_url, new_secret
from backend.errors import InvalidInput, NotFound

log = logging.getLogger("loyalty.webhooks")
MAX_ENDPOINTS_PER_BRAND = 20


class WebhookNotFound(NotFound):
    code = "webhook-not-found"
    title = "No such webhook endpoint for this brand"


class DeliveryNotFound(NotFound):
    code = "delivery-not-found"
    title = "No such delivery for this webhook endpoint"


class InvalidWebhookUrl(InvalidInput):
    code = "invalid-webhook-url"
    title = "The webhook URL is not acceptable"


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast: not private, loopback, link-local, multicast, reserved, unspecified or CGNAT."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def resolve_public(host: str, port: int | None = None) -> list[str]:
    """SSRF guard: resolve `host` once; every address it resolves to must be public (InvalidWebhookUrl otherwise).

    NOTE: the caller connects to one of the returned addresses, never to `host` again: a second lookup could
    answer differently (DNS rebinding).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidWebhookUrl(f"cannot resolve {host!r}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise InvalidWebhookUrl(f"cannot resolve {host!r}")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:  # e.g. an IPv6 address with a zone (link-local anyway)
            raise InvalidWebhookUrl(f"{host!r} resolves to a non-public address ({text})") from exc
        if not _is_public(address):
            raise InvalidWebhookUrl(f"{host!r} resolves to a non-public address ({address})")
    return addresses


def _refuse_private(url: str) -> None:
    """SSRF guard (production): the receiver must not resolve to loopback, private or link-local addresses."""
    resolve_public(urlsplit(url).hostname or "")


def validate_endpoint(url: str, event_types: list[str], allow_private: bool) -> list[str]:
    try:
        check_url(url)
    except ValueError as exc:
        raise InvalidWebhookUrl(str(exc)) from exc
    if not allow_private:
        _refuse_private(url)
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown or not event_types:
        raise InvalidInput(f"event types must be a non-empty subset of {', '.join(EVENT_TYPES)}; unknown: {unknown}")
    return sorted(set(event_types))


def create_endpoint(
    session: Session,
    brand_id: int,
    *,
    url: str,
    event_types: list[str],
    description: str | None,
    created_by: str,
    allow_private: bool,
) -> tuple[Endpoint, str]:
    """A new endpoint and its secret (returned once; the caller shows it to the brand and never again)."""
    types = validate_endpoint(url, event_types, allow_private)
    if len(list_endpoints(session, brand_id)) >= MAX_ENDPOINTS_PER_BRAND:
        raise InvalidInput(f"a brand may have at most {MAX_ENDPOINTS_PER_BRAND} webhook endpoints")
    secret = new_secret()
    now = utcnow()
    endpoint = Endpoint(
        brand_id=brand_id,
        url=url,
        event_types=" ".join(types),
        description=description,
        secret=secret,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def list_endpoints(session: Session, brand_id: int) -> list[Endpoint]:
    query = select(Endpoint).where(Endpoint.brand_id == brand_id, Endpoint.deleted_at.is_(None)).order_by(Endpoint.id)
    return list(session.scalars(query))


def get_endpoint(session: Session, brand_id: int, endpoint_id: int) -> Endpoint:
    endpoint = session.get(Endpoint, endpoint_id)
    if endpoint is None or endpoint.brand_id != brand_id or endpoint.deleted_at is not None:
        raise WebhookNotFound(f"webhook {endpoint_id} not found")
    return endpoint


def delete_endpoint(session: Session, brand_id: int, endpoint_id: int) -> None:
    """Soft delete: the delivery log stays readable to the platform; pending deliveries die at their next turn."""
    endpoint = get_endpoint(session, brand_id, endpoint_id)
    endpoint.deleted_at = endpoint.updated_at = utcnow()
    session.flush()


def rotate_secret(session: Session, brand_id: int, endpoint_id: int, overlap_s: int) -> tuple[Endpoint, str]:
    """A new secret; the current one keeps signing (a second `v1`) for `overlap_s` seconds."""
    endpoint = get_endpoint(session, brand_id, endpoint_id)
    now = utcnow()
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret if overlap_s > 0 else None
    endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap_s) if overlap_s > 0 else None
    endpoint.secret = secret
    endpoint.updated_at = now
    session.flush()
    return endpoint, secret


def signing_secrets(endpoint: Endpoint, now: datetime) -> list[str]:
    secrets_ = [endpoint.secret]
    expires = as_utc(endpoint.previous_secret_expires_at)
    if endpoint.previous_secret and expires is not None and expires > now:
        secrets_.append(endpoint.previous_secret)
    return secrets_


def list_deliveries(
    session: Session, brand_id: int, endpoint_id: int, *, limit: int, before_id: int | None
) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    get_endpoint(session, brand_id, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    deliveries = list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))
    attempts: dict[int, list[WebhookAttempt]] = defaultdict(list)
    if deliveries:
        for attempt in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in deliveries]


def replay_delivery(session: Session, brand_id: int, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send the same event again, as a new delivery (its own attempts), whatever the original's state."""
    get_endpoint(session, brand_id, endpoint_id)
    original = session.get(WebhookDelivery, delivery_id)
    if original is None or original.endpoint_id != endpoint_id:
        raise DeliveryNotFound(f"delivery {delivery_id} not found")
    now = utcnow()
    replay = WebhookDelivery(
        endpoint_id=endpoint_id,
        brand_id=brand_id,
        event_id=original.event_id,
        event_type=original.event_type,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        replay_of=original.replay_of or original.id,
        created_at=now,
        updated_at=now,
    )
    session.add(replay)
    session.flush()
    return replay
