"""The webhook worker: fan platform events out to each endpoint's outbox, POST what is due, retry with backoff."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.bulk import is_postgres
from backend.adapters.db import UnitOfWork
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.notifications import PlatformEvent, WebhookAttempt, WebhookDelivery
from backend.adapters.orm.notifications import WebhookEndpoint as Endpoint
from backend.config import Settings
from backend.domain.timestamps import as_utc
from backend.domain.webhooks import SIGNATURE_HEADER, backoff_s, event_body, signature_header
from backend.services.notifications.webhooks import InvalidWebhookUrl, resolve_public, signing_secrets

log = logging.getLogger("loyalty.webhooks")
PER_ENDPOINT_PER_TICK = 5  # fairness: one busy or slow receiver cannot take a whole tick
CLAIM_LIMIT = 200
FAN_OUT_LIMIT = 1000


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
            if is_postgres(session):
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
            if is_postgres(session):
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
