"""Who already holds a token: priced as an existing holder (~7.3k gas) instead of a fresh one (~24.4k).

Knowledge comes, cheapest first, from `holder_cache` (wallets whose batch confirmed), the indexer's mirror
(`idx_balances`, when that table exists) and finally `balanceOf` on chain. Unknown means fresh (the safe side).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.minting import HolderCache
from backend.services.minting.token_views import TokenViews


class HolderKnowledge:
    def __init__(self, views: TokenViews) -> None:
        self.views = views
        self._has_mirror: bool | None = None

    def _mirror_available(self, session: Session) -> bool:
        if self._has_mirror is None:
            self._has_mirror = inspect(session.get_bind()).has_table("idx_balances")
        return self._has_mirror

    def fresh_wallets(self, session: Session, chain_id: int, token: str, wallets: Iterable[str]) -> set[str]:
        """The wallets among `wallets` whose balance of `token` is zero (as far as we know)."""
        unknown = set(wallets)
        if not unknown:
            return set()
        cached = session.scalars(
            select(HolderCache.wallet).where(
                HolderCache.chain_id == chain_id,
                HolderCache.token_address == token,
                HolderCache.wallet.in_(unknown),
                HolderCache.holder.is_(True),
            )
        )
        unknown -= set(cached)
        if unknown and self._mirror_available(session):
            from backend.adapters.orm.indexer import IdxBalance

            lower = {w.lower(): w for w in unknown}
            mirrored = session.scalars(
                select(IdxBalance.wallet).where(
                    IdxBalance.chain_id == chain_id,
                    IdxBalance.token == token.lower(),
                    IdxBalance.wallet.in_(list(lower)),
                    IdxBalance.balance > 0,
                )
            )
            unknown -= {lower[w] for w in mirrored if w in lower}
        if not unknown:
            return set()
        balances = self.views.balances(token, sorted(unknown))
        holders = [w for w, balance in balances.items() if balance > 0]
        self.remember(session, chain_id, token, holders)
        return {w for w, balance in balances.items() if balance == 0}

    def remember(self, session: Session, chain_id: int, token: str, wallets: Iterable[str]) -> None:
        rows = [
            {"chain_id": chain_id, "token_address": token, "wallet": w, "holder": True, "updated_at": utcnow()}
            for w in sorted(set(wallets))
        ]
        if not rows:
            return
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        # NOTE: concurrent builders may learn the same holder; the insert must not fail their batch.
        session.execute(insert(HolderCache).values(rows).on_conflict_do_nothing())

    def forget(self, session: Session, chain_id: int, token: str, wallets: Iterable[str]) -> None:
        """Drop knowledge that may have priced a batch too low (e.g. it ran out of gas)."""
        session.execute(
            delete(HolderCache).where(
                HolderCache.chain_id == chain_id,
                HolderCache.token_address == token,
                HolderCache.wallet.in_(sorted(set(wallets))),
            )
        )
