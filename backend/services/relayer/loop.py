"""`RelayerLoop`: one chain's relayer driven by new heads — track → settle → build → dispatch in one pass.

Each pass: when the head moved (or a second passed), `track()`; when that changed anything, settle minted batches
and redemptions at once and build (a lane may have freed); then `build()` and `dispatch()` (credit whose window
elapsed, a lane that freed). A batch is signed in the pass that built it and settled in the pass that saw it
confirmed, instead of a poll interval later at each hand-off. Only the leader of the chain acts (`Leadership`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Protocol, TypeVar

from backend.services.relayer.leadership import Leadership

log = logging.getLogger("loyalty.relayer.loop")
T = TypeVar("T")
TRACK_EVERY_S = 1.0  # track even without a new head this often (a node whose head lags its receipts)
BACKOFF_MAX_S = 5.0


class MintSteps(Protocol):
    """The minting pipeline's steps the loop drives (`MintingPipeline`)."""

    def build(self) -> bool: ...
    def dispatch(self) -> bool: ...
    def track(self) -> bool: ...
    def settle(self) -> bool: ...


class Settles(Protocol):
    def settle(self) -> Sized: ...


@dataclass(frozen=True)
class Pass:
    """What one pass did (kept for `status`-like views and tests)."""

    head: int | None
    tracked: bool
    settled: bool
    redeemed: bool
    built: bool
    dispatched: bool

    @property
    def busy(self) -> bool:
        return self.tracked or self.settled or self.redeemed or self.built or self.dispatched


class RelayerLoop:
    def __init__(
        self,
        pipeline: MintSteps,
        redemptions: Settles,
        head: Callable[[], int],
        leadership: Leadership,
        poll_s: float,
    ) -> None:
        self.pipeline = pipeline
        self.redemptions = redemptions
        self.head = head
        self.leadership = leadership
        self.poll_s = poll_s
        self.passes: deque[Pass] = deque(maxlen=1000)  # the last passes that did something
        self.errors = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._head: int | None = None
        self._tracked_at = 0.0
        self._failures = 0
        self._failed = False
        self._resume_at = 0.0

    def wake(self) -> None:
        """Run a pass now (e.g. credit was recorded) instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Pass after pass until `stop()`; a pass that did work is followed by another at once."""
        try:
            while not self._stop.is_set():
                self._wake.clear()  # before the pass: a wake during it runs another at once
                try:
                    busy = self.iterate()
                except Exception:  # the steps catch their own; this is the loop's bookkeeping
                    log.exception("relayer pass failed")
                    busy = False
                if not busy:
                    self._wake.wait(self.poll_s)
        finally:
            self.leadership.release()

    def iterate(self) -> bool:
        """One pass, if this process leads the chain; True when it did something."""
        now = time.monotonic()
        if now < self._resume_at or not self.leadership.poll():
            return False
        self._failed = False
        head = self._step("head", self.head)
        moved = head is not None and head != self._head
        tracked = settled = redeemed = False
        if moved or now - self._tracked_at >= TRACK_EVERY_S:
            self._head, self._tracked_at = head if head is not None else self._head, now
            tracked = bool(self._step("track", self.pipeline.track))
            if tracked:  # an inclusion or a confirmation: hand it on in this pass, not at the next poll
                settled = bool(self._step("settle", self.pipeline.settle))
                redeemed = bool(self._step("redemption settle", self.redemptions.settle))
        built = bool(self._step("build", self.pipeline.build))
        dispatched = bool(self._step("dispatch", self.pipeline.dispatch))
        done = Pass(head, tracked, settled, redeemed, built, dispatched)
        if done.busy:
            self.passes.append(done)
        if self._failed:  # NOTE: a flaky RPC or database never ends the loop; it backs off briefly
            self._failures += 1
            self._resume_at = time.monotonic() + min(BACKOFF_MAX_S, self.poll_s * 2**self._failures)
        else:
            self._failures = 0
        return done.busy

    def _step(self, name: str, fn: Callable[[], T]) -> T | None:
        if not self.leadership.poll():  # stepped down mid-pass: act no more
            return None
        try:
            return fn()
        except Exception:
            self._failed = True
            self.errors += 1
            log.exception("relayer %s failed; backing off", name)
            return None
