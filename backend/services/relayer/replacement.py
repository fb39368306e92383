"""Stuck transactions: when to replace one, and the replacement (same nonce, higher fees, or a cancel)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from sqlalchemy.orm import Session

from backend.adapters.chain.keys import Signer
from backend.adapters.orm.relayer import FILLER_PURPOSE, RelayAttempt, RelayIntent
from backend.services.relayer import metrics
from backend.services.relayer.fee_oracle import FeeOracle, FeeQuote
from backend.services.relayer.nonce_manager import ChainNonces
from backend.services.relayer.sender import Sender, fees_of
from backend.services.relayer.store import RelayStore

log = logging.getLogger("loyalty.relayer")
UNDERPRICED_PREFIXES = ("underpriced", "replacement-underpriced")


def lowest_unmined(
    intents: Iterable[RelayIntent], mined: set[int], nonces: Mapping[str, ChainNonces]
) -> dict[str, int]:
    """Per wallet, the lowest nonce an open intent holds with none of its attempts in a block: the one to reprice.

    NOTE: nonce n + 1 cannot mine before n, so a fee bump on it is wasted; once n mines, n + 1 is considered."""
    lowest: dict[str, int] = {}
    for intent in intents:
        wallet, nonce = intent.wallet, intent.nonce
        if wallet is None or nonce is None or intent.id in mined or wallet not in nonces:
            continue
        if nonce >= nonces[wallet].latest and nonce < lowest.get(wallet, nonce + 1):
            lowest[wallet] = nonce
    return lowest


def underpriced(fees: FeeQuote, required: FeeQuote) -> bool:
    """Whether a signed transaction pays less than the chain needs now (max fee or tip)."""
    if fees.max_fee_per_gas < required.max_fee_per_gas:
        return True
    if fees.max_priority_fee_per_gas is None or required.max_priority_fee_per_gas is None:
        return False
    return fees.max_priority_fee_per_gas < required.max_priority_fee_per_gas


def refused_price(attempts: list[RelayAttempt], head: int) -> bool | None:
    """For an attempt the node refused as underpriced: replace now (True) or not this block (False); else None."""
    latest = attempts[-1]
    if latest.status != "rejected" or not (latest.error or "").startswith(UNDERPRICED_PREFIXES):
        return None
    # the node refused the price: re-quote and replace now; if the replacement is refused too, once per
    # block, so fees cannot escalate by 12.5 % on every pass of a busy tracker
    refused_before = any(a.status == "rejected" for a in attempts[:-1])
    return not refused_before or latest.sent_at_block is None or head > latest.sent_at_block


def is_stuck(attempts: list[RelayAttempt], head: int, replace_after_blocks: int) -> bool:
    """Whether the latest attempt has waited long enough for a replacement (or was refused for its price)."""
    refused = refused_price(attempts, head)
    if refused is not None:
        return refused
    latest = attempts[-1]
    if latest.status != "sent" or latest.sent_at_block is None:
        return False  # never sent (resend it) or refused for another reason (e.g. funds: more fees won't help)
    return head - latest.sent_at_block >= replace_after_blocks


class RepricePlan:
    """One tracker pass's replacement policy: each wallet's lowest unmined nonce when it has waited
    `replace_after_blocks` and pays less than the chain needs now; otherwise it waits (the pool will take it).

    NOTE: once the lowest nonce is repriced, the nonces queued behind it that pay too little are repriced in the
    same pass (the tracker walks a wallet's intents in nonce order): left alone, each would wait for the one
    below to mine and then `replace_after_blocks` more, so a fee spike drained a wallet's lane one nonce per few
    blocks (seen in the fault run: 8 queued nonces, ~20 s). A nonce behind a lowest one that is not repriced
    (it pays enough and waits for other reasons) is never bumped: that fee would buy nothing."""

    def __init__(self, fee_oracle: FeeOracle, candidates: Mapping[str, int], replace_after_blocks: int) -> None:
        self.fee_oracle = fee_oracle
        self.candidates = candidates
        self.replace_after_blocks = replace_after_blocks
        self._required: FeeQuote | None = None
        self._repricing: set[str] = set()  # wallets whose lowest nonce this pass replaces

    def required(self) -> FeeQuote:
        """What the chain needs now (read once per pass, and only if some candidate waited long enough)."""
        if self._required is None:
            self._required = self.fee_oracle.required()
        return self._required

    def stuck(self, attempts: list[RelayAttempt], head: int) -> bool:
        latest = attempts[-1]
        lowest = self.candidates.get(latest.wallet)
        if lowest is None or latest.nonce is None or latest.nonce < lowest:
            return False
        if latest.nonce > lowest:  # queued behind the lowest: only along with it, and only if it pays too little
            return (
                latest.wallet in self._repricing
                and latest.status == "sent"
                and underpriced(fees_of(latest), self.required())
            )
        refused = refused_price(attempts, head)
        if refused is None:
            refused = is_stuck(attempts, head, self.replace_after_blocks) and underpriced(
                fees_of(latest), self.required()
            )
        if refused:  # the node itself said the price is too low, or it waited and pays less than the chain needs
            self._repricing.add(latest.wallet)
        return refused


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
        # NOTE: a replacement keeps the gas limit signed before (from eth_estimateGas), not the cost model's bound
        gas = 21_000 if cancel or latest.kind == "cancel" else latest.gas_limit
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
            attempt = self.sender.sign(signer, intent, nonce=intent.nonce, fees=fees, kind="replacement", gas_limit=gas)
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

    def plan(
        self, intents: Iterable[RelayIntent], mined: set[int], nonces: Mapping[str, ChainNonces], after_blocks: int
    ) -> RepricePlan:
        return RepricePlan(self.fee_oracle, lowest_unmined(intents, mined, nonces), after_blocks)
