"""Relayer errors, and the classification of what a node answers to `eth_sendRawTransaction`."""

from __future__ import annotations

import re
from enum import StrEnum

from backend.errors import Conflict, InvalidInput, LoyaltyError


class RelayerError(LoyaltyError):
    code = "relayer-error"
    title = "Relayer error"


class IntentConflict(Conflict):
    code = "relay-intent-conflict"
    title = "The intent exists with a different payload"


class InvalidIntent(InvalidInput):
    code = "invalid-relay-intent"
    title = "Invalid relay intent"


class NotCancellable(Conflict):
    code = "relay-intent-not-cancellable"
    title = "The intent is already final"


class Broadcast(StrEnum):
    """What became of one `eth_sendRawTransaction`."""

    SENT = "sent"
    ALREADY_KNOWN = "already-known"  # the node has it: as good as sent
    NONCE_TOO_LOW = "nonce-too-low"  # the nonce is used: by one of our attempts, or by someone else
    REPLACEMENT_UNDERPRICED = "replacement-underpriced"  # a tx with this nonce pays more (ours or not)
    UNDERPRICED = "underpriced"  # below the pool's minimum tip (25 gwei on Polygon) or the base fee
    INSUFFICIENT_FUNDS = "insufficient-funds"
    TIMEOUT = "timeout"  # transport failure: it may have landed; the tracker finds out
    UNKNOWN = "unknown"  # an error we cannot place: treated like a timeout (the tracker rebroadcasts if dropped)
    REJECTED = "rejected"  # permanent: this signed tx can never be accepted (bad gas limit, signature...)

    @property
    def accepted(self) -> bool:
        """The node has (or may have) it: nothing to do until the tracker looks again."""
        return self in (Broadcast.SENT, Broadcast.ALREADY_KNOWN, Broadcast.TIMEOUT, Broadcast.UNKNOWN)


_STREAK = re.compile(r"unknown \((\d+) in a row\): ")

# Substrings of geth/bor, erigon, anvil, nethermind and eth-tester messages (lower-cased).
_PATTERNS: tuple[tuple[Broadcast, tuple[str, ...]], ...] = (
    (Broadcast.ALREADY_KNOWN, ("already known", "already imported", "alreadyknown", "known transaction")),
    (Broadcast.NONCE_TOO_LOW, ("nonce too low", "oldnonce", "nonce has already been used", "invalid nonce")),
    (Broadcast.REPLACEMENT_UNDERPRICED, ("replacement transaction underpriced", "replacement fee too low")),
    (
        Broadcast.UNDERPRICED,
        (
            "transaction underpriced",
            "max fee per gas less than block base fee",
            "fee cap less than block base fee",
            "gas price below minimum",
            "feetoolow",
            "underpriced",
        ),
    ),
    (Broadcast.INSUFFICIENT_FUNDS, ("insufficient funds", "insufficientfunds")),
    (Broadcast.TIMEOUT, ("timed out", "timeout", "all rpc endpoints failed", "connection")),
    (
        Broadcast.REJECTED,
        (
            "intrinsic gas too low",
            "intrinsic gas too high",
            "exceeds block gas limit",
            "gas limit reached",
            "invalid sender",
            "invalid signature",
            "oversized data",
            "transaction type not supported",
            "invalid chain id",
            "incorrect chain id",
        ),
    ),
)


def unknown_streak(error: str | None) -> int:
    """How many unrecognised send errors in a row an attempt's stored error records (see `unknown_error`)."""
    match = _STREAK.match(error or "")
    return int(match.group(1)) if match else 0


def unknown_error(previous: str | None, message: str) -> str:
    """The stored error of one more unrecognised send error in a row.

    NOTE: the streak lives in the attempt's error text (`unknown (3 in a row): ...`) rather than in a column: a
    recognised answer or a clean send overwrites the error, which is exactly what resets the streak."""
    return f"unknown ({unknown_streak(previous) + 1} in a row): {message}"


def classify_broadcast_error(exc: BaseException) -> Broadcast:
    """Map a send error to what the relayer should do.

    NOTE: only errors known to be permanent give REJECTED (the nonce then gets a filler); anything unrecognised is
    UNKNOWN and retried, since abandoning a transaction that may be valid risks a nonce gap or a double send.
    """
    if isinstance(exc, TimeoutError | ConnectionError):
        return Broadcast.TIMEOUT
    message = str(exc).lower()
    for outcome, needles in _PATTERNS:
        if any(n in message for n in needles):
            return outcome
    # requests' exceptions subclass OSError; a transport failure says nothing about the transaction
    if isinstance(exc, OSError):
        return Broadcast.TIMEOUT
    return Broadcast.UNKNOWN
