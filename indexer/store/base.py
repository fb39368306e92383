"""What every store does the same way: state reads, reorg rewind (reverse balances and daily stats), pruning."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine

from indexer.decode import ZERO_ADDRESS, BatchMint, Redemption, TokenCreated, Transfer
from indexer.errors import IndexerError
from indexer.fetch.blocks import BlockHeader
from indexer.store.deltas import DAY_S, EPOCH, BalanceKey, DayKey, Deltas

log = logging.getLogger("loyalty.indexer.store")


class Cursor(NamedTuple):
    number: int
    hash: str


class CursorMoved(IndexerError):
    """Another writer advanced (or rewound) the cursor since this batch was fetched."""

    code = "cursor-moved"

    def __init__(self, chain_id: int, expected: Cursor | None, found: Cursor | None) -> None:
        super().__init__(f"chain {chain_id}: cursor is {found}, batch continues from {expected}")


@dataclass
class Batch:
    """Everything mirrored for blocks (cursor, to_block]; written in one transaction together with the cursor."""

    chain_id: int
    from_block: int
    to_block: int
    to_hash: str
    transfers: Sequence[Transfer] = ()
    batch_mints: Sequence[BatchMint] = ()
    redemptions: Sequence[Redemption] = ()
    tokens: Sequence[TokenCreated] = ()
    blocks: Sequence[BlockHeader] = ()  # headers to keep for reorg detection (unfinalized window)
    prune_below: int | None = None  # forget kept headers below this (finalized) block
    prev: Cursor | None = None  # the cursor this batch continues from (compare-and-set)
    durable: bool = True  # False: finalized data, may commit asynchronously (a crash re-indexes it)

    @property
    def events(self) -> int:
        return len(self.transfers) + len(self.batch_mints) + len(self.redemptions) + len(self.tokens)


class MirrorStore:
    """One long-lived DBAPI connection owned by the indexer loop; every public write is one transaction."""

    dialect = "generic"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._fairy: Any = engine.raw_connection()
        self.conn: Any = self._fairy.driver_connection
        self.on_before_commit: Callable[[Batch], None] | None = None
        self._pinned = False  # inside `snapshot()`: reads keep the transaction open

    # -- SQL helpers (shared SQL is written with `?` placeholders) ------------------------------------------
    def sql(self, text: str) -> str:
        return text

    def q(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        cur.execute(self.sql(text), tuple(params))
        rows = cur.fetchall() if cur.description else []
        cur.close()
        return list(rows)

    def x(self, text: str, params: Sequence[Any] = ()) -> int:
        cur = self.conn.cursor()
        cur.execute(self.sql(text), tuple(params))
        count = int(cur.rowcount or 0)
        cur.close()
        return count

    def xmany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            cur = self.conn.cursor()
            cur.executemany(self.sql(text), rows)
            cur.close()

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """The reads inside see one committed state: a batch the indexer commits meanwhile is in all or none."""
        self.rollback()
        self._pinned = True
        self._begin_snapshot()
        try:
            yield
        finally:
            self._pinned = False
            self.rollback()

    def _begin_snapshot(self) -> None:
        self.x("BEGIN")

    def _end_read(self) -> None:
        if not self._pinned:
            self.rollback()

    def close(self) -> None:
        """Release the connection; a connection the database already cut is discarded, not an error."""
        try:
            self.conn.rollback()
        except Exception:
            self._fairy.invalidate()
        finally:
            self._fairy.close()

    # -- reads ------------------------------------------------------------------------------------------
    def cursor(self, chain_id: int) -> Cursor | None:
        rows = self.q("SELECT block_number, block_hash FROM idx_cursor WHERE chain_id = ?", (chain_id,))
        self._end_read()  # NOTE: end the read transaction so the connection never idles inside one
        return Cursor(int(rows[0][0]), rows[0][1]) if rows else None

    def tokens(self, chain_id: int) -> dict[str, int]:
        rows = self.q("SELECT address, created_block FROM idx_tokens WHERE chain_id = ?", (chain_id,))
        self._end_read()
        return {a: int(b) for a, b in rows}

    def kept_block(self, chain_id: int, number: int) -> str | None:
        rows = self.q("SELECT hash FROM idx_blocks WHERE chain_id = ? AND number = ?", (chain_id, number))
        self.rollback()
        return rows[0][0] if rows else None

    def oldest_kept(self, chain_id: int) -> int | None:
        rows = self.q("SELECT min(number) FROM idx_blocks WHERE chain_id = ?", (chain_id,))
        self.rollback()
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    # -- writes -----------------------------------------------------------------------------------------
    def write(self, batch: Batch) -> None:
        """Rows, balances, daily stats, kept headers and the cursor — all or nothing."""
        try:
            self._lock(batch.chain_id)
            self._begin(batch)
            current = self._current_cursor(batch.chain_id)
            if current != batch.prev:
                raise CursorMoved(batch.chain_id, batch.prev, current)
            self._write_rows(batch)
            self._write_tail(batch)
            self._before_commit(batch)
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def _lock(self, chain_id: int) -> None:
        """Serialise writers of one chain (PostgreSQL: transaction-scoped advisory lock)."""

    def _begin(self, batch: Batch) -> None:
        """Per-transaction settings (PostgreSQL: asynchronous commit of finalized batches)."""

    def _current_cursor(self, chain_id: int) -> Cursor | None:
        rows = self.q("SELECT block_number, block_hash FROM idx_cursor WHERE chain_id = ?", (chain_id,))
        return Cursor(int(rows[0][0]), rows[0][1]) if rows else None

    def _before_commit(self, batch: Batch) -> None:
        """Fault-injection point for crash tests (a process killed after COPY, before COMMIT)."""
        if self.on_before_commit is not None:
            self.on_before_commit(batch)

    def _write_rows(self, batch: Batch) -> None:
        raise NotImplementedError

    def _apply_deltas(self, chain_id: int, deltas: Deltas) -> None:
        raise NotImplementedError

    def _write_tail(self, batch: Batch) -> None:
        c = batch.chain_id
        if batch.tokens:
            self.xmany(
                self._insert_ignore(
                    "idx_tokens",
                    "chain_id, address, brand_id, name, symbol, decimals, cap, admin, created_block, created_tx",
                ),
                [
                    (
                        c,
                        t.address,
                        t.brand_id,
                        t.name[:200],
                        t.symbol[:64],
                        t.decimals,
                        self.num(t.cap),
                        t.admin,
                        t.block_number,
                        t.tx_hash,
                    )
                    for t in batch.tokens
                ],
            )
        if batch.blocks:
            self.x("DELETE FROM idx_blocks WHERE chain_id = ? AND number >= ?", (c, batch.blocks[0].number))
            self.xmany(
                "INSERT INTO idx_blocks (chain_id, number, hash, parent_hash, timestamp) VALUES (?, ?, ?, ?, ?)",
                [(c, *b) for b in batch.blocks],
            )
        if batch.prune_below is not None:
            self.x("DELETE FROM idx_blocks WHERE chain_id = ? AND number < ?", (c, batch.prune_below))
        self._set_cursor(c, batch.to_block, batch.to_hash)

    def _set_cursor(self, chain_id: int, number: int, block_hash: str) -> None:
        now = self.stamp()
        if (
            self.x(
                "UPDATE idx_cursor SET block_number = ?, block_hash = ?, updated_at = ? WHERE chain_id = ?",
                (number, block_hash, now, chain_id),
            )
            == 0
        ):
            self.x(
                "INSERT INTO idx_cursor (chain_id, block_number, block_hash, updated_at) VALUES (?, ?, ?, ?)",
                (chain_id, number, block_hash, now),
            )

    def _insert_ignore(self, table: str, columns: str) -> str:
        marks = ", ".join("?" for _ in columns.split(","))
        return f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"

    def num(self, value: int) -> Any:
        return value

    # -- secondary indexes deferred during a cold backfill (PostgreSQL; see deferred_indexes.py) --------------
    can_defer_indexes = False

    def missing_indexes(self) -> list[str]:
        """Names of the mirror's secondary indexes that do not exist (a cold backfill is, or was, under way)."""
        return []

    def defer_indexes(self, chain_id: int) -> bool:
        """Drop the secondary indexes if the mirror is empty; True if they are now absent."""
        return False

    def build_indexes(self, chain_id: int) -> list[str]:
        """Create whichever secondary indexes are missing; returns their names."""
        return []

    # -- reorgs -----------------------------------------------------------------------------------------
    def rewind(self, chain_id: int, ancestor: BlockHeader) -> int:
        """Delete everything above `ancestor`, reverse its effect on balances and stats; returns events removed."""
        try:
            self._lock(chain_id)
            removed = self._rewind(chain_id, ancestor.number)
            self.x("DELETE FROM idx_blocks WHERE chain_id = ? AND number > ?", (chain_id, ancestor.number))
            self._set_cursor(chain_id, ancestor.number, ancestor.hash)
            self.commit()
            return removed
        except BaseException:
            self.rollback()
            raise

    def _rewind(self, c: int, n: int) -> int:
        transfers = [
            (t, int(bt), f, to, int(v))
            for t, bt, f, to, v in self.q(
                "SELECT token, block_time, from_addr, to_addr, value FROM idx_transfers "
                "WHERE chain_id = ? AND block_number > ?",
                (c, n),
            )
        ]
        redemptions = [
            (t, int(bt), h, int(a))
            for t, bt, h, a in self.q(
                "SELECT token, block_time, holder, amount FROM idx_redemptions WHERE chain_id = ? AND block_number > ?",
                (c, n),
            )
        ]
        deltas = Deltas()
        deltas.add_transfers(transfers, sign=-1)
        deltas.add_redemptions(redemptions, sign=-1)
        deltas.active.clear()  # recomputed below from the rows that stay
        removed = 0
        for table in ("idx_transfers", "idx_redemptions", "idx_batch_mints"):
            removed += self.x(f"DELETE FROM {table} WHERE chain_id = ? AND block_number > ?", (c, n))
        gone = [a for (a,) in self.q("SELECT address FROM idx_tokens WHERE chain_id = ? AND created_block > ?", (c, n))]
        removed += self.x("DELETE FROM idx_tokens WHERE chain_id = ? AND created_block > ?", (c, n))
        self._apply_deltas(c, deltas)
        self._recount_active(c, deltas.daily.keys())
        self._drop_empty(c, deltas.balances.keys(), deltas.daily.keys())
        for token in gone:
            for table in ("idx_balances", "idx_daily_token_stats", "idx_daily_wallets"):
                self.x(f"DELETE FROM {table} WHERE chain_id = ? AND token = ?", (c, token))
        return removed

    def _recount_active(self, c: int, days: Iterable[DayKey]) -> None:
        for token, day in days:
            start = (day - EPOCH).days * DAY_S
            self.x(
                "DELETE FROM idx_daily_wallets WHERE chain_id = ? AND token = ? AND day = ?", (c, token, self.d(day))
            )
            self.x(
                "INSERT INTO idx_daily_wallets (chain_id, token, day, wallet) "
                "SELECT DISTINCT ?, ?, ?, w FROM ("
                " SELECT from_addr AS w FROM idx_transfers WHERE chain_id = ? AND token = ? AND block_time >= ? "
                "  AND block_time < ?"
                " UNION SELECT to_addr FROM idx_transfers WHERE chain_id = ? AND token = ? AND block_time >= ? "
                "  AND block_time < ?) s WHERE w <> ?",
                (c, token, self.d(day), c, token, start, start + DAY_S, c, token, start, start + DAY_S, ZERO_ADDRESS),
            )
            self.x(
                "UPDATE idx_daily_token_stats SET active_wallets = (SELECT count(*) FROM idx_daily_wallets "
                " WHERE chain_id = ? AND token = ? AND day = ?) WHERE chain_id = ? AND token = ? AND day = ?",
                (c, token, self.d(day), c, token, self.d(day)),
            )

    def _drop_empty(self, c: int, balances: Iterable[BalanceKey], days: Iterable[DayKey]) -> None:
        zero = self.num(0)
        self.xmany(
            "DELETE FROM idx_balances WHERE chain_id = ? AND token = ? AND wallet = ? "
            "AND balance = ? AND earned = ? AND redeemed = ?",
            [(c, t, w, zero, zero, zero) for t, w in balances],
        )
        self.xmany(
            "DELETE FROM idx_daily_token_stats WHERE chain_id = ? AND token = ? AND day = ? AND transfers = 0",
            [(c, t, self.d(d)) for t, d in days],
        )

    def d(self, day: date) -> Any:
        return day

    def stamp(self) -> Any:
        return datetime.now(UTC)

    # -- reads for reconcile / status ----------------------------------------------------------------------
    def balances(self, chain_id: int, token: str | None = None) -> dict[BalanceKey, int]:
        sql = "SELECT token, wallet, balance FROM idx_balances WHERE chain_id = ?"
        params: list[Any] = [chain_id]
        if token:
            sql += " AND token = ?"
            params.append(token)
        rows = self.q(sql, params)
        self._end_read()
        return {(t, w): int(b) for t, w, b in rows}

    def supplies(self, chain_id: int) -> dict[str, int]:
        """Per-token supply from the daily table (minted − burned): cross-checks balances independently."""
        out: dict[str, int] = defaultdict(int)
        for token, minted, burned in self.q(
            "SELECT token, minted, burned FROM idx_daily_token_stats WHERE chain_id = ?", (chain_id,)
        ):
            out[token] += int(minted) - int(burned)
        self._end_read()
        for token in self.tokens(chain_id):
            out.setdefault(token, 0)
        return dict(out)

    def counts(self, chain_id: int) -> dict[str, int]:
        out = {}
        for table in ("idx_tokens", "idx_transfers", "idx_batch_mints", "idx_redemptions", "idx_balances"):
            out[table] = int(self.q(f"SELECT count(*) FROM {table} WHERE chain_id = ?", (chain_id,))[0][0])
        self.rollback()
        return out
