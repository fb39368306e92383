"""Stuck transactions: when to replace one, and the replacement (same nonce, higher fees, or a cancel)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.orm import Session

from backend.adapters.chain.keys import Signer
from backend.adapters.orm.relayer import FILLER_PURPOSE, RelayAttempt, RelayIntent
from backend.services.relayer import metrics
from backend.services.relayer.fee_oracle import FeeOracle
from backend.services.relayer.sender import Sender, fees_of
from backend.services.relayer.store import RelayStore

log = logging.getLogger("loyalty.relayer")
UNDERPRICED_PREFIXES = ("underpriced", "replacement-underpriced")


def is_stuck(attempts: list[RelayAttempt], head: int, replace_after_blocks: int) -> bool:
    """Whether the latest attempt should be replaced now."""
    latest = attempts[-1]
    if latest.status == "rejected" and (latest.error or "").startswith(UNDERPRICED_PREFIXES):
        # the node refused the price: re-quote and replace now; if the replacement is refused too, once per
        # block, so fees cannot escalate by 12.5 % on every pass of a busy tracker
        refused_before = any(a.status == "rejected" for a in attempts[:-1])
        return not refused_before or latest.sent_at_block is None or head > latest.sent_at_block
    if latest.status != "sent" or latest.sent_at_block is None:
        return False  # never sent (resend it) or refused for another reason (e.g. funds: more fees won't help)
    return head - latest.sent_at_block >= replace_after_blocks


class Replacer:
    """Signs replacements of stuck attempts within the fee caps."""

    def __init__(
        self, store: RelayStore, sender: Sender, fee_oracle: FeeOracle, wallets: Mapping[str, Signer], label: str
    ) -> None:
        self.store = store
        self.sender = sender
        self.fee_oracle = fee_oracle
        self.wallets = wallets
        self.label = label

    def replacement(
        self, s: Session, intent: RelayIntent, latest: RelayAttempt, cancel: bool = False
    ) -> RelayAttempt | None:
        """Same nonce, each fee max(old × 1.125 rounded up, fresh quote) — Polygon wants both ≥ 110 % — within caps."""
        fees = fees_of(latest).replacement(self.fee_oracle.quote())
        gas = 21_000 if cancel or latest.kind == "cancel" else intent.gas_limit
        if intent.purpose != FILLER_PURPOSE:
            reason = self.store.cap_reason(s, fees, gas, exclude_intent=intent.id)
            if reason is not None:
                if intent.waiting_reason != f"replacement {reason}":
                    log.info("relay replacement held intent=%s:%s: %s", intent.purpose, intent.ref, reason)
                    intent.waiting_reason = f"replacement {reason}"
                return None
        signer = self.wallets[str(intent.wallet)]
        assert intent.nonce is not None
        if cancel or latest.kind == "cancel":
            attempt = self.sender.sign(
                signer,
                intent,
                nonce=intent.nonce,
                fees=fees,
                kind="cancel",
                to=signer.address,
                data="0x",
                value=0,
                gas_limit=gas,
            )
        else:
            attempt = self.sender.sign(signer, intent, nonce=intent.nonce, fees=fees, kind="replacement")
        intent.waiting_reason = None
        metrics.REPLACEMENTS.labels(self.label).inc()
        log.info(
            "relay replace intent=%s:%s nonce=%s old=%s new=%s %s",
            intent.purpose,
            intent.ref,
            intent.nonce,
            latest.tx_hash,
            attempt.tx_hash,
            fees.describe(),
        )
        return attempt
