"""The store on SQLite and PostgreSQL: replays never double-count, rewinds reverse balances and daily stats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from backend.adapters.db import make_engine, migrate
from indexer.decode import ZERO_ADDRESS, Redemption, TokenCreated, Transfer
from indexer.fetch.blocks import BlockHeader
from indexer.store import Batch, Cursor, open_store
from indexer.store.base import CursorMoved, MirrorStore

CHAIN = 31337
TOKEN = "0x" + "ab" * 20
ALICE = "0x" + "01" * 20
BOB = "0x" + "02" * 20
DAY1 = 1_700_000_000  # 2023-11-14
DAY2 = DAY1 + 86_400


def h(n: int) -> str:
    return "0x" + f"{n:064x}"


def tx(n: int) -> str:
    return "0x" + f"{n:064x}".replace("0", "e", 1)


def transfer(n: int, block: int, src: str, dst: str, value: int, when: int = DAY1) -> Transfer:
    return Transfer(TOKEN, tx(n), 0, block, when, src, dst, value)


@pytest.fixture
def store(db_url: str) -> Iterator[MirrorStore]:
    engine = make_engine(db_url)
    migrate(engine)
    s = open_store(engine)
    yield s
    s.close()
    engine.dispose()


def token_created(block: int) -> TokenCreated:
    return TokenCreated(TOKEN, h(99), "Brand", "BRD", 18, 0, ALICE, block, tx(999), 0)


def test_batches_build_balances_stats_and_cursor(store: MirrorStore) -> None:
    store.write(
        Batch(
            CHAIN,
            1,
            5,
            h(5),
            transfers=[transfer(1, 2, ZERO_ADDRESS, ALICE, 100), transfer(2, 3, ZERO_ADDRESS, BOB, 50)],
            tokens=[token_created(1)],
            blocks=[BlockHeader(5, h(5), h(4), DAY1)],
        )
    )
    store.write(
        Batch(
            CHAIN,
            6,
            8,
            h(8),
            transfers=[transfer(3, 7, ALICE, BOB, 30, DAY2), transfer(4, 8, BOB, ZERO_ADDRESS, 20, DAY2)],
            redemptions=[Redemption(TOKEN, tx(4), 1, 8, DAY2, BOB, 20, h(7), h(8))],
            prev=Cursor(5, h(5)),
        )
    )
    assert store.cursor(CHAIN) == Cursor(8, h(8))
    assert store.balances(CHAIN) == {(TOKEN, ALICE): 70, (TOKEN, BOB): 60}
    assert store.supplies(CHAIN) == {TOKEN: 130}
    stats = stats_of(store)
    assert stats[date(2023, 11, 14)] == (150, 0, 0, 2, 2)
    assert stats[date(2023, 11, 15)] == (0, 20, 20, 2, 2)


def stats_of(store: MirrorStore) -> dict[date, tuple[int, ...]]:
    rows = store.q(
        "SELECT day, minted, burned, redeemed, transfers, active_wallets FROM idx_daily_token_stats WHERE chain_id = ?",
        (CHAIN,),
    )
    store.rollback()
    return {(d if isinstance(d, date) else date.fromisoformat(d)): tuple(int(v) for v in rest) for d, *rest in rows}


def test_replayed_rows_do_not_move_balances_twice_and_stale_cursor_is_refused(store: MirrorStore) -> None:
    first = Batch(CHAIN, 1, 2, h(2), transfers=[transfer(1, 2, ZERO_ADDRESS, ALICE, 100)])
    store.write(first)
    # the same rows again under a new cursor position (e.g. a token backfilled from its creation block)
    store.write(Batch(CHAIN, 3, 3, h(3), transfers=[transfer(1, 2, ZERO_ADDRESS, ALICE, 100)], prev=Cursor(2, h(2))))
    assert store.balances(CHAIN) == {(TOKEN, ALICE): 100}
    assert stats_of(store)[date(2023, 11, 14)] == (100, 0, 0, 1, 1)
    with pytest.raises(CursorMoved):
        store.write(Batch(CHAIN, 1, 2, h(2), transfers=[transfer(5, 2, ZERO_ADDRESS, BOB, 1)]))
    assert store.balances(CHAIN) == {(TOKEN, ALICE): 100}


def test_rewind_reverses_everything_above_the_ancestor(store: MirrorStore) -> None:
    store.write(
        Batch(
            CHAIN,
            1,
            3,
            h(3),
            transfers=[transfer(1, 2, ZERO_ADDRESS, ALICE, 100)],
            blocks=[BlockHeader(n, h(n), h(n - 1), DAY1) for n in (1, 2, 3)],
        )
    )
    store.write(
        Batch(
            CHAIN,
            4,
            5,
            h(5),
            transfers=[transfer(2, 4, ALICE, BOB, 40), transfer(3, 5, BOB, ZERO_ADDRESS, 10)],
            redemptions=[Redemption(TOKEN, tx(3), 1, 5, DAY1, BOB, 10, h(7), h(8))],
            tokens=[TokenCreated("0x" + "cd" * 20, h(98), "Late", "LT", 18, 0, ALICE, 4, tx(998), 0)],
            blocks=[BlockHeader(n, h(n), h(n - 1), DAY1) for n in (4, 5)],
            prev=Cursor(3, h(3)),
        )
    )
    assert store.balances(CHAIN) == {(TOKEN, ALICE): 60, (TOKEN, BOB): 30}
    removed = store.rewind(CHAIN, BlockHeader(3, h(3), h(2), DAY1))
    assert removed == 4
    assert store.cursor(CHAIN) == Cursor(3, h(3))
    assert store.balances(CHAIN) == {(TOKEN, ALICE): 100}
    assert stats_of(store)[date(2023, 11, 14)] == (100, 0, 0, 1, 1)
    assert store.tokens(CHAIN) == {}
    assert store.oldest_kept(CHAIN) == 1 and store.kept_block(CHAIN, 4) is None


def test_a_snapshot_sees_one_committed_state_while_the_indexer_commits(store: MirrorStore) -> None:
    """Reconcile reads cursor, balances and stats in one snapshot: a batch committed between them is in none."""
    store.write(Batch(CHAIN, 1, 2, h(2), transfers=[transfer(1, 2, ZERO_ADDRESS, ALICE, 100)]))
    writer = open_store(store.engine)
    try:
        with store.snapshot():
            cursor = store.cursor(CHAIN)
            writer.write(Batch(CHAIN, 3, 3, h(3), transfers=[transfer(2, 3, ZERO_ADDRESS, BOB, 7)], prev=cursor))
            balances, supplies = store.balances(CHAIN), store.supplies(CHAIN)
        assert (cursor, balances, supplies) == (Cursor(2, h(2)), {(TOKEN, ALICE): 100}, {TOKEN: 100})
        assert store.cursor(CHAIN) == Cursor(3, h(3))  # and after it, the new state
        assert store.supplies(CHAIN) == {TOKEN: 107}
    finally:
        writer.close()
