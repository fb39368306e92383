"""What the fault run counts while the load runs: answers, violations, QR claims and redemptions."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def brief(message: str, limit: int = 400) -> str:
    """One line: box-drawing and runs of whitespace collapsed, long text cut in the middle."""
    flat = " ".join(message.translate({c: " " for c in range(0x2500, 0x2580)}).split())
    return flat if len(flat) <= limit else flat[: limit // 2] + " … " + flat[-limit // 2 :]


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.accepted = 0
        self.violations: list[str] = []
        self.rejected_ok = 0
        self.skipped = 0  # not sent: the load's time budget ran out
        self.by_kind: Counter[str] = Counter()

    def violation(self, message: str) -> None:
        message = brief(message)
        with self.lock:
            if len(self.violations) < 50:
                self.violations.append(message)


@dataclass
class QrTally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    created: Counter[str] = field(default_factory=Counter)  # code → 201 responses
    attempted: set[str] = field(default_factory=set)  # live codes claimed at least once
    refused: Counter[str] = field(default_factory=Counter)  # problem code → count


@dataclass
class RedemptionTally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    submitted: list[str] = field(default_factory=list)  # redemption ids accepted (202)
    bad_signature_refused: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
