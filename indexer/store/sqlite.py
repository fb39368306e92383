"""SQLite (embedded default): executemany with `INSERT OR IGNORE`; balances and stats read-modify-written.

Same semantics as the PostgreSQL path: only rows that were really added move balances, and everything —
cursor included — commits in one transaction. `Uint256` is text on SQLite, so the arithmetic happens in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from indexer.store.base import Batch, Deltas, MirrorStore


class SqliteStore(MirrorStore):
    dialect = "sqlite"

    def num(self, value: int) -> Any:
        return str(value)

    def d(self, day: date) -> Any:
        return day.isoformat()

    def stamp(self) -> Any:
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def _insert_ignore(self, table: str, columns: str) -> str:
        marks = ", ".join("?" for _ in columns.split(","))
        return f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})"

    def _new_rows(self, table: str, batch: Batch, rows: Sequence[Any]) -> list[Any]:
        """Rows not mirrored yet (a replayed range must not move balances twice)."""
        if not rows:
            return []
        lo = min(r.block_number for r in rows)
        hi = max(r.block_number for r in rows)
        seen = set(
            self.q(
                f"SELECT tx_hash, log_index FROM {table} WHERE chain_id = ? AND block_number BETWEEN ? AND ?",
                (batch.chain_id, lo, hi),
            )
        )
        return [r for r in rows if (r.tx_hash, r.log_index) not in seen]

    def _write_rows(self, batch: Batch) -> None:
        c = batch.chain_id
        transfers = self._new_rows("idx_transfers", batch, batch.transfers)
        redemptions = self._new_rows("idx_redemptions", batch, batch.redemptions)
        self.xmany(
            self._insert_ignore(
                "idx_transfers",
                "chain_id, tx_hash, log_index, token, block_number, block_time, from_addr, to_addr, value",
            ),
            [
                (c, t.tx_hash, t.log_index, t.token, t.block_number, t.block_time, t.from_addr, t.to_addr, str(t.value))
                for t in transfers
            ],
        )
        self.xmany(
            self._insert_ignore(
                "idx_redemptions",
                "chain_id, tx_hash, log_index, token, block_number, block_time, holder, amount, redemption_id, "
                "offer_ref",
            ),
            [
                (
                    c,
                    r.tx_hash,
                    r.log_index,
                    r.token,
                    r.block_number,
                    r.block_time,
                    r.holder,
                    str(r.amount),
                    r.redemption_id,
                    r.offer_ref,
                )
                for r in redemptions
            ],
        )
        self.xmany(
            self._insert_ignore(
                "idx_batch_mints",
                "chain_id, tx_hash, log_index, token, block_number, block_time, batch_id, manifest_root, recipients, "
                "total",
            ),
            [
                (
                    c,
                    m.tx_hash,
                    m.log_index,
                    m.token,
                    m.block_number,
                    m.block_time,
                    m.batch_id,
                    m.manifest_root,
                    m.recipients,
                    str(m.total),
                )
                for m in batch.batch_mints
            ],
        )
        deltas = Deltas()
        deltas.add_transfers((t.token, t.block_time, t.from_addr, t.to_addr, t.value) for t in transfers)
        deltas.add_redemptions((r.token, r.block_time, r.holder, r.amount) for r in redemptions)
        self._apply_deltas(c, deltas)

    def _apply_deltas(self, chain_id: int, deltas: Deltas) -> None:
        c = chain_id
        for (token, wallet), (dbal, dearned, dredeemed) in deltas.balances.items():
            rows = self.q(
                "SELECT balance, earned, redeemed FROM idx_balances WHERE chain_id = ? AND token = ? AND wallet = ?",
                (c, token, wallet),
            )
            bal, earned, redeemed = (int(v) for v in rows[0]) if rows else (0, 0, 0)
            self.x(
                "INSERT OR REPLACE INTO idx_balances (chain_id, token, wallet, balance, earned, redeemed) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (c, token, wallet, str(bal + dbal), str(earned + dearned), str(redeemed + dredeemed)),
            )
        new_active: dict[tuple[str, date], int] = {}
        for token, day, wallet in deltas.active:
            added = self.x(
                "INSERT OR IGNORE INTO idx_daily_wallets (chain_id, token, day, wallet) VALUES (?, ?, ?, ?)",
                (c, token, day.isoformat(), wallet),
            )
            new_active[(token, day)] = new_active.get((token, day), 0) + added
        for (token, day), (minted, burned, redeemed_d, transfers) in deltas.daily.items():
            rows = self.q(
                "SELECT minted, burned, redeemed, transfers, active_wallets FROM idx_daily_token_stats "
                "WHERE chain_id = ? AND token = ? AND day = ?",
                (c, token, day.isoformat()),
            )
            m, b, r, n, a = (int(v) for v in rows[0]) if rows else (0, 0, 0, 0, 0)
            self.x(
                "INSERT OR REPLACE INTO idx_daily_token_stats (chain_id, token, day, minted, burned, redeemed, "
                "transfers, active_wallets) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    c,
                    token,
                    day.isoformat(),
                    str(m + minted),
                    str(b + burned),
                    str(r + redeemed_d),
                    n + transfers,
                    a + new_active.get((token, day), 0),
                ),
            )
