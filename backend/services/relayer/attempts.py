"""An intent's signed attempts: reading them, what the node knows of them, and which one to send again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.exceptions import TransactionNotFound

from backend.adapters.chain.client import ChainClient
from backend.adapters.orm.relayer import RelayAttempt, RelayIntent


def left_process(attempt: RelayAttempt) -> bool:
    """Whether the attempt was ever handed to a node (one only signed may still be unknown to everyone)."""
    return not (attempt.status == "signed" and attempt.broadcasts == 0)


@dataclass(frozen=True)
class PassView:
    """One intent's attempts and what the node said about their hashes, read once per tracker pass."""

    attempts: list[RelayAttempt]
    receipts: dict[str, dict[str, Any]]
    in_node: set[str]

    def node_knows(self) -> bool:
        """Whether the node has any of our signed transactions (in its pool or mined)."""
        if not self.attempts or self.attempts[-1].status == "signed":
            return False  # never sent: send it
        return any(a.tx_hash in self.in_node for a in self.attempts)


def attempts_of(s: Session, intent_ids: list[int]) -> dict[int, list[RelayAttempt]]:
    """The live attempts of several intents, oldest first."""
    by_intent: dict[int, list[RelayAttempt]] = {i: [] for i in intent_ids}
    for start in range(0, len(intent_ids), 1000):
        query = select(RelayAttempt).where(
            RelayAttempt.intent_id.in_(intent_ids[start : start + 1000]), RelayAttempt.status != "dead"
        )
        for attempt in s.scalars(query.order_by(RelayAttempt.id)):
            by_intent[attempt.intent_id].append(attempt)
    return by_intent


def live_attempts(s: Session, intent_id: int) -> list[RelayAttempt]:
    query = select(RelayAttempt).where(RelayAttempt.intent_id == intent_id, RelayAttempt.status != "dead")
    return list(s.scalars(query.order_by(RelayAttempt.id)))


def node_knows(chain: ChainClient, attempts: list[RelayAttempt]) -> bool:
    """Whether the node has any of our signed transactions (in its pool or mined), asked one hash at a time."""
    if attempts[-1].status == "signed":
        return False  # never sent: send it
    for attempt in reversed(attempts):
        try:
            if chain.w3.eth.get_transaction(attempt.tx_hash) is not None:  # type: ignore[arg-type]
                return True
        except TransactionNotFound:
            continue
    return False


def resend_candidate(intent: RelayIntent, attempts: list[RelayAttempt]) -> int | None:
    """A dropped transaction (the node knows none of our hashes, the nonce is free): the same bytes again."""
    latest = attempts[-1]
    if latest.status == "signed":
        return latest.id
    preferred = [a for a in attempts if a.tx_hash == intent.tx_hash and a.status == "sent"]
    sendable = preferred or [a for a in attempts if a.status == "sent"] or [latest]
    return sendable[-1].id
