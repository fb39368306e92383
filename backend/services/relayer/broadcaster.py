"""Send stored attempts to the node and record what it said, one transaction per group of sends."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.adapters.orm.relayer import FILLER_PURPOSE, RelayAttempt, RelayIntent
from backend.services.alerts import raise_alert
from backend.services.relayer.errors import Broadcast, unknown_streak
from backend.services.relayer.fee_oracle import gwei
from backend.services.relayer.sender import Sender
from backend.services.relayer.store import RelayStore

log = logging.getLogger("loyalty.relayer")
SEND_BATCH = 16  # broadcasts recorded per database transaction


class Broadcaster:
    def __init__(self, store: RelayStore, sender: Sender) -> None:
        self.store = store
        self.sender = sender

    def broadcast_attempts(self, attempt_ids: list[int], head: int | None) -> None:
        """Send several stored attempts (nonce order) and record every outcome in one transaction."""
        for start in range(0, len(attempt_ids), SEND_BATCH):
            with self.store.writing() as uow:
                s = uow.session
                for attempt_id in attempt_ids[start : start + SEND_BATCH]:
                    attempt = s.get(RelayAttempt, attempt_id)
                    assert attempt is not None
                    # NOTE: skip an intent another worker holds (it broadcasts or replaces it): waiting for several
                    # rows in one transaction could deadlock with a dispatcher that locks them in another order
                    intent = s.get(RelayIntent, attempt.intent_id, with_for_update={"skip_locked": True})
                    if intent is None or attempt.status != "signed":
                        continue
                    self._after_broadcast(s, intent, attempt, self.sender.broadcast(attempt, intent, head))
                uow.commit()

    def broadcast_attempt(self, attempt_id: int, head: int | None, restart_clock: bool = False) -> Broadcast:
        with self.store.writing() as uow:
            s = uow.session
            attempt = s.get(RelayAttempt, attempt_id)
            assert attempt is not None
            intent = s.get(RelayIntent, attempt.intent_id, with_for_update=True)
            assert intent is not None
            outcome = self.sender.broadcast(attempt, intent, head, restart_clock)
            self._after_broadcast(s, intent, attempt, outcome)
            uow.commit()
            return outcome

    def _after_broadcast(self, s: Session, intent: RelayIntent, attempt: RelayAttempt, outcome: Broadcast) -> None:
        if outcome is Broadcast.UNKNOWN and unknown_streak(attempt.error) == self.store.config.send_error_attempts:
            self._give_up(s, intent, attempt)
        if outcome.accepted and (intent.waiting_reason or "").startswith("hot wallet"):
            intent.waiting_reason = None
        elif outcome is Broadcast.INSUFFICIENT_FUNDS:
            intent.waiting_reason = (
                f"hot wallet {attempt.wallet} lacks funds for {gwei(attempt.max_fee_per_gas * attempt.gas_limit)} gwei"
            )
        elif outcome is Broadcast.REJECTED:
            others = s.scalar(
                select(func.count())
                .select_from(RelayAttempt)
                .where(
                    RelayAttempt.intent_id == intent.id, RelayAttempt.id != attempt.id, RelayAttempt.status == "sent"
                )
            )
            if not others and intent.state == "submitted":
                # NOTE: its nonce is released; reconciliation fills it with a self-transfer so later ones can mine
                intent.state, intent.error, intent.nonce = "failed", f"rejected by node: {attempt.error}", None
                log.warning("relay failed intent=%s:%s rejected: %s", intent.purpose, intent.ref, attempt.error)

    def _give_up(self, s: Session, intent: RelayIntent, attempt: RelayAttempt) -> None:
        """The node keeps answering this attempt with an error we cannot place: stop paying for it.

        NOTE: the node may have accepted the transaction all the same (a proxy that mangles answers, another
        endpoint behind a balancer). Failing the intent and releasing its nonce could then mint twice or leave a
        gap, so it is cancelled instead: a 0-value self-transfer at the same nonce races it (whichever mines
        decides: `confirmed`, or `failed` with the node's message), the nonce stays ours and used, and settlement
        releases credit only once the nonce is used and the batch root is still zero.
        """
        message = (attempt.error or "").split(": ", 1)[-1]
        limit = self.store.config.send_error_attempts
        why = f"the node refused it {limit} times with an unrecognised error: {message}"
        if intent.purpose != FILLER_PURPOSE and not intent.cancel_requested and intent.state == "submitted":
            intent.cancel_requested, intent.error = True, why[:500]
            action = "cancelling it (a self-transfer at its nonce)"
        else:
            action = "it keeps being resent; check the node"
        log.warning("relay send errors intent=%s:%s nonce=%s: %s", intent.purpose, intent.ref, attempt.nonce, why)
        raise_alert(
            s,
            "relay-send-errors",
            f"intent {intent.purpose}:{intent.ref} (wallet {attempt.wallet}, nonce {attempt.nonce}): {why}; {action}",
            batch_id=intent.ref if intent.purpose == "batch_mint" else None,
        )
