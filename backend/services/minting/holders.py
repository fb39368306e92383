"""Who already holds a token: priced as an existing holder (~7.3k gas) instead of a fresh one (~24.4k).

The indexer's mirror (`idx_balances`, every Transfer applied) decides: a wallet is an existing holder iff the
mirror shows a balance > 0, or the mirror has never seen it and one of our batches to it confirmed
(`holder_cache`: the mirror may not have reached that block yet). A holder who sent everything away (transfer,
redemption, burn) shows 0 in the mirror and is fresh again, so a batch never runs out of gas on a stale
'existing' line. No `balanceOf` calls: a wallet nobody has seen is fresh.

NOTE: when the mirror is missing or more than MIRROR_LAG_BLOCKS behind the head, it cannot see recent transfers
away, so every wallet is priced fresh: a little gas headroom, never an out-of-gas.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import delete, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.indexer import IdxBalance, IdxCursor
from backend.adapters.orm.minting import HolderCache
from backend.services.minting.token_views import TokenViews

log = logging.getLogger("loyalty.minting.holders")
MIRROR_LAG_BLOCKS = 5  # the live indexer trails the head by about one block; more: it is catching up or stopped


class HolderKnowledge:
    def __init__(self, views: TokenViews) -> None:
        self.views = views
        self._has_mirror: bool | None = None
        self._lagging = False  # logged once per change

    def _mirror_available(self, session: Session) -> bool:
        if self._has_mirror is None:
            self._has_mirror = inspect(session.get_bind()).has_table("idx_balances")
        return self._has_mirror

    def _mirror_current(self, session: Session, chain_id: int) -> bool:
        """Whether the mirror has reached (nearly) the chain head, so that its balances can be trusted."""
        if not self._mirror_available(session):
            return False
        cursor = session.scalar(select(IdxCursor.block_number).where(IdxCursor.chain_id == chain_id))
        head = self.views.chain.head()
        lagging = cursor is None or int(cursor) < head - MIRROR_LAG_BLOCKS
        if lagging != self._lagging:
            self._lagging = lagging
            if lagging:
                log.info("chain mirror at %s, head %s: pricing every recipient as a fresh holder", cursor, head)
        return not lagging

    def fresh_wallets(self, session: Session, chain_id: int, token: str, wallets: Iterable[str]) -> set[str]:
        """The wallets among `wallets` whose balance of `token` is zero (as far as we know: unknown is fresh)."""
        wanted = set(wallets)
        if not wanted or not self._mirror_current(session, chain_id):
            return wanted
        lower = {w.lower(): w for w in wanted}
        mirrored: dict[str, int] = {}
        names = list(lower)
        for start in range(0, len(names), 1000):
            rows = session.execute(
                select(IdxBalance.wallet, IdxBalance.balance).where(
                    IdxBalance.chain_id == chain_id,
                    IdxBalance.token == token.lower(),
                    IdxBalance.wallet.in_(names[start : start + 1000]),
                )
            )
            mirrored.update((str(w), int(b)) for w, b in rows)
        holders = {lower[w] for w, balance in mirrored.items() if balance > 0 and w in lower}
        unseen = [w for low, w in lower.items() if low not in mirrored]
        for start in range(0, len(unseen), 1000):
            holders |= set(
                session.scalars(
                    select(HolderCache.wallet).where(
                        HolderCache.chain_id == chain_id,
                        HolderCache.token_address == token,
                        HolderCache.wallet.in_(unseen[start : start + 1000]),
                        HolderCache.holder.is_(True),
                    )
                )
            )
        return wanted - holders

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
