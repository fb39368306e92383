"""Nonces per hot wallet, kept in `hot_wallet_state` and reconciled against the chain in both directions.

NOTE: open-source relayers drift because they keep the counter in memory or trust `pending` blindly. Here the
counter is a database row locked `FOR UPDATE` (PostgreSQL; SQLite serializes writers anyway) while a nonce is
taken and the signed transaction stored in the same database transaction, so a nonce is never handed out twice,
even across processes, and a crash cannot lose a signed transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.adapters.chain.client import ChainClient
from backend.adapters.orm.relayer import HotWalletState, RelayIntent


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
