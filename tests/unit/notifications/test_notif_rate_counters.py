"""Fixed-window counting without Redis: the limit holds within a window and resets with the next."""

from __future__ import annotations

from backend.services.foundation.rate_limit import RateLimiter


def test_limit_within_a_window_then_reset() -> None:
    limiter = RateLimiter(None, window_s=60)
    t = 6_000.0  # start of a window
    decisions = [limiter.hit("ip:1", 3, now=t + i) for i in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after_s == 57
    assert limiter.hit("ip:2", 3, now=t).allowed  # buckets are independent
    assert limiter.hit("ip:1", 3, now=t + 60).allowed  # next window
