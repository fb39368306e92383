"""`Relayer`: the transaction service behind batch mints and gasless redemptions.

Callers `enqueue` intents inside their own database transaction; `dispatch()` signs queued intents (nonce +
fees), commits the raw transaction, then broadcasts it; `track()` follows every open intent to `confirmed` or
`failed`, replacing stuck transactions, rebroadcasting dropped ones and undoing inclusions that a reorg removed.
"""

from __future__ import annotations

import logging
import time

from eth_utils import is_address, to_checksum_address
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.keys import Signer
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.relayer import OPEN_STATES, RelayAttempt, RelayIntent
from backend.services.relayer import metrics
from backend.services.relayer.broadcaster import Broadcaster
from backend.services.relayer.config import RelayerConfig
from backend.services.relayer.errors import IntentConflict, InvalidIntent, NotCancellable
from backend.services.relayer.fee_oracle import FeeOracle, FeeQuote
from backend.services.relayer.nonce_manager import NonceManager, NonceReconciler
from backend.services.relayer.replacement import Replacer
from backend.services.relayer.revert_decoder import RevertDecoder
from backend.services.relayer.sender import Sender
from backend.services.relayer.store import RelayStore
from backend.services.relayer.tracker import Tracker

log = logging.getLogger("loyalty.relayer")
INTRINSIC_GAS = 21_000
LOCK_RETRIES = 3  # tries to lock a hot wallet another dispatcher is signing with
LOCK_RETRY_S = 0.02
SIGN_BATCH = 16  # queued intents signed per database transaction (and broadcasts recorded per transaction)
# NOTE: a shopper's gasless redemption carries a signing deadline (minutes) and a shopper waiting at the counter;
# a mint batch has neither. Under a backlog of batches, redemptions are signed first, then everything by age.
URGENT_PURPOSES = ("redeem",)
SIGN_ORDER = (case((RelayIntent.purpose.in_(URGENT_PURPOSES), 0), else_=1), RelayIntent.id)


def _hex(data: bytes | str) -> str:
    if isinstance(data, bytes | bytearray):
        return "0x" + bytes(data).hex()
    text = data if data.startswith("0x") else "0x" + data
    bytes.fromhex(text[2:])  # validates
    return text.lower()


class Relayer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        chain: ChainClient,
        wallets: list[Signer],
        config: RelayerConfig,
        fee_oracle: FeeOracle,
        decoder: RevertDecoder | None = None,
    ) -> None:
        if not wallets:
            raise InvalidIntent("the relayer needs at least one hot wallet")
        self.sessions = sessions
        self.chain = chain
        self.chain_id = chain.chain_id
        self.wallets = {w.address: w for w in wallets}
        self.config = config
        self.fee_oracle = fee_oracle
        self.decoder = decoder or RevertDecoder.for_platform()
        self.label = str(self.chain_id)
        self.store = RelayStore(sessions, self.chain_id, config)
        self.nonces = NonceManager(chain, self.chain_id)
        self.sender = Sender(
            chain,
            self.chain_id,
            headroom=config.gas_estimate_headroom,
            decoder=self.decoder,
            tx_gas_cap=config.tx_gas_cap,
        )
        self.broadcaster = Broadcaster(self.store, self.sender)
        self.tracker = Tracker(
            store=self.store,
            chain=chain,
            config=config,
            wallets=self.wallets,
            broadcaster=self.broadcaster,
            replacer=Replacer(self.store, self.sender, fee_oracle, self.wallets, self.label),
            reconciler=NonceReconciler(
                self.store, self.nonces, self.sender, fee_oracle, self.broadcaster, self.wallets, self.label
            ),
            decoder=self.decoder,
            label=self.label,
        )

    # -- consumer API -------------------------------------------------------------------------------------------

    def enqueue(
        self, session: Session, *, purpose: str, ref: str, to: str, data: bytes | str, gas_limit: int, value: int = 0
    ) -> RelayIntent:
        """Queue a transaction inside the caller's transaction; idempotent on (purpose, ref)."""
        if not is_address(to) or int(to, 16) == 0:
            raise InvalidIntent(f"invalid target address {to!r}")
        if not INTRINSIC_GAS <= gas_limit <= self.config.tx_gas_cap:
            raise InvalidIntent(f"gas limit {gas_limit} outside [{INTRINSIC_GAS}, {self.config.tx_gas_cap}]")
        payload = {"to_address": to_checksum_address(to), "data": _hex(data), "gas_limit": gas_limit}
        existing = self.intent(session, purpose, ref)
        if existing is None:
            intent = RelayIntent(
                purpose=purpose, ref=ref, chain_id=self.chain_id, value_wei=value, state="queued", **payload
            )
            if session.get_bind().dialect.name == "sqlite":
                # NOTE: a pysqlite SAVEPOINT outside a transaction would commit on release; SQLite serializes
                # writers, so the flush below either wins or fails the caller's transaction as a whole.
                session.add(intent)
                session.flush()
                return intent
            try:
                with session.begin_nested():
                    session.add(intent)
                return intent
            except IntegrityError:  # a concurrent enqueue of the same (purpose, ref) won
                existing = self.intent(session, purpose, ref)
                assert existing is not None
        # NOTE: the call decides identity; a re-enqueue with another gas estimate keeps the first one
        if (existing.to_address, existing.data, int(existing.value_wei)) != (
            payload["to_address"],
            payload["data"],
            value,
        ):
            raise IntentConflict(f"intent {purpose}:{ref} exists with a different transaction")
        return existing

    def intent(self, session: Session, purpose: str, ref: str) -> RelayIntent | None:
        return session.scalar(select(RelayIntent).where(RelayIntent.purpose == purpose, RelayIntent.ref == ref))

    def cancel(self, session: Session, purpose: str, ref: str) -> RelayIntent:
        """Queued: failed at once. Signed: a 0-value self-transfer races it on its nonce (whichever mines wins)."""
        intent = self.intent(session, purpose, ref)
        if intent is None or intent.state in ("confirmed", "failed"):
            raise NotCancellable(f"intent {purpose}:{ref} is {intent.state if intent else 'unknown'}")
        if intent.state == "queued":
            intent.state, intent.error, intent.waiting_reason = "failed", "cancelled", None
        else:
            intent.cancel_requested = True
        return intent

    def dispatch(self) -> bool:
        """Broadcast signed-but-unsent transactions (crash recovery), then sign and send queued intents."""
        head = self.chain.head()
        sent = self.broadcast_signed(head)
        return self.sign_queued(head=head) + sent > 0

    def track(self) -> bool:
        return self.tracker.track()

    # -- dispatch steps -----------------------------------------------------------------------------------------

    def sign_queued(self, *, broadcast: bool = True, head: int | None = None) -> int:
        """Sign queued intents and commit them; `broadcast=False` stops there (what a crash would leave).

        NOTE: up to SIGN_BATCH intents are signed in one database transaction and their broadcasts recorded in
        one more: two commits per round instead of two per intent, which kept a backlog of batches waiting for
        signatures when commits were slow (a busy disk). The raw transactions are still committed before any send.
        """
        skipped: set[int] = set()
        quote: FeeQuote | None = None
        signed = 0
        full = False
        while not full:
            with self.store.writing() as uow:
                s = uow.session
                query = select(RelayIntent).where(RelayIntent.chain_id == self.chain_id, RelayIntent.state == "queued")
                if skipped:
                    query = query.where(RelayIntent.id.not_in(skipped))
                intents = list(
                    s.scalars(query.order_by(*SIGN_ORDER).limit(SIGN_BATCH).with_for_update(skip_locked=True))
                )
                if not intents:
                    break
                quote = quote or self.fee_oracle.quote()
                new: list[tuple[RelayIntent, RelayAttempt]] = []
                for intent in intents:
                    if quote.block_gas_limit is not None and intent.gas_limit > quote.block_gas_limit:
                        intent.state = "failed"
                        intent.error = f"gas limit {intent.gas_limit} above the block gas limit {quote.block_gas_limit}"
                        continue
                    reason = self.store.cap_reason(s, quote, intent.gas_limit)
                    if reason is not None:
                        if intent.waiting_reason != reason:
                            log.info("relay wait intent=%s:%s reason=%s", intent.purpose, intent.ref, reason)
                            intent.waiting_reason = reason
                        skipped.add(intent.id)
                        continue
                    signer = self._pick_wallet(s, urgent=intent.purpose in URGENT_PURPOSES)
                    if signer is None:  # every lane is full (for a redemption: even the reserved ones)
                        if intent.purpose not in URGENT_PURPOSES:  # the rest of the queue waits with one reason
                            self._all_wallets_busy(s, skipped)
                        full = True
                        break
                    limit = self.sender.gas_limit(signer, intent)  # eth_estimateGas × LOYALTY_GAS_ESTIMATE_HEADROOM
                    if isinstance(limit, str):  # the call reverts: failed without spending gas or a nonce
                        intent.state, intent.error, intent.waiting_reason = "failed", limit[:500], None
                        continue
                    nonce = self.nonces.take(s, signer.address)
                    attempt = self.sender.sign(
                        signer, intent, nonce=nonce, fees=quote, kind="original", gas_limit=limit
                    )
                    s.add(attempt)
                    intent.state, intent.wallet, intent.nonce = "submitted", signer.address, nonce
                    intent.tx_hash, intent.error = attempt.tx_hash, None
                    intent.waiting_reason, intent.submitted_at = None, utcnow()
                    s.flush()  # the in-flight count of the next intent sees this one
                    new.append((intent, attempt))
                uow.commit()
            for intent, attempt in new:
                log.info(
                    "relay signed intent=%s:%s wallet=%s nonce=%s tx=%s %s",
                    intent.purpose,
                    intent.ref,
                    attempt.wallet,
                    attempt.nonce,
                    attempt.tx_hash,
                    quote.describe(),
                )
                metrics.SUBMITTED.labels(self.label, intent.purpose).inc()
            signed += len(new)
            if broadcast and new:  # NOTE: the head now, not at the pass start: it starts the replacement count
                self.broadcaster.broadcast_attempts([attempt.id for _, attempt in new], self.chain.head())
        with self.store.uow() as uow:
            waiting = uow.session.scalar(
                select(func.count())
                .select_from(RelayIntent)
                .where(RelayIntent.chain_id == self.chain_id, RelayIntent.state == "queued")
                .where(RelayIntent.waiting_reason.is_not(None))
            )
        metrics.WAITING.labels(self.label).set(waiting or 0)
        return signed

    def _all_wallets_busy(self, s: Session, skipped: set[int]) -> None:
        reason = (
            f"waiting for a sending lane: all {len(self.wallets)} hot wallets have "
            f"{self.config.max_in_flight_per_wallet - self.config.redemption_reserved_lanes} transactions "
            f"waiting to be mined (or {self.config.max_unfinal_per_wallet} not final yet)"
        )
        rest = (
            update(RelayIntent)
            .where(RelayIntent.chain_id == self.chain_id, RelayIntent.state == "queued")
            .where(RelayIntent.purpose.not_in(URGENT_PURPOSES))
            .where(RelayIntent.waiting_reason.is_distinct_from(reason))
        )
        if skipped:
            rest = rest.where(RelayIntent.id.not_in(skipped))
        s.execute(rest.values(waiting_reason=reason, updated_at=utcnow()))

    def broadcast_signed(self, head: int) -> int:
        """Send every committed attempt that never reached a node (a crash between commit and send)."""
        with self.store.uow() as uow:
            ids = list(
                uow.session.scalars(
                    select(RelayAttempt.id)
                    .join(RelayIntent, RelayIntent.id == RelayAttempt.intent_id)
                    .where(
                        RelayIntent.chain_id == self.chain_id,
                        RelayIntent.state.in_(OPEN_STATES),
                        RelayAttempt.status == "signed",
                    )
                    .order_by(RelayAttempt.nonce, RelayAttempt.id)
                )
            )
        self.broadcaster.broadcast_attempts(ids, head)
        return len(ids)

    # -- wallets ---------------------------------------------------------------------------------------------------

    def _lane_room(self, unmined: int, unfinal: int, urgent: bool) -> int:
        """Free sending lanes of one wallet for an urgent (redemption) or a mint transaction."""
        reserved = 0 if urgent else self.config.redemption_reserved_lanes
        return max(
            0,
            min(
                self.config.max_in_flight_per_wallet - reserved - unmined, self.config.max_unfinal_per_wallet - unfinal
            ),
        )

    def free_lanes(self, s: Session) -> int:
        """Sending lanes a new mint could take now: free lanes of every hot wallet minus the queued intents that
        will take them first. Batch building waits while this is 0 (backpressure), so batches grow instead of
        queueing frozen behind the relayer."""
        unmined, unfinal = self.store.lanes(s)
        free = sum(self._lane_room(unmined[a], unfinal[a], urgent=False) for a in self.wallets)
        return max(0, free - self.store.queued(s, URGENT_PURPOSES, exclude=True))

    def _pick_wallet(self, s: Session, urgent: bool = False) -> Signer | None:
        """The hot wallet with the most free lanes, if any has one.

        NOTE: a wallet locked by another dispatcher is tried again a few times (it holds the lock for one signing
        round, milliseconds) instead of giving up the whole round."""
        for attempt in range(LOCK_RETRIES):
            unmined, unfinal = self.store.lanes(s)
            rooms = {a: self._lane_room(unmined[a], unfinal[a], urgent) for a in self.wallets}
            order = sorted((a for a in self.wallets if rooms[a] > 0), key=lambda a: (-rooms[a], a))
            if not order:
                return None
            for address in order:
                if self.nonces.try_lock(s, address) is None:
                    continue  # another dispatcher is signing with it right now
                # recount under the wallet's lock: another dispatcher may have used it since the first count
                u, f = self.store.lanes(s, address)
                if self._lane_room(u[address], f[address], urgent) > 0:
                    return self.wallets[address]
            time.sleep(LOCK_RETRY_S * (attempt + 1))
        return None
