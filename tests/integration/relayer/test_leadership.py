"""One active relayer per chain: candidates in separate processes (or connections) share one PostgreSQL; exactly
one acts, a SIGKILLed or cut-off leader is replaced within seconds, and two never act at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backend.adapters.db import make_engine
from backend.services.relayer.leadership import FileLeadership, PostgresLeadership, leadership_for, postgres_leader

pytestmark = pytest.mark.postgres
CHAIN = 4242
REPO = Path(__file__).resolve().parents[3]
# A candidate process: prints "act <monotonic time>" for every 20 ms tick in which it leads, "ready" after its first.
CANDIDATE = """
import sys, time
from backend.adapters.db import make_engine
from backend.services.relayer.leadership import PostgresLeadership
lead = PostgresLeadership(make_engine(sys.argv[1]), int(sys.argv[2]), retry_s=0.2, check_s=0.2)
polls = 0
while True:
    if lead.poll():
        print("act", time.monotonic(), flush=True)
    polls += 1
    if polls == 10:
        print("ready", flush=True)
    time.sleep(0.02)
"""


class Candidate:
    def __init__(self, pg_url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CANDIDATE, pg_url, str(CHAIN)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            text=True,
        )
        self.acts: list[float] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("act "):
                self.acts.append(float(line.split()[1]))
            elif line.startswith("ready"):
                self.ready.set()

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)
        return time.monotonic()


def wait_until(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_one_of_two_processes_leads_and_the_standby_takes_over_when_the_leader_is_sigkilled(pg_url: str) -> None:
    first = Candidate(pg_url)
    second: Candidate | None = None
    engine = create_engine(pg_url)
    try:
        assert wait_until(lambda: first.acts, 60), "the only candidate never led"
        second = Candidate(pg_url)
        assert second.ready.wait(60), "the standby never started"
        time.sleep(1.0)  # the standby tries the lock five times more
        assert not second.acts, "the standby acted while the leader was alive"
        with engine.connect() as conn:
            leader = postgres_leader(conn, CHAIN)
        assert leader is not None and leader.pid == first.proc.pid

        killed_at = first.kill()
        assert wait_until(lambda: second.acts, 15), "the standby did not take over within 15 s"
        assert max(first.acts) < killed_at < min(second.acts)  # never two at once
        with engine.connect() as conn:
            leader = postgres_leader(conn, CHAIN)
        assert leader is not None and leader.pid == second.proc.pid
    finally:
        for c in (first, second):
            if c is not None and c.proc.poll() is None:
                c.kill()
        engine.dispose()


def test_a_leader_that_loses_its_lock_connection_steps_down_before_the_standby_acts(pg_url: str) -> None:
    engine = make_engine(pg_url)
    a = PostgresLeadership(engine, CHAIN, retry_s=0.1, check_s=0.2)
    b = PostgresLeadership(engine, CHAIN, retry_s=0.1, check_s=0.2)
    samples: list[tuple[bool, bool]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((a.poll(), b.poll()))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    try:
        assert wait_until(lambda: a.poll(), 10)
        sampler.start()
        time.sleep(0.5)
        with engine.connect() as conn:  # the database ends the leader's session (a failover, an admin, a network cut)
            leader = postgres_leader(conn, CHAIN)
            assert leader is not None and leader.pid == os.getpid()
            held = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'loyalty-relayer %'")
            ).scalar_one()
            cut = len(samples)
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": held})
        assert wait_until(lambda: any(not x for x, _ in samples[cut:]), 10), "the leader did not step down"
        # NOTE: then whichever candidate takes the free lock first leads (the old one may win it back)
        assert wait_until(lambda: samples[-1] in ((True, False), (False, True)), 10), samples[-5:]
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join(5)
        a.close()
        b.close()
        engine.dispose()
    assert not any(x and y for x, y in samples), "two leaders acted at once"
    assert (True, False) in samples and (False, False) in samples[cut:]  # stepped down, then one leads again


def test_sqlite_leadership_is_a_file_lock_next_to_the_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'loyalty.db'}")
    a = leadership_for(engine, CHAIN, grace_s=0)
    b = leadership_for(engine, CHAIN, grace_s=0)
    assert isinstance(a, FileLeadership) and a.path == tmp_path / f"loyalty.db.relayer-{CHAIN}.lock"
    try:
        assert a.leader() is None
        assert a.poll() and not b.poll()
        leader = b.leader()
        assert leader is not None and leader.pid == os.getpid()
        a.release()
        b._next_try = 0.0  # retry now, not after a second
        assert b.poll() and not a.poll()
    finally:
        a.close()
        b.close()
        engine.dispose()
