"""SSRF: production refuses private webhook receivers by default, and delivery connects to the address it checked.

DNS is simulated by replacing `socket.getaddrinfo` (the one resolver both the guard and httpx would use); the
outside world is never contacted: the transport refuses any target that is not the local receiver.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.errors import ConfigurationError
from backend.services.notifications.webhook_dispatcher import WebhookDispatcher, _Job
from tests.support.webhook_receiver import Receiver, webhook_receiver

STRONG = "x" * 32
PRODUCTION: dict[str, Any] = {
    "env": "production",
    "jwt_secret": STRONG,
    "qr_secret": STRONG,
    "admin_password": STRONG,
    "rpc_urls": "https://polygon.example",
}
PUBLIC_IP = "93.184.215.14"
REAL_GETADDRINFO = socket.getaddrinfo


def test_production_refuses_private_receivers_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOYALTY_WEBHOOK_ALLOW_PRIVATE_URLS", raising=False)
    assert Settings(**PRODUCTION).webhook_allow_private_urls is False
    assert Settings(env="development").webhook_allow_private_urls is True  # type: ignore[arg-type]
    assert Settings(**PRODUCTION, webhook_allow_private_urls=False).webhook_allow_private_urls is False


def test_production_refuses_to_start_with_private_receivers_unless_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="LOYALTY_WEBHOOK_PRIVATE_URLS_OVERRIDE"):
        Settings(**PRODUCTION, webhook_allow_private_urls=True)
    monkeypatch.setenv("LOYALTY_WEBHOOK_ALLOW_PRIVATE_URLS", "true")  # the same through the environment
    with pytest.raises(ConfigurationError, match="LOYALTY_WEBHOOK_ALLOW_PRIVATE_URLS"):
        Settings(**PRODUCTION)
    monkeypatch.setenv("LOYALTY_WEBHOOK_PRIVATE_URLS_OVERRIDE", "true")
    assert Settings(**PRODUCTION).webhook_allow_private_urls is True


class FakeDns:
    """Answers for some host names, in order (the last one repeats); IP literals resolve as usual."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in self.answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        self.lookups.append(name)
        queue = self.answers[name]
        ips = queue.pop(0) if len(queue) > 1 else queue[0]
        port_number = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port_number, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port_number))
            for ip in ips
        ]


class LocalOnlyTransport(httpx.BaseTransport):
    """Records every request handed to the network; only 127.0.0.1 (and names, resolved for real) go out."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == PUBLIC_IP:
            raise httpx.ConnectError("the test never leaves this machine", request=request)
        return self.inner.handle_request(request)


@pytest.fixture
def transport() -> LocalOnlyTransport:
    return LocalOnlyTransport()


@pytest.fixture
def dispatcher(transport: LocalOnlyTransport) -> Iterator[WebhookDispatcher]:
    settings = Settings(env="test", webhook_allow_private_urls=False, webhook_concurrency=1)  # type: ignore[arg-type]
    d = WebhookDispatcher(cast(sessionmaker[Session], None), settings)  # never touches the database here
    d.http.close()
    d.http = httpx.Client(transport=transport, timeout=d.timeout, follow_redirects=False)
    yield d
    d.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


def _job(url: str) -> _Job:
    return _Job(delivery_id=1, attempt=1, url=url, body=b'{"id": 1}', secrets=["whsec_test"])


def test_delivery_connects_to_the_checked_address_not_a_rebound_one(
    monkeypatch: pytest.MonkeyPatch, dispatcher: WebhookDispatcher, transport: LocalOnlyTransport, receiver: Receiver
) -> None:
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    dns = FakeDns({"rebind.test": [[PUBLIC_IP], ["127.0.0.1"]]})  # public when checked, loopback afterwards
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    outcome = dispatcher._post(_job(f"http://rebind.test:{port}/hooks"))
    assert receiver.received == []  # the loopback receiver is never reached
    (request,) = transport.requests
    assert request.url.host == PUBLIC_IP and request.url.port == port  # the pinned, checked address
    assert request.headers["Host"] == f"rebind.test:{port}"
    assert dns.lookups == ["rebind.test"]  # resolved once
    assert outcome.status_code is None and outcome.error is not None and "ConnectError" in outcome.error


def test_https_delivery_keeps_the_host_name_for_tls(
    monkeypatch: pytest.MonkeyPatch, dispatcher: WebhookDispatcher, transport: LocalOnlyTransport
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", FakeDns({"secure.test": [[PUBLIC_IP]]}))
    dispatcher._post(_job("https://secure.test/hooks"))
    dispatcher._post(_job("https://secure.test:8443/hooks"))
    first, second = transport.requests
    assert str(first.url) == f"https://{PUBLIC_IP}/hooks" and first.headers["Host"] == "secure.test"
    assert first.extensions["sni_hostname"] == "secure.test"  # SNI and certificate check for the name
    assert second.url.host == PUBLIC_IP and second.headers["Host"] == "secure.test:8443"


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["172.16.0.1"],
        ["192.168.1.1"],
        ["169.254.169.254"],
        ["100.64.0.1"],  # CGNAT
        ["0.0.0.0"],
        ["224.0.0.1"],  # multicast
        ["240.0.0.1"],  # reserved
        ["::1"],
        ["::ffff:127.0.0.1"],  # IPv4-mapped loopback
        ["fe80::1"],
        ["fc00::1"],
        ["ff02::1"],
        [PUBLIC_IP, "127.0.0.1"],  # one private answer among public ones is enough
    ],
)
def test_a_host_with_any_private_address_is_refused_without_connecting(
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: WebhookDispatcher,
    transport: LocalOnlyTransport,
    receiver: Receiver,
    addresses: list[str],
) -> None:
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    monkeypatch.setattr(socket, "getaddrinfo", FakeDns({"inside.test": [addresses]}))
    outcome = dispatcher._post(_job(f"http://inside.test:{port}/hooks"))
    assert outcome.error is not None and outcome.error.startswith("refused:"), outcome
    assert transport.requests == [] and receiver.received == []
