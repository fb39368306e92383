"""Outbound webhooks: per-brand endpoints, the delivery outbox fed by the platform event log, and its worker.

    create_endpoint / list_endpoints / get_endpoint / delete_endpoint / rotate_secret   (brand-scoped)
    list_deliveries / replay_delivery                                                    (delivery log)
    WebhookDispatcher(sessions, settings).run_once()   # fan out new events, deliver what is due (backend.jobs)

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
import random
import socket
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.db import UnitOfWork
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.notifications import EVENT_TYPES, PlatformEvent, WebhookAttempt, WebhookDelivery
from backend.adapters.orm.notifications import WebhookEndpoint as Endpoint
from backend.config import Settings
from backend.domain.timestamps import as_utc
from backend.domain.webhooks import SIGNATURE_HEADER, backoff_s, check_url, event_body, new_secret, signature_header
from backend.errors import InvalidInput, NotFound

log = logging.getLogger("loyalty.webhooks")
PER_ENDPOINT_PER_TICK = 5  # fairness: one busy or slow receiver cannot take a whole tick
CLAIM_LIMIT = 200
FAN_OUT_LIMIT = 1000
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


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


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


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    attempt: int  # the attempt number this job makes (1-based)
    url: str
    body: bytes
    secrets: list[str]


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookDispatcher:
    """Fans new platform events out to subscribed endpoints and delivers due deliveries."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.timeout = httpx.Timeout(settings.webhook_timeout_s, connect=settings.webhook_connect_timeout_s)
        self.http = httpx.Client(
            timeout=self.timeout, follow_redirects=False, headers={"User-Agent": "loyalty-webhooks"}
        )
        self.pool = ThreadPoolExecutor(max_workers=settings.webhook_concurrency, thread_name_prefix="webhook")
        self._lock = threading.Lock()
        self._in_flight = 0
        self.lease = timedelta(seconds=2 * (settings.webhook_timeout_s + settings.webhook_connect_timeout_s) + 30)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.http.close()

    def run_once(self, wait: bool = False) -> bool:
        fanned = self.fan_out()
        delivered = self.deliver_due(wait)
        return bool(fanned or delivered)

    # ----------------------------------------------------------------- fan-out
    def fan_out(self) -> int:
        with UnitOfWork(self.sessions) as uow:
            session = uow.session
            query = select(PlatformEvent).where(PlatformEvent.fanned_out.is_(False)).order_by(PlatformEvent.id)
            query = query.limit(FAN_OUT_LIMIT)
            if _is_postgres(session):
                query = query.with_for_update(skip_locked=True)
            events = list(session.scalars(query))
            if not events:
                return 0
            endpoints: dict[int, list[Endpoint]] = defaultdict(list)
            for endpoint in session.scalars(
                select(Endpoint).where(
                    Endpoint.brand_id.in_({e.brand_id for e in events}), Endpoint.deleted_at.is_(None)
                )
            ):
                endpoints[endpoint.brand_id].append(endpoint)
            now = utcnow()
            rows = [
                {
                    "endpoint_id": endpoint.id,
                    "brand_id": event.brand_id,
                    "event_id": event.id,
                    "event_type": event.type,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for event in events
                for endpoint in endpoints.get(event.brand_id, [])
                if event.type in endpoint.event_types.split()
            ]
            if rows:
                session.execute(insert(WebhookDelivery.__table__), rows)  # type: ignore[arg-type]
            session.execute(
                update(PlatformEvent).where(PlatformEvent.id.in_([e.id for e in events])).values(fanned_out=True)
            )
            uow.commit()
            return len(events)

    # ----------------------------------------------------------------- delivery
    def _claim(self) -> list[_Job]:
        now = utcnow()
        with UnitOfWork(self.sessions) as uow:
            session = uow.session
            query = (
                select(WebhookDelivery)
                .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(CLAIM_LIMIT)
            )
            if _is_postgres(session):
                query = query.with_for_update(skip_locked=True)
            per_endpoint: dict[int, int] = defaultdict(int)
            chosen: list[WebhookDelivery] = []
            for delivery in session.scalars(query):
                if per_endpoint[delivery.endpoint_id] < PER_ENDPOINT_PER_TICK:
                    per_endpoint[delivery.endpoint_id] += 1
                    chosen.append(delivery)
            if not chosen:
                return []
            endpoints = {e.id: e for e in session.scalars(select(Endpoint).where(Endpoint.id.in_(set(per_endpoint))))}
            events = {
                e.id: e
                for e in session.scalars(
                    select(PlatformEvent).where(PlatformEvent.id.in_({d.event_id for d in chosen}))
                )
            }
            jobs = []
            for delivery in chosen:
                endpoint, event = endpoints.get(delivery.endpoint_id), events.get(delivery.event_id)
                delivery.updated_at = now
                if endpoint is None or endpoint.deleted_at is not None or event is None:
                    delivery.state, delivery.last_error = "dead", "endpoint deleted" if event else "event gone"
                    continue
                delivery.next_attempt_at = now + self.lease
                created = as_utc(event.created_at) or now
                body = event_body(event.id, event.type, event.brand_id, created, event.payload)
                jobs.append(
                    _Job(delivery.id, delivery.attempts + 1, endpoint.url, body, signing_secrets(endpoint, now))
                )
            uow.commit()
            return jobs

    def _post(self, job: _Job) -> _Outcome:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(job.secrets, timestamp, job.body),
            "Loyalty-Delivery-Id": str(job.delivery_id),
            "Loyalty-Attempt": str(job.attempt),
        }
        started = time.perf_counter()
        url = httpx.URL(job.url)
        extensions: dict[str, Any] = {}
        if not self.settings.webhook_allow_private_urls:
            # Again at delivery (DNS may have changed since registration), and the connection goes to the very
            # address checked: the Host header and TLS (SNI, certificate) stay those of the URL's host name.
            hostname = url.raw_host.decode("ascii")
            try:
                address = resolve_public(hostname, url.port)[0]
            except InvalidWebhookUrl as exc:
                return _Outcome(None, 0, f"refused: {exc.detail}"[:300])
            headers["Host"] = url.netloc.decode("ascii")
            extensions["sni_hostname"] = hostname
            url = url.copy_with(host=address)
        try:
            # NOTE: streamed and closed unread: a receiver cannot make us download a large response body.
            request = self.http.build_request("POST", url, content=job.body, headers=headers, extensions=extensions)
            response = self.http.send(request, stream=True)
            try:
                status = response.status_code
            finally:
                response.close()
        except httpx.HTTPError as exc:
            latency = int((time.perf_counter() - started) * 1000)
            return _Outcome(None, latency, f"{type(exc).__name__}: {exc}"[:300])
        latency = int((time.perf_counter() - started) * 1000)
        return _Outcome(status, latency, None if 200 <= status < 300 else f"HTTP {status}")

    def _record(self, job: _Job, outcome: _Outcome) -> None:
        settings = self.settings
        now = utcnow()
        values: dict[str, object] = {
            "attempts": job.attempt,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
            "last_latency_ms": outcome.latency_ms,
            "updated_at": now,
        }
        if outcome.ok:
            values.update(state="delivered", delivered_at=now)
        elif job.attempt >= settings.webhook_max_attempts:
            values.update(state="dead")
        else:
            delay = backoff_s(
                job.attempt, settings.webhook_backoff_base_s, settings.webhook_backoff_max_s, random.random()
            )
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        with UnitOfWork(self.sessions) as uow:
            won = uow.session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == job.delivery_id,
                    WebhookDelivery.attempts == job.attempt - 1,
                    WebhookDelivery.state == "pending",
                )
                .values(**values)
            ).rowcount  # type: ignore[attr-defined]
            if won == 1:
                uow.session.add(
                    WebhookAttempt(
                        delivery_id=job.delivery_id,
                        attempt=job.attempt,
                        status_code=outcome.status_code,
                        latency_ms=outcome.latency_ms,
                        error=outcome.error,
                        created_at=now,
                    )
                )
            uow.commit()
        if not outcome.ok:
            log.info("webhook delivery %s attempt %s failed: %s", job.delivery_id, job.attempt, outcome.error)

    def _deliver(self, job: _Job) -> bool:
        try:
            outcome = self._post(job)
            self._record(job, outcome)
            return outcome.ok
        finally:
            with self._lock:
                self._in_flight -= 1

    def deliver_due(self, wait: bool = False) -> int:
        """Claim due deliveries and POST them on the pool; `wait` blocks until this tick's POSTs are recorded.

        NOTE: without `wait` the tick returns at once, so a receiver that hangs until its timeout delays nobody;
        claims stop while the pool already holds `4 × concurrency` jobs.
        """
        with self._lock:
            if self._in_flight >= 4 * self.settings.webhook_concurrency:
                return 0
        jobs = self._claim()
        with self._lock:
            self._in_flight += len(jobs)
        futures = [self.pool.submit(self._deliver, job) for job in jobs]
        if wait:
            for future in futures:
                future.result()
        return len(jobs)
