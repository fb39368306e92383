"""One active relayer per chain, the others hot standbys: whoever holds the chain's lock leads.

PostgreSQL: a session-level advisory lock on a connection of its own, held for the leader's life. When the leader's
process dies its connection closes and PostgreSQL releases the lock; a standby retrying every second takes over.
SQLite (embedded): an exclusive `flock` on a file next to the database; in-memory SQLite: a process-local lock.
Who leads is read from the lock itself (`pg_locks` + the connection's application name, or the lock file's content).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger("loyalty.relayer.leadership")
RETRY_S = 1.0  # a standby tries to take the lock this often
CHECK_S = 1.0  # a leader checks its lock connection at most this often


@dataclass(frozen=True)
class Leader:
    """Who holds a chain's relayer lock."""

    pid: int
    host: str
    since: datetime

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since.isoformat(timespec='seconds')}"


def lock_key(chain_id: int) -> int:
    """The chain's advisory lock key: a signed 64-bit hash of "loyalty-relayer" and the chain id."""
    digest = hashlib.blake2b(f"loyalty-relayer:{chain_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _me() -> Leader:
    return Leader(os.getpid(), socket.gethostname(), datetime.now(UTC).replace(microsecond=0))


class Leadership:
    """`poll()` says whether this candidate acts now: a standby takes the lock when it is free (at most every
    `retry_s`), a leader checks it still holds it (at most every `check_s`) and steps down when it lost it.

    NOTE: a leader whose lock connection broke learns it at its next check, up to `check_s` later, while PostgreSQL
    has already handed the lock on. So a new leader only starts acting `grace_s` (> `check_s`) after it took the
    lock: by then the old one has stopped, and two active relayers never overlap.
    """

    def __init__(
        self, chain_id: int, *, retry_s: float = RETRY_S, check_s: float = CHECK_S, grace_s: float | None = None
    ) -> None:
        self.chain_id = chain_id
        self.retry_s, self.check_s = retry_s, check_s
        self.grace_s = check_s + 0.5 if grace_s is None else grace_s
        self.is_leader = False  # holds the lock (acting once the grace period is over)
        self._next_try = self._next_check = self._active_at = 0.0
        self._announced_standby = False

    def poll(self) -> bool:
        now = time.monotonic()
        if self.is_leader and now >= self._next_check:
            self._next_check = now + self.check_s
            if not self._still_held():
                self.is_leader = False
                log.warning("relayer chain %s: lost the leader lock; standby", self.chain_id)
                self._drop()
                self._next_try = now + self.retry_s  # not at once: a standby that is retrying gets its turn
        if not self.is_leader and now >= self._next_try:
            self._next_try = now + self.retry_s
            self._take(now)
        return self.is_leader and now >= self._active_at

    def _take(self, now: float) -> None:
        try:
            taken = self._try_lock()
        except Exception as exc:  # a database that is away: stay standby, try again later
            log.warning("relayer chain %s: cannot take the leader lock (%s); standby", self.chain_id, exc)
            self._drop()
            return
        if taken:
            self.is_leader, self._announced_standby = True, False
            self._next_check, self._active_at = now + self.check_s, now + self.grace_s
            log.info("relayer chain %s: leader (pid %s on %s)", self.chain_id, os.getpid(), socket.gethostname())
        elif not self._announced_standby:
            self._announced_standby = True
            try:
                leader = self.leader()
            except Exception:  # only for the log line
                leader = None
            log.info("relayer chain %s: standby; leader %s", self.chain_id, leader.describe() if leader else "unknown")

    def release(self) -> None:
        if self.is_leader:
            log.info("relayer chain %s: stepping down", self.chain_id)
        self.is_leader = False
        self._drop()

    def close(self) -> None:
        self.release()

    # -- one implementation per kind of lock --------------------------------------------------------------------

    def leader(self) -> Leader | None:
        raise NotImplementedError

    def _try_lock(self) -> bool:
        raise NotImplementedError

    def _still_held(self) -> bool:
        return True

    def _drop(self) -> None:
        """Release the lock (if held) and whatever holds it."""


class PostgresLeadership(Leadership):
    """A session-level `pg_try_advisory_lock` on a dedicated connection (not one of the pool's)."""

    def __init__(self, engine: Engine, chain_id: int, **timing: float) -> None:
        super().__init__(chain_id, **timing)
        self.key = lock_key(chain_id)
        # NOTE: keepalives on both ends: a leader cut off from the database notices within seconds (its check
        # fails), and the server drops the dead session (releasing the lock) only after that.
        keepalive = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
        self._engine = create_engine(
            engine.url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 5, "options": keepalive, "application_name": "loyalty-relayer"},
        )
        self._conn: Connection | None = None

    def _try_lock(self) -> bool:
        if self._conn is None:
            self._conn = self._engine.connect()
        if not self._conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}):
            return False
        me = _me()
        # application_name (63 bytes at most) tells `status` who leads and since when
        name = f"loyalty-relayer {me.pid} {int(me.since.timestamp())} {me.host}"[:63]
        self._conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name})
        return True

    def _still_held(self) -> bool:
        try:
            assert self._conn is not None
            self._conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # the session ends: PostgreSQL releases its locks
                conn.close()
            except Exception:
                log.debug("closing the leader lock connection failed", exc_info=True)

    def leader(self) -> Leader | None:
        with self._engine.connect() as conn:
            return postgres_leader(conn, self.chain_id)

    def close(self) -> None:
        self.release()
        self._engine.dispose()


def postgres_leader(conn: Connection, chain_id: int) -> Leader | None:
    """The session holding the chain's advisory lock in this database, from `pg_locks`."""
    key = lock_key(chain_id) & 0xFFFF_FFFF_FFFF_FFFF  # a bigint key shows as classid (high) + objid (low 32 bits)
    row = conn.execute(
        text(
            "SELECT a.pid, a.application_name, a.client_hostname, a.client_addr::text, a.backend_start"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"hi": key >> 32, "lo": key & 0xFFFF_FFFF},
    ).first()
    if row is None:
        return None
    pid, name, hostname, addr, started = row
    parts = str(name or "").split(" ", 3)
    if len(parts) == 4 and parts[0] == "loyalty-relayer" and parts[1].isdigit() and parts[2].isdigit():
        return Leader(int(parts[1]), parts[3], datetime.fromtimestamp(int(parts[2]), UTC))
    return Leader(int(pid), str(hostname or addr or "?"), started)  # a session of another version: its backend


class FileLeadership(Leadership):
    """An exclusive `flock` on `<db path>.relayer-<chain id>.lock`; the file says who holds it."""

    def __init__(self, path: Path, chain_id: int, **timing: float) -> None:
        super().__init__(chain_id, **timing)
        self.path = path
        self._file: IO[str] | None = None

    def _try_lock(self) -> bool:
        file = self.path.open("a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        me = _me()
        file.seek(0)
        file.truncate()
        file.write(json.dumps({"pid": me.pid, "host": me.host, "since": me.since.isoformat()}))
        file.flush()
        self._file = file
        return True

    def _drop(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()  # closing the descriptor releases the flock

    def leader(self) -> Leader | None:
        if not self.path.exists():
            return None
        with self.path.open("r") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held: the holder wrote who it is
                data: dict[str, Any] = json.loads(file.read() or "{}")
                if not data:
                    return None
                return Leader(int(data["pid"]), str(data["host"]), datetime.fromisoformat(data["since"]))
            return None  # nobody holds it (a leftover file)


_LOCAL_LOCK = threading.Lock()
_LOCAL: dict[int, Leader] = {}


class LocalLeadership(Leadership):
    """A process-local lock, for an in-memory database that no other process can see."""

    _held = False

    def _try_lock(self) -> bool:
        with _LOCAL_LOCK:
            if self.chain_id in _LOCAL:
                return False
            _LOCAL[self.chain_id] = _me()
            self._held = True
            return True

    def _drop(self) -> None:
        if self._held:
            self._held = False
            with _LOCAL_LOCK:
                _LOCAL.pop(self.chain_id, None)

    def leader(self) -> Leader | None:
        with _LOCAL_LOCK:
            return _LOCAL.get(self.chain_id)


def leadership_for(engine: Engine, chain_id: int, **timing: float) -> Leadership:
    """The chain's relayer lock on this database: an advisory lock, a lock file or a process-local lock."""
    if engine.dialect.name == "postgresql":
        return PostgresLeadership(engine, chain_id, **timing)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return FileLeadership(Path(f"{database}.relayer-{chain_id}.lock"), chain_id, **timing)
    return LocalLeadership(chain_id, **timing)
