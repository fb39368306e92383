"""SIWE pre-validation: what cannot be an EIP-4361 message, or is not for us, never reaches the message parser.

Found by fuzzing: a 4,000-character message to `POST /v1/auth/siwe/verify` held a core for minutes in the `siwe`
ABNF parser before any check (1,000 characters: 20 s). The budget is asserted by counting parser calls and by the
hard input cap, not by the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from siwe import parsed as siwe_parsed
from siwe import siwe as siwe_lib

from backend.domain.siwe_message import MAX_MESSAGE_CHARS, NotASiweMessage, read_fields
from backend.services.shoppers import siwe
from tests.integration.security.conftest import World
from tests.integration.shoppers.kit import Wallet


@pytest.fixture
def parser_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How often the library's message parsers ran (the real ones, counted)."""
    calls = {"from_message": 0, "abnf": 0}
    from_message = siwe_lib.SiweMessage.from_message.__func__  # type: ignore[attr-defined]
    abnf_init = siwe_parsed.ABNFParsedMessage.__init__

    def counted(cls: Any, message: str, abnf: bool = True) -> Any:
        calls["from_message"] += 1
        return from_message(cls, message, abnf)

    def counted_abnf(self: Any, message: str) -> None:
        calls["abnf"] += 1
        abnf_init(self, message)

    monkeypatch.setattr(siwe_lib.SiweMessage, "from_message", classmethod(counted))
    monkeypatch.setattr(siwe_parsed.ABNFParsedMessage, "__init__", counted_abnf)
    yield calls


def _verify(world: World, message: str, wallet: Wallet) -> Any:
    return world.client.post("/v1/auth/siwe/verify", json={"message": message, "signature": wallet.sign_text(message)})


def _message(world: World, wallet: Wallet, nonce: str, **changes: Any) -> str:
    domain = world.container.settings.siwe_domain
    text = siwe.message_text(
        domain,
        wallet.address,
        world.container.chain.chain_id,
        nonce,
        issued_at=changes.pop("issued_at", None),
        expiration=changes.pop("expiration", None),
    )
    for old, new in changes.pop("replace", {}).items():
        text = text.replace(old, new)
    return text


def test_hostile_messages_are_refused_without_the_parser(world: World, parser_calls: dict[str, int]) -> None:
    wallet = Wallet()
    nonce = wallet.nonce(world.client)["nonce"]
    good = _message(world, wallet, nonce)
    garbage = "x" * 1_000
    hostile = {
        "garbage, 1,000 chars": (garbage, "siwe-malformed"),
        "garbage at the cap": ("a" * MAX_MESSAGE_CHARS, "siwe-malformed"),
        "a 4,000-char statement": (good.replace("Sign in to Loyalty.", "S" * 4_000), "invalid-input"),
        "one char above the cap": (good + "\nRequest ID: " + "r" * MAX_MESSAGE_CHARS, "invalid-input"),
        "a long URI path": (
            good.replace(f"URI: http://{world.container.settings.siwe_domain}", "URI: http://" + "h" * 1500),
            "siwe-malformed",
        ),
        "CR line ends": (good.replace("\n", "\r\n"), "siwe-malformed"),
        "non-ASCII": (good.replace("Sign in", "Sígn in"), "siwe-malformed"),
        "another domain": (good.replace(world.container.settings.siwe_domain, "phish.example"), "siwe-wrong-domain"),
        "unknown nonce": (_message(world, wallet, "unknownnonce1234"), "siwe-nonce-unknown"),
        "URI on another origin": (
            good.replace(f"URI: http://{world.container.settings.siwe_domain}", "URI: https://phish.example/login"),
            "siwe-wrong-uri",
        ),
        "issued in the future": (
            _message(world, wallet, nonce, issued_at=datetime.now(UTC) + timedelta(hours=1)),
            "siwe-issued-in-future",
        ),
        "expired": (
            _message(world, wallet, nonce, expiration=datetime.now(UTC) - timedelta(seconds=1)),
            "siwe-expired",
        ),
    }
    for name, (message, code) in hostile.items():
        response = _verify(world, message, wallet)
        assert 400 <= response.status_code < 500, (name, response.text)
        assert response.json()["code"] == code, (name, response.text)
    assert parser_calls == {"from_message": 0, "abnf": 0}
    # None of them used the nonce up; the message parser runs once, for the one sign-in that can succeed.
    signed_in = _verify(world, good, wallet)
    assert signed_in.status_code == 200, signed_in.text
    assert parser_calls == {"from_message": 1, "abnf": 0}
    replayed = _verify(world, good, wallet)
    assert replayed.json()["code"] == "siwe-nonce-used"
    assert parser_calls["from_message"] == 1


def test_a_wallet_clock_a_little_ahead_still_signs_in(world: World) -> None:
    wallet = Wallet()
    nonce = wallet.nonce(world.client)["nonce"]
    message = _message(world, wallet, nonce, issued_at=datetime.now(UTC) + timedelta(seconds=20))
    assert _verify(world, message, wallet).status_code == 200


def test_the_cap_is_declared_and_above_it_nothing_is_read() -> None:
    # A message above the cap is refused before a single line is split.
    with pytest.raises(NotASiweMessage, match="at most"):
        read_fields("\n" * (MAX_MESSAGE_CHARS + 1))
    with pytest.raises(NotASiweMessage):
        read_fields("a wants you to sign in with your Ethereum account:\n" * 40)


def test_the_openapi_declares_the_cap(world: World) -> None:
    schema = world.client.get("/openapi.json").json()["components"]["schemas"]["VerifyIn"]
    assert schema["properties"]["message"]["maxLength"] == MAX_MESSAGE_CHARS
