"""Nonces per hot wallet, kept in `hot_wallet_state` and reconciled against the chain in both directions, with
fillers (0-value self-transfers) for nonces of ours that no intent holds.

NOTE: open-source relayers drift because they keep the counter in memory or trust `pending` blindly. Here the
counter is a database row locked `FOR UPDATE` (PostgreSQL; SQLite serializes writers anyway) while a nonce is
taken and the signed transaction stored in the same database transaction, so a nonce is never handed out twice,
even across processes, and a crash cannot lose a signed transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.keys import Signer
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.relayer import FILLER_PURPOSE, HotWalletState, RelayAttempt, RelayIntent
from backend.services.relayer import metrics
from backend.services.relayer.attempts import node_knows, resend_candidate
from backend.services.relayer.broadcaster import Broadcaster
from backend.services.relayer.fee_oracle import FeeOracle, FeeQuote
from backend.services.relayer.sender import Sender
from backend.services.relayer.store import RelayStore

log = logging.getLogger("loyalty.relayer")
MAX_FILLERS_PER_PASS = 16


@dataclass(frozen=True)
class ChainNonces:
    latest: int  # transactions mined
    pending: int  # mined + the node's pool (gapless prefix)


@dataclass
class NonceDrift:
    """What reconciliation found for one wallet."""

    wallet: str
    skipped_to: int | None = None  # chain ahead (the key was used elsewhere): next nonce moved forward
    unfilled: list[int] = field(default_factory=list)  # ours but held by no intent: need a filler
    node_missing: int | None = None  # lowest nonce of ours the node does not know (dropped): rebroadcast it


class NonceManager:
    def __init__(self, chain: ChainClient, chain_id: int) -> None:
        self.chain = chain
        self.chain_id = chain_id

    def chain_nonces(self, address: str) -> ChainNonces:
        eth = self.chain.w3.eth
        latest = int(eth.get_transaction_count(address, "latest"))  # type: ignore[arg-type]
        pending = int(eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]
        return ChainNonces(latest, max(latest, pending))

    def _select(self, session: Session, address: str, skip_locked: bool = False) -> HotWalletState | None:
        query = select(HotWalletState).where(
            HotWalletState.chain_id == self.chain_id, HotWalletState.address == address
        )
        return session.scalar(query.with_for_update(skip_locked=skip_locked))

    def _create(self, session: Session, address: str) -> None:
        start = self.chain_nonces(address).pending
        try:
            with session.begin_nested():
                session.add(HotWalletState(chain_id=self.chain_id, address=address, next_nonce=start))
        except IntegrityError:  # another process created it first
            pass

    def locked(self, session: Session, address: str) -> HotWalletState:
        """The wallet's row, locked until the caller's transaction ends; created from the chain on first use."""
        row = self._select(session, address)
        if row is None:
            self._create(session, address)
            row = self._select(session, address)
            assert row is not None
        return row

    def try_lock(self, session: Session, address: str) -> HotWalletState | None:
        """Like `locked`, but None when another transaction holds the row (dispatchers never wait on each other,
        so they cannot deadlock by locking wallets in different orders)."""
        if (
            session.scalar(
                select(HotWalletState.next_nonce).where(
                    HotWalletState.chain_id == self.chain_id, HotWalletState.address == address
                )
            )
            is None
        ):
            self._create(session, address)
        return self._select(session, address, skip_locked=True)

    def take(self, session: Session, address: str) -> int:
        row = self.locked(session, address)
        nonce = int(row.next_nonce)
        row.next_nonce = nonce + 1
        return nonce

    def reconcile(self, session: Session, address: str, chain: ChainNonces) -> NonceDrift:
        """Compare the stored counter and our intents' nonces with the chain (the wallet row stays locked)."""
        row = self.locked(session, address)
        drift = NonceDrift(address)
        if chain.pending > row.next_nonce:
            # someone else sent with this key: never reuse their nonces
            drift.skipped_to = row.next_nonce = chain.pending
        held = set(
            session.scalars(
                select(RelayIntent.nonce).where(
                    RelayIntent.chain_id == self.chain_id,
                    RelayIntent.wallet == address,
                    RelayIntent.nonce >= chain.latest,
                )
            )
        )
        drift.unfilled = [n for n in range(chain.latest, row.next_nonce) if n not in held]
        if chain.pending < row.next_nonce:
            drift.node_missing = chain.pending
        return drift


class NonceReconciler:
    """Once per tracker pass and wallet: move the counter past foreign nonces, fill holes, resend a dropped tx."""

    def __init__(
        self,
        store: RelayStore,
        nonces: NonceManager,
        sender: Sender,
        fee_oracle: FeeOracle,
        broadcaster: Broadcaster,
        wallets: Mapping[str, Signer],
        label: str,
    ) -> None:
        self.store = store
        self.nonces = nonces
        self.sender = sender
        self.fee_oracle = fee_oracle
        self.broadcaster = broadcaster
        self.wallets = wallets
        self.label = label

    def reconcile(self, wallet: str, chain: ChainNonces, head: int, rebroadcast: set[tuple[str, int]]) -> bool:
        """`rebroadcast` holds the (wallet, nonce) pairs this pass already sent again."""
        new_ids: list[int] = []
        resend: int | None = None
        with self.store.writing() as uow:
            s = uow.session
            drift = self.nonces.reconcile(s, wallet, chain)
            if drift.skipped_to is not None:
                log.warning("relay nonce drift wallet=%s: chain ahead, next nonce now %s", wallet, drift.skipped_to)
            quote: FeeQuote | None = None
            for nonce in drift.unfilled[:MAX_FILLERS_PER_PASS]:
                quote = quote or self.fee_oracle.quote()
                new_ids.append(self._filler(s, wallet, nonce, quote))
            if drift.node_missing is not None and (wallet, drift.node_missing) not in rebroadcast:
                owner = s.scalar(
                    select(RelayIntent).where(
                        RelayIntent.chain_id == self.nonces.chain_id,
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
                    if attempts and not node_knows(self.nonces.chain, attempts):
                        resend = resend_candidate(owner, attempts)
            uow.commit()
        for attempt_id in new_ids:
            self.broadcaster.broadcast_attempt(attempt_id, head)
        if resend is not None:
            metrics.REBROADCASTS.labels(self.label).inc()
            self.broadcaster.broadcast_attempt(resend, head, restart_clock=True)
        return bool(new_ids) or drift.skipped_to is not None

    def _filler(self, s: Session, wallet: str, nonce: int, quote: FeeQuote) -> int:
        """A 0-value self-transfer on a nonce no intent holds, so the wallet's later nonces can mine."""
        chain_id = self.nonces.chain_id
        signer = self.wallets[wallet]
        intent = RelayIntent(
            purpose=FILLER_PURPOSE,
            ref=f"{chain_id}:{wallet}:{nonce}:{utcnow().timestamp():.6f}",
            chain_id=chain_id,
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
        attempt = self.sender.sign(signer, intent, nonce=nonce, fees=quote, kind="filler")
        s.add(attempt)
        intent.tx_hash = attempt.tx_hash
        s.flush()
        metrics.FILLERS.labels(self.label).inc()
        log.warning("relay filler wallet=%s nonce=%s tx=%s (nonce held by no intent)", wallet, nonce, attempt.tx_hash)
        return attempt.id
