"""Follows open intents to a final state: receipts of every attempt hash, confirmation depth or the `finalized`
tag, canonical-block checks (reorgs), fee replacement of stuck transactions, rebroadcast of dropped ones, and
nonce reconciliation with fillers for nonces nothing will ever use.

NOTE: the open-source relayers the brief surveyed bump only after minutes, treat one block as final and never
look for reorgs; here a tx is replaced `replace_after_blocks` blocks after its last broadcast, and a receipt only
counts once its block is still canonical at the confirmation depth.
"""

from __future__ import annotations

import ast
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hexbytes import HexBytes
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.exceptions import TransactionNotFound

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.relayer import FILLER_PURPOSE, OPEN_STATES, HotWalletState, RelayAttempt, RelayIntent
from backend.services.relayer import metrics
from backend.services.relayer.chain_reads import ChainReads
from backend.services.relayer.fee_oracle import FeeQuote
from backend.services.relayer.nonce_manager import ChainNonces
from backend.services.relayer.sender import fees_of

if TYPE_CHECKING:
    from backend.services.relayer.relayer import Relayer

log = logging.getLogger("loyalty.relayer")
MAX_FILLERS_PER_PASS = 16
UNDERPRICED_PREFIXES = ("underpriced", "replacement-underpriced")
GAUGE_EVERY_S = 5.0  # in-flight and hot-wallet balance gauges


def _hex(value: Any) -> str:
    return HexBytes(value).to_0x_hex()


def _revert_data_in_message(message: str) -> bytes | str | None:
    """Revert data some nodes only put in the message: eth-tester's `b'...'` repr, or a trailing 0x-hex word."""
    literal = re.search(r"b(['\"]).*\1\s*$", message)
    if literal:
        try:
            value = ast.literal_eval(literal.group(0))
            return value if isinstance(value, bytes) else None
        except (ValueError, SyntaxError):
            return None
    hexdata = re.search(r"0x[0-9a-fA-F]{8,}\s*$", message)
    return hexdata.group(0).strip() if hexdata else None


def _left_process(attempt: RelayAttempt) -> bool:
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


class Tracker:
    def __init__(self, relayer: Relayer) -> None:
        self.r = relayer
        self.eth = relayer.chain.w3.eth
        self.reads = ChainReads(relayer.chain)
        self._gauges_at = 0.0

    def track(self) -> bool:
        r = self.r
        head = r.chain.head()
        finalized = self._finalized() if r.config.use_finalized_tag else None
        with r.uow() as uow:
            s = uow.session
            intents = list(
                s.scalars(
                    select(RelayIntent)
                    .where(RelayIntent.chain_id == r.chain_id, RelayIntent.state.in_(OPEN_STATES))
                    .order_by(RelayIntent.wallet, RelayIntent.nonce)
                )
            )
            seen_by = self._attempts_of(s, [i.id for i in intents])
            known = set(s.scalars(select(HotWalletState.address).where(HotWalletState.chain_id == r.chain_id)))
            s.expunge_all()
        wallets = ({str(i.wallet) for i in intents} | known) & set(r.wallets)
        # NOTE: nonces are read BEFORE receipts: a nonce already used while none of our hashes has a receipt is
        # then surely taken by someone else's transaction, not by ours mined in between.
        nonces = self.reads.nonces(sorted(wallets))
        sent = [a for i in intents for a in seen_by.get(i.id, []) if _left_process(a)]
        receipts = self.reads.receipts([a.tx_hash for a in sent])
        unmined = [i.id for i in intents if self._found(seen_by.get(i.id, []), receipts) is None]
        in_node = self.reads.known([a.tx_hash for i in unmined for a in seen_by.get(i, []) if a.status != "signed"])
        changed = False
        rebroadcast: set[tuple[str, int]] = set()
        for snapshot in intents:
            try:
                view = PassView(seen_by.get(snapshot.id, []), receipts, in_node)
                changed |= self._track_one(snapshot, view, head, finalized, nonces, rebroadcast)
            except Exception:  # one intent's trouble (an RPC fault) must not stall the others
                log.exception("relay track failed for intent id=%s; retrying next pass", snapshot.id)
        for wallet in sorted(wallets):
            try:
                changed |= self._reconcile(wallet, nonces[wallet], head, rebroadcast)
            except Exception:
                log.exception("relay nonce reconciliation failed for wallet %s", wallet)
        self._gauges()
        return changed

    # -- one intent ---------------------------------------------------------------------------------------------

    def _track_one(
        self,
        snapshot: RelayIntent,
        view: PassView,
        head: int,
        finalized: int | None,
        nonces: dict[str, ChainNonces],
        rebroadcast: set[tuple[str, int]],
    ) -> bool:
        r = self.r
        # 1) the snapshot and the node's view were read for the whole pass, without the write lock
        seen = view.attempts
        if snapshot.wallet not in nonces or not seen:
            return False
        found = self._found(seen, view.receipts)
        node_knows = found is not None or view.node_knows()
        if self._idle(snapshot, seen, found, node_knows, head, finalized, nonces[str(snapshot.wallet)]):
            return False  # nothing to decide: no write lock taken
        intent_id = snapshot.id
        # 2) decide under the lock, unless another worker moved this intent in between (then: next pass)
        with r.writing() as uow:
            s = uow.session
            intent = s.scalar(select(RelayIntent).where(RelayIntent.id == intent_id).with_for_update(skip_locked=True))
            if intent is None or intent.state != snapshot.state:
                return False
            attempts = self._attempts(s, intent_id)
            if [(a.id, a.status) for a in attempts] != [(a.id, a.status) for a in seen]:
                return False
            if found is not None:
                mined = next(a for a in attempts if a.id == found[0].id)
                changed = self._on_receipt(s, intent, attempts, mined, found[1], head=head, finalized=finalized)
                uow.commit()
                return changed
            changed = False
            if intent.state == "included":
                self._unwind(intent, "its block left the canonical chain")
                changed = True
            assert intent.nonce is not None
            if intent.nonce < nonces[str(intent.wallet)].latest:
                # the nonce is used and none of our hashes has a receipt: someone else's tx, or a reorg under way
                requeue = self._used_by_stranger(intent, attempts, head)
                if requeue:
                    self._requeue(intent, attempts)
                uow.commit()
                return changed or requeue
            latest = attempts[-1]
            new: RelayAttempt | None = None
            if intent.cancel_requested and not any(a.kind == "cancel" for a in attempts):
                new = self._replacement(s, intent, latest, cancel=True)
            elif not changed and self._stuck(attempts, head):  # just reorged out: resend first, replace later
                new = self._replacement(s, intent, latest)
            if new is not None:
                s.add(new)
                intent.tx_hash = new.tx_hash
                uow.commit()
                r.broadcast_attempt(new.id, head)
                return True
            resend = None if node_knows else self._resend_candidate(intent, attempts)
            uow.commit()
        if resend is not None:
            rebroadcast.add((str(intent.wallet), int(intent.nonce)))
            metrics.REBROADCASTS.labels(r.label).inc()
            r.broadcast_attempt(resend, head, restart_clock=True)
        # NOTE: a rebroadcast or a wait is not progress: returning True would make the runner spin at once
        return changed

    @staticmethod
    def _found(
        attempts: list[RelayAttempt], receipts: dict[str, dict[str, Any]]
    ) -> tuple[RelayAttempt, dict[str, Any]] | None:
        """The prefetched receipt of whichever attempt mined (see `_receipt`)."""
        for attempt in reversed(attempts):
            if _left_process(attempt) and attempt.tx_hash in receipts:
                return attempt, receipts[attempt.tx_hash]
        return None

    def _deep(self, number: int, head: int, finalized: int | None) -> bool:
        """Whether a block is deep enough to count as confirmed.

        NOTE: `head` is read at the start of a pass; a receipt in a newer block proves the node is at least there,
        so a depth of 1 confirms in the same pass instead of the next one."""
        if finalized is not None:  # LOYALTY_USE_FINALIZED_TAG: the node's finality (Polygon milestones)
            return number <= finalized
        return max(head, number) - number + 1 >= self.r.config.confirmations

    def _idle(
        self,
        snapshot: RelayIntent,
        seen: list[RelayAttempt],
        found: tuple[RelayAttempt, dict[str, Any]] | None,
        node_knows: bool,
        head: int,
        finalized: int | None,
        chain: ChainNonces,
    ) -> bool:
        """True when this pass has nothing to decide for the intent: in the pool and not stuck, or in a block that
        is neither new nor deep yet. Anything else is decided under the write lock."""
        if found is None:
            return (
                snapshot.state == "submitted"
                and node_knows
                and not snapshot.cancel_requested
                and snapshot.nonce is not None
                and snapshot.nonce >= chain.latest
                and not self._stuck(seen, head)
            )
        attempt, receipt = found
        return (
            snapshot.state == "included"
            and snapshot.tx_hash == attempt.tx_hash
            and snapshot.block_hash == receipt["blockHash"]
            and not self._deep(int(receipt["blockNumber"]), head, finalized)
        )

    def _receipt(self, attempts: list[RelayAttempt]) -> tuple[RelayAttempt, Any] | None:
        """The receipt of whichever attempt mined (at most one can: they share a nonce).

        NOTE: attempts a node refused are looked up too: bor has answered "replacement transaction underpriced"
        to a first send that then mined anyway (0xPolygon/bor#324), and a retried send answers "nonce too low".
        """
        for attempt in reversed(attempts):
            if attempt.status == "signed" and attempt.broadcasts == 0:
                continue  # never left this process
            try:
                receipt = self.eth.get_transaction_receipt(attempt.tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                continue
            if receipt is not None and receipt.get("blockNumber") is not None:
                return attempt, receipt
        return None

    def _on_receipt(
        self,
        s: Session,
        intent: RelayIntent,
        attempts: list[RelayAttempt],
        attempt: RelayAttempt,
        receipt: Any,
        *,
        head: int,
        finalized: int | None,
    ) -> bool:
        r = self.r
        number, block_hash = int(receipt["blockNumber"]), _hex(receipt["blockHash"])
        changed = False
        if intent.state != "included" or intent.block_hash != block_hash or intent.tx_hash != attempt.tx_hash:
            price = int(receipt.get("effectiveGasPrice") or attempt.max_fee_per_gas)
            intent.state, intent.tx_hash = "included", attempt.tx_hash
            intent.block_number, intent.block_hash = number, block_hash
            intent.gas_used, intent.effective_gas_price = int(receipt["gasUsed"]), price
            intent.fee_paid_wei, intent.included_at = int(receipt["gasUsed"]) * price, utcnow()
            intent.waiting_reason = None
            sent = [a.sent_at_block for a in attempts if a.sent_at_block is not None]
            if sent:
                metrics.BLOCKS_TO_INCLUSION.labels(r.label).observe(max(0, number - min(sent)))
            log.info(
                "relay included intent=%s:%s nonce=%s tx=%s block=%s status=%s",
                intent.purpose,
                intent.ref,
                intent.nonce,
                attempt.tx_hash,
                number,
                receipt["status"],
            )
            changed = True
        if not self._deep(number, head, finalized):
            return changed
        canonical = self.eth.get_block(number)
        if _hex(canonical["hash"]) != block_hash:
            self._unwind(intent, f"block {number} is no longer canonical")
            return True
        if attempt.kind == "cancel":
            intent.state, intent.error = "failed", "cancelled"
        elif int(receipt["status"]) == 1:
            intent.state, intent.error = "confirmed", None
            metrics.CONFIRMED.labels(r.label, intent.purpose).inc()
        else:
            intent.state, intent.error = "failed", self._revert_reason(intent, attempt, receipt)[:500]
            metrics.REVERTS.labels(r.label).inc()
        intent.confirmed_at = utcnow()
        metrics.FEE_PAID.labels(r.label).inc(intent.fee_paid_wei or 0)
        log.info(
            "relay %s intent=%s:%s nonce=%s tx=%s block=%s%s",
            intent.state,
            intent.purpose,
            intent.ref,
            intent.nonce,
            intent.tx_hash,
            number,
            f" error={intent.error}" if intent.error else "",
        )
        return True

    def _revert_reason(self, intent: RelayIntent, attempt: RelayAttempt, receipt: Any) -> str:
        """Re-run the call with eth_call at the block (state before it, then after it) to get the custom error."""
        cancel = attempt.kind == "cancel"
        call: dict[str, Any] = {
            "from": attempt.wallet,
            "to": attempt.wallet if cancel else intent.to_address,
            "data": "0x" if cancel else intent.data,
            "value": 0 if cancel else intent.value_wei,
            "gas": attempt.gas_limit,
        }
        number = int(receipt["blockNumber"])
        for block in (number - 1, number):
            try:
                self.eth.call(call, block_identifier=block)  # type: ignore[arg-type]
            except Exception as exc:
                data = getattr(exc, "data", None)
                if isinstance(data, dict):
                    data = data.get("data")
                data = data or _revert_data_in_message(str(exc))
                if isinstance(data, str | bytes) and data:
                    return self.r.decoder.decode(data)
                return f"reverted: {str(exc)[:300]}"
        if int(receipt["gasUsed"]) >= attempt.gas_limit:
            return f"out of gas (gas limit {attempt.gas_limit})"
        return f"reverted in block {number} (eth_call does not reproduce it)"

    def _unwind(self, intent: RelayIntent, why: str) -> None:
        log.warning("relay reorg intent=%s:%s tx=%s: %s", intent.purpose, intent.ref, intent.tx_hash, why)
        metrics.REORGS.labels(self.r.label).inc()
        intent.state = "submitted"
        intent.block_number = intent.block_hash = intent.gas_used = None
        intent.effective_gas_price = intent.fee_paid_wei = None
        intent.included_at = None

    def _used_by_stranger(self, intent: RelayIntent, attempts: list[RelayAttempt], head: int) -> bool:
        """Only re-sign once the foreign use of our nonce is buried under the confirmation depth and our hashes
        still have no receipt: re-signing while our own tx may come back (a reorg) would send it twice."""
        depth_block = head - max(self.r.config.confirmations, 1)
        if depth_block < 0:
            return False
        used = int(self.eth.get_transaction_count(intent.wallet, depth_block))  # type: ignore[arg-type]
        return used > int(intent.nonce or 0) and self._receipt(attempts) is None

    def _requeue(self, intent: RelayIntent, attempts: list[RelayAttempt]) -> None:
        """Our nonce went to someone else's transaction: our signed bytes can never mine; sign again."""
        for attempt in attempts:
            attempt.status = "dead"
        reason = f"nonce {intent.nonce} of {intent.wallet} was used by another transaction"
        log.warning("relay nonce lost intent=%s:%s: %s", intent.purpose, intent.ref, reason)
        if intent.purpose == FILLER_PURPOSE or intent.cancel_requested:
            intent.state, intent.error = "failed", "cancelled" if intent.cancel_requested else reason
        else:
            intent.state, intent.waiting_reason = "queued", f"{reason}; signing again"
            intent.wallet = intent.tx_hash = None
        intent.nonce = None

    def _stuck(self, attempts: list[RelayAttempt], head: int) -> bool:
        latest = attempts[-1]
        if latest.status == "rejected" and (latest.error or "").startswith(UNDERPRICED_PREFIXES):
            # the node refused the price: re-quote and replace now; if the replacement is refused too, once per
            # block, so fees cannot escalate by 12.5 % on every pass of a busy tracker
            refused_before = any(a.status == "rejected" for a in attempts[:-1])
            return not refused_before or latest.sent_at_block is None or head > latest.sent_at_block
        if latest.status != "sent" or latest.sent_at_block is None:
            return False  # never sent (resend it) or refused for another reason (e.g. funds: more fees won't help)
        return head - latest.sent_at_block >= self.r.config.replace_after_blocks

    def _replacement(
        self, s: Session, intent: RelayIntent, latest: RelayAttempt, cancel: bool = False
    ) -> RelayAttempt | None:
        """Same nonce, each fee max(old × 1.125 rounded up, fresh quote) — Polygon wants both ≥ 110 % — within caps."""
        r = self.r
        fees = fees_of(latest).replacement(r.fee_oracle.quote())
        gas = 21_000 if cancel or latest.kind == "cancel" else intent.gas_limit
        if intent.purpose != FILLER_PURPOSE:
            reason = r.cap_reason(s, fees, gas, exclude_intent=intent.id)
            if reason is not None:
                if intent.waiting_reason != f"replacement {reason}":
                    log.info("relay replacement held intent=%s:%s: %s", intent.purpose, intent.ref, reason)
                    intent.waiting_reason = f"replacement {reason}"
                return None
        signer = r.wallets[str(intent.wallet)]
        assert intent.nonce is not None
        if cancel or latest.kind == "cancel":
            attempt = r.sender.sign(
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
            attempt = r.sender.sign(signer, intent, nonce=intent.nonce, fees=fees, kind="replacement")
        intent.waiting_reason = None
        metrics.REPLACEMENTS.labels(r.label).inc()
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

    def _attempts_of(self, s: Session, intent_ids: list[int]) -> dict[int, list[RelayAttempt]]:
        by_intent: dict[int, list[RelayAttempt]] = {i: [] for i in intent_ids}
        for start in range(0, len(intent_ids), 1000):
            query = select(RelayAttempt).where(
                RelayAttempt.intent_id.in_(intent_ids[start : start + 1000]), RelayAttempt.status != "dead"
            )
            for attempt in s.scalars(query.order_by(RelayAttempt.id)):
                by_intent[attempt.intent_id].append(attempt)
        return by_intent

    def _attempts(self, s: Session, intent_id: int) -> list[RelayAttempt]:
        query = select(RelayAttempt).where(RelayAttempt.intent_id == intent_id, RelayAttempt.status != "dead")
        return list(s.scalars(query.order_by(RelayAttempt.id)))

    def _node_knows(self, attempts: list[RelayAttempt]) -> bool:
        """Whether the node has any of our signed transactions (in its pool or mined)."""
        if attempts[-1].status == "signed":
            return False  # never sent: send it
        for attempt in reversed(attempts):
            try:
                if self.eth.get_transaction(attempt.tx_hash) is not None:  # type: ignore[arg-type]
                    return True
            except TransactionNotFound:
                continue
        return False

    def _resend_candidate(self, intent: RelayIntent, attempts: list[RelayAttempt]) -> int | None:
        """A dropped transaction (the node knows none of our hashes, the nonce is free): the same bytes again."""
        latest = attempts[-1]
        if latest.status == "signed":
            return latest.id
        preferred = [a for a in attempts if a.tx_hash == intent.tx_hash and a.status == "sent"]
        sendable = preferred or [a for a in attempts if a.status == "sent"] or [latest]
        return sendable[-1].id

    # -- per wallet ---------------------------------------------------------------------------------------------

    def _reconcile(self, wallet: str, chain: ChainNonces, head: int, rebroadcast: set[tuple[str, int]]) -> bool:
        r = self.r
        new_ids: list[int] = []
        resend: int | None = None
        with r.writing() as uow:
            s = uow.session
            drift = r.nonces.reconcile(s, wallet, chain)
            if drift.skipped_to is not None:
                log.warning("relay nonce drift wallet=%s: chain ahead, next nonce now %s", wallet, drift.skipped_to)
            quote: FeeQuote | None = None
            for nonce in drift.unfilled[:MAX_FILLERS_PER_PASS]:
                quote = quote or r.fee_oracle.quote()
                new_ids.append(self._filler(s, wallet, nonce, quote))
            if drift.node_missing is not None and (wallet, drift.node_missing) not in rebroadcast:
                owner = s.scalar(
                    select(RelayIntent).where(
                        RelayIntent.chain_id == r.chain_id,
                        RelayIntent.wallet == wallet,
                        RelayIntent.nonce == drift.node_missing,
                        RelayIntent.state == "submitted",
                    )
                )
                if owner is not None:
                    attempts = list(
                        s.scalars(
                            select(RelayAttempt)
                            .where(RelayAttempt.intent_id == owner.id, RelayAttempt.status != "dead")
                            .order_by(RelayAttempt.id)
                        )
                    )
                    if attempts and not self._node_knows(attempts):
                        resend = self._resend_candidate(owner, attempts)
            uow.commit()
        for attempt_id in new_ids:
            r.broadcast_attempt(attempt_id, head)
        if resend is not None:
            metrics.REBROADCASTS.labels(r.label).inc()
            r.broadcast_attempt(resend, head, restart_clock=True)
        return bool(new_ids) or drift.skipped_to is not None

    def _filler(self, s: Session, wallet: str, nonce: int, quote: FeeQuote) -> int:
        """A 0-value self-transfer on a nonce no intent holds, so the wallet's later nonces can mine."""
        r = self.r
        signer = r.wallets[wallet]
        intent = RelayIntent(
            purpose=FILLER_PURPOSE,
            ref=f"{r.chain_id}:{wallet}:{nonce}:{utcnow().timestamp():.6f}",
            chain_id=r.chain_id,
            to_address=wallet,
            data="0x",
            value_wei=0,
            gas_limit=21_000,
            state="submitted",
            wallet=wallet,
            nonce=nonce,
            settled=True,  # nobody consumes fillers
            submitted_at=utcnow(),
        )
        s.add(intent)
        s.flush()
        attempt = r.sender.sign(signer, intent, nonce=nonce, fees=quote, kind="filler")
        s.add(attempt)
        intent.tx_hash = attempt.tx_hash
        s.flush()
        metrics.FILLERS.labels(r.label).inc()
        log.warning("relay filler wallet=%s nonce=%s tx=%s (nonce held by no intent)", wallet, nonce, attempt.tx_hash)
        return attempt.id

    def _finalized(self) -> int | None:
        try:
            return int(self.eth.get_block("finalized")["number"])
        except Exception:  # node without the tag: fall back to the confirmation depth
            return None

    def _gauges(self) -> None:
        r = self.r
        if time.monotonic() - self._gauges_at < GAUGE_EVERY_S:
            return  # NOTE: one balance read per wallet per pass cost more than the rest of an idle pass
        self._gauges_at = time.monotonic()
        with r.uow() as uow:
            counts = r.in_flight(uow.session)
        for wallet in r.wallets:
            metrics.IN_FLIGHT.labels(r.label, wallet).set(counts.get(wallet, 0))
            try:  # an empty hot wallet jams its nonces: alert on this gauge
                metrics.BALANCE.labels(r.label, wallet).set(int(self.eth.get_balance(wallet)))  # type: ignore[arg-type]
            except Exception as exc:
                log.debug("balance of %s unavailable: %s", wallet, exc)
