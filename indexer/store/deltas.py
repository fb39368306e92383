"""Signed balance and daily-stat changes derived from mirrored rows (applied forwards, or backwards on a rewind)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from indexer.decode import ZERO_ADDRESS

EPOCH = date(1970, 1, 1)
DAY_S = 86_400
BalanceKey = tuple[str, str]  # (token, wallet)
DayKey = tuple[str, date]  # (token, day)


def day_of(block_time: int) -> date:
    return EPOCH + timedelta(days=block_time // DAY_S)


@dataclass
class Deltas:
    """Signed changes to balances (balance, earned, redeemed) and daily stats (minted, burned, redeemed, transfers)."""

    balances: dict[BalanceKey, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    daily: dict[DayKey, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    active: set[tuple[str, date, str]] = field(default_factory=set)  # (token, day, wallet)

    def add_transfers(self, rows: Iterable[tuple[str, int, str, str, int]], sign: int = 1) -> None:
        """rows: (token, block_time, from, to, value)."""
        for token, block_time, src, dst, value in rows:
            day = day_of(block_time)
            stats = self.daily[(token, day)]
            stats[3] += sign
            if src == ZERO_ADDRESS:
                stats[0] += sign * value
            else:
                self.balances[(token, src)][0] -= sign * value
                self.active.add((token, day, src))
            if dst == ZERO_ADDRESS:
                stats[1] += sign * value
            else:
                entry = self.balances[(token, dst)]
                entry[0] += sign * value
                if src == ZERO_ADDRESS:
                    entry[1] += sign * value
                self.active.add((token, day, dst))

    def add_redemptions(self, rows: Iterable[tuple[str, int, str, int]], sign: int = 1) -> None:
        """rows: (token, block_time, holder, amount)."""
        for token, block_time, holder, amount in rows:
            self.balances[(token, holder)][2] += sign * amount
            self.daily[(token, day_of(block_time))][2] += sign * amount
