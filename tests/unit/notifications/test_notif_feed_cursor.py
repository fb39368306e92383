"""The feed cursor never skips an event committed out of id order and never emits one twice."""

from __future__ import annotations

from backend.services.notifications.feed import GAP_TTL_S, FeedCursor


def test_in_order_ids_are_emitted_once() -> None:
    cursor = FeedCursor(after=10)
    assert cursor.accept([11, 12, 13], now=0) == [11, 12, 13]
    assert cursor.accept([12, 13], now=0) == []
    assert cursor.floor == 13 and not cursor.gaps


def test_an_id_committed_late_is_emitted_when_it_appears() -> None:
    cursor = FeedCursor(after=0)
    assert cursor.accept([1, 3], now=0) == [1, 3]
    assert set(cursor.gaps) == {2} and cursor.floor == 1
    assert cursor.accept([2], now=1) == [2]  # the slow transaction committed
    assert cursor.floor == 3 and not cursor.gaps


def test_a_hole_left_by_a_rollback_is_given_up_after_the_ttl() -> None:
    cursor = FeedCursor(after=0)
    cursor.accept([1, 3], now=0)
    cursor.accept([], now=GAP_TTL_S - 1)
    assert cursor.floor == 1
    cursor.accept([4], now=GAP_TTL_S + 1)
    assert cursor.floor == 4 and not cursor.gaps and cursor.high == 4
