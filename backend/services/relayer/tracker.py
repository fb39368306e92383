"""Follows open intents to a final state: receipts of every attempt hash, confirmation depth or the `finalized`
tag, canonical-block checks (reorgs), fee replacement of stuck transactions (`replacement`), rebroadcast of
dropped ones, and nonce reconciliation with fillers for nonces nothing will ever use (`nonce_manager`).

NOTE: the open-source relayers the brief surveyed bump only after minutes, treat one block as final and never
look for reorgs; here a wallet's lowest unmined tx (with the underpriced ones queued behind it) is replaced
`replace_after_blocks` blocks after its last broadcast if it pays less than the next block needs
(`replacement.RepricePlan`), and a receipt only counts once its block is still canonical at the confirmation depth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.exceptions import TransactionNotFound

from backend.adapters.chain.client import ChainClient
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.relayer import FILLER_PURPOSE, OPEN_STATES, HotWalletState, RelayAttempt, RelayIntent
from backend.services.relayer import metrics
from backend.services.relayer.attempts import PassView, attempts_of, left_process, live_attempts, resend_candidate
from backend.services.relayer.broadcaster import Broadcaster
from backend.services.relayer.chain_reads import ChainReads
from backend.services.relayer.config import RelayerConfig
from backend.services.relayer.nonce_manager import ChainNonces, NonceReconciler
from backend.services.relayer.reorg_watch import ReorgWatch
from backend.services.relayer.replacement import Replacer, RepricePlan
from backend.services.relayer.revert_decoder import RevertDecoder, revert_data_in_message
from backend.services.relayer.store import RelayStore

log = logging.getLogger("loyalty.relayer")
GAUGE_EVERY_S = 5.0  # in-flight and hot-wallet balance gauges


def _hex(value: Any) -> str:
    return HexBytes(value).to_0x_hex()


class Tracker:
    """One chain's tracking passes, given the relayer's parts it needs (no `Relayer`: it builds the tracker)."""

    def __init__(
        self,
        *,
        store: RelayStore,
        chain: ChainClient,
        config: RelayerConfig,
        wallets: Iterable[str],
        broadcaster: Broadcaster,
        replacer: Replacer,
        reconciler: NonceReconciler,
        decoder: RevertDecoder,
        label: str,
    ) -> None:
        self.store = store
        self.chain = chain
        self.chain_id = chain.chain_id
        self.config = config
        self.wallets = list(wallets)
        self.broadcaster = broadcaster
        self.replacer = replacer
        self.reconciler = reconciler
        self.decoder = decoder
        self.label = label
        self.eth = chain.w3.eth
        self.reads = ChainReads(chain)
        self.reorg_watch = ReorgWatch(store=store, chain=chain, config=config, label=label)
        self._gauges_at = 0.0
        self._reprice: RepricePlan | None = None  # built once per pass

    def track(self) -> bool:
        head = self.chain.head()
        finalized = self._finalized() if self.config.use_finalized_tag else None
        reopened = self._look_back(head)  # first: a re-opened intent is tracked (sent again) in this same pass
        with self.store.uow() as uow:
            s = uow.session
            intents = list(
                s.scalars(
                    select(RelayIntent)
                    .where(RelayIntent.chain_id == self.chain_id, RelayIntent.state.in_(OPEN_STATES))
                    .order_by(RelayIntent.wallet, RelayIntent.nonce)
                )
            )
            seen_by = attempts_of(s, [i.id for i in intents])
            known = set(s.scalars(select(HotWalletState.address).where(HotWalletState.chain_id == self.chain_id)))
            s.expunge_all()
        wallets = ({str(i.wallet) for i in intents} | known) & set(self.wallets)
        # NOTE: nonces are read BEFORE receipts: a nonce already used while none of our hashes has a receipt is
        # then surely taken by someone else's transaction, not by ours mined in between.
        nonces = self.reads.nonces(sorted(wallets))
        sent = [a for i in intents for a in seen_by.get(i.id, []) if left_process(a)]
        receipts = self.reads.receipts([a.tx_hash for a in sent])
        unmined = [i.id for i in intents if self._found(seen_by.get(i.id, []), receipts) is None]
        mined = {i.id for i in intents} - set(unmined)
        self._reprice = self.replacer.plan(intents, mined, nonces, self.config.replace_after_blocks)
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
                changed |= self.reconciler.reconcile(wallet, nonces[wallet], head, rebroadcast)
            except Exception:
                log.exception("relay nonce reconciliation failed for wallet %s", wallet)
        self._gauges()
        return changed or reopened

    def _look_back(self, head: int) -> bool:
        try:
            return self.reorg_watch.check(head) > 0
        except Exception:  # the look-back must not stall tracking; it runs again on a later pass
            log.exception("relay reorg watch failed; retrying on a later pass")
            return False

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
        with self.store.writing() as uow:
            s = uow.session
            intent = s.scalar(select(RelayIntent).where(RelayIntent.id == intent_id).with_for_update(skip_locked=True))
            if intent is None or intent.state != snapshot.state:
                return False
            attempts = live_attempts(s, intent_id)
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
                new = self.replacer.replacement(s, intent, latest, cancel=True)
            elif not changed and self._stuck(attempts, head):  # just reorged out: resend first, replace later
                new = self.replacer.replacement(s, intent, latest)
            if new is not None:
                s.add(new)
                intent.tx_hash = new.tx_hash
                uow.commit()
                self.broadcaster.broadcast_attempt(new.id, head)
                return True
            resend = None if node_knows else resend_candidate(intent, attempts)
            uow.commit()
        if resend is not None:
            rebroadcast.add((str(intent.wallet), int(intent.nonce)))
            metrics.REBROADCASTS.labels(self.label).inc()
            self.broadcaster.broadcast_attempt(resend, head, restart_clock=True)
        # NOTE: a rebroadcast or a wait is not progress: returning True would make the runner spin at once
        return changed

    @staticmethod
    def _found(
        attempts: list[RelayAttempt], receipts: dict[str, dict[str, Any]]
    ) -> tuple[RelayAttempt, dict[str, Any]] | None:
        """The prefetched receipt of whichever attempt mined (see `_receipt`)."""
        for attempt in reversed(attempts):
            if left_process(attempt) and attempt.tx_hash in receipts:
                return attempt, receipts[attempt.tx_hash]
        return None

    def _deep(self, number: int, head: int, finalized: int | None) -> bool:
        """Whether a block is deep enough to count as confirmed.

        NOTE: `head` is read at the start of a pass; a receipt in a newer block proves the node is at least there,
        so a depth of 1 confirms in the same pass instead of the next one."""
        if finalized is not None:  # LOYALTY_USE_FINALIZED_TAG: the node's finality (Polygon milestones)
            return number <= finalized
        # LOYALTY_CONFIRMATIONS counts the blocks mined on top of the receipt's block (not the block itself)
        return max(head, number) - number >= self.config.confirmations

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
                metrics.BLOCKS_TO_INCLUSION.labels(self.label).observe(max(0, number - min(sent)))
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
        if attempt.kind == "cancel":  # the error says why it was cancelled, if the relayer did (send errors)
            intent.state, intent.error = "failed", intent.error or "cancelled"
        elif int(receipt["status"]) == 1:
            intent.state, intent.error = "confirmed", None
            metrics.CONFIRMED.labels(self.label, intent.purpose).inc()
        else:
            intent.state, intent.error = "failed", self._revert_reason(intent, attempt, receipt)[:500]
            metrics.REVERTS.labels(self.label).inc()
        intent.confirmed_at = utcnow()
        metrics.FEE_PAID.labels(self.label).inc(intent.fee_paid_wei or 0)
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
                data = data or revert_data_in_message(str(exc))
                if isinstance(data, str | bytes) and data:
                    return self.decoder.decode(data)
                return f"reverted: {str(exc)[:300]}"
        if int(receipt["gasUsed"]) >= attempt.gas_limit:
            return f"out of gas (gas limit {attempt.gas_limit})"
        return f"reverted in block {number} (eth_call does not reproduce it)"

    def _unwind(self, intent: RelayIntent, why: str) -> None:
        log.warning("relay reorg intent=%s:%s tx=%s: %s", intent.purpose, intent.ref, intent.tx_hash, why)
        metrics.REORGS.labels(self.label).inc()
        intent.state = "submitted"
        intent.block_number = intent.block_hash = intent.gas_used = None
        intent.effective_gas_price = intent.fee_paid_wei = None
        intent.included_at = None

    def _used_by_stranger(self, intent: RelayIntent, attempts: list[RelayAttempt], head: int) -> bool:
        """Only re-sign once the foreign use of our nonce is buried under the confirmation depth and our hashes
        still have no receipt: re-signing while our own tx may come back (a reorg) would send it twice."""
        depth_block = head - max(self.config.confirmations, 1)
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
        return self._reprice is not None and self._reprice.stuck(attempts, head)

    def _finalized(self) -> int | None:
        try:
            return int(self.eth.get_block("finalized")["number"])
        except Exception:  # node without the tag: fall back to the confirmation depth
            return None

    def _gauges(self) -> None:
        if time.monotonic() - self._gauges_at < GAUGE_EVERY_S:
            return  # NOTE: one balance read per wallet per pass cost more than the rest of an idle pass
        self._gauges_at = time.monotonic()
        with self.store.uow() as uow:
            counts = self.store.in_flight(uow.session)
        for wallet in self.wallets:
            metrics.IN_FLIGHT.labels(self.label, wallet).set(counts.get(wallet, 0))
            try:  # an empty hot wallet jams its nonces: alert on this gauge
                metrics.BALANCE.labels(self.label, wallet).set(int(self.eth.get_balance(wallet)))  # type: ignore[arg-type]
            except Exception as exc:
                log.debug("balance of %s unavailable: %s", wallet, exc)
