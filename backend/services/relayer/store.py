"""The relayer's database side: units of work serialized between relayer workers, in-flight counts, spend caps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.db import UnitOfWork
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.relayer import OPEN_STATES, RelayAttempt, RelayIntent
from backend.services.relayer.config import RelayerConfig
from backend.services.relayer.fee_oracle import FeeQuote, cap_reason


class RelayStore:
    """Sessions of one chain's relayer tables."""

    def __init__(self, sessions: sessionmaker[Session], chain_id: int, config: RelayerConfig) -> None:
        self.sessions = sessions
        self.chain_id = chain_id
        self.config = config

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    @contextmanager
    def writing(self) -> Iterator[UnitOfWork]:
        """A unit of work for read-decide-write steps, serialized against other relayer threads and processes.

        PostgreSQL: the callers lock their rows `FOR UPDATE`. SQLite has no row locks and pysqlite only begins a
        transaction at the first write, so a no-op write first takes the database write lock: the reads that
        follow see everything other writers committed, and nobody commits in between.
        """
        with self.uow() as uow:
            if uow.session.get_bind().dialect.name == "sqlite":
                uow.session.execute(text("UPDATE hot_wallet_state SET next_nonce = next_nonce WHERE 1 = 0"))
            yield uow

    def in_flight(self, s: Session, address: str | None = None) -> Counter[str]:
        """Open (sent, not final) intents per hot wallet."""
        unmined, unfinal = self.lanes(s, address)
        return unmined + unfinal

    def lanes(self, s: Session, address: str | None = None) -> tuple[Counter[str], Counter[str]]:
        """Per hot wallet: intents sent but not mined (`submitted`), and mined but not final (`included`).

        NOTE: the two are capped separately (`max_in_flight_per_wallet`, `max_unfinal_per_wallet`): a sending lane
        frees when its transaction is mined, not when it is final, so finality no longer limits throughput."""
        query = select(RelayIntent.wallet, RelayIntent.state, func.count()).where(
            RelayIntent.chain_id == self.chain_id, RelayIntent.state.in_(OPEN_STATES)
        )
        if address is not None:
            query = query.where(RelayIntent.wallet == address)
        unmined: Counter[str] = Counter()
        unfinal: Counter[str] = Counter()
        for wallet, state, n in s.execute(query.group_by(RelayIntent.wallet, RelayIntent.state)):
            (unmined if state == "submitted" else unfinal)[str(wallet)] += int(n)
        return unmined, unfinal

    def queued(self, s: Session, purposes: tuple[str, ...] | None = None, *, exclude: bool = False) -> int:
        """Queued (not yet signed) intents, of `purposes` (or of all others with `exclude`)."""
        query = select(func.count()).where(RelayIntent.chain_id == self.chain_id, RelayIntent.state == "queued")
        if purposes is not None:
            query = query.where(RelayIntent.purpose.not_in(purposes) if exclude else RelayIntent.purpose.in_(purposes))
        return int(s.scalar(query) or 0)

    def cap_reason(self, s: Session, quote: FeeQuote, gas_limit: int, exclude_intent: int | None = None) -> str | None:
        """Why a transaction at `quote` must wait for the fee caps (paid in the last hour + in flight), if it must."""
        paid = in_flight = 0
        if self.config.max_spend_per_hour_wei:
            since = utcnow() - timedelta(hours=1)
            paid = sum(
                int(fee or 0)
                for fee in s.scalars(
                    select(RelayIntent.fee_paid_wei).where(
                        RelayIntent.chain_id == self.chain_id,
                        RelayIntent.included_at >= since,
                        RelayIntent.fee_paid_wei.is_not(None),
                    )
                )
            )
            rows: Any = s.execute(
                select(RelayIntent.id, RelayAttempt.max_fee_per_gas, RelayAttempt.gas_limit)
                .join(RelayAttempt, RelayAttempt.tx_hash == RelayIntent.tx_hash)
                .where(RelayIntent.chain_id == self.chain_id, RelayIntent.state == "submitted")
            )
            in_flight = sum(int(fee) * int(gas) for intent_id, fee, gas in rows if intent_id != exclude_intent)
        return cap_reason(
            quote,
            gas_limit,
            max_fee_per_tx_wei=self.config.max_fee_per_tx_wei,
            max_spend_per_hour_wei=self.config.max_spend_per_hour_wei,
            spent_last_hour_wei=paid,
            in_flight_wei=in_flight,
        )
