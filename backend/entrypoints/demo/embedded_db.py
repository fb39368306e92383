"""`loyalty up`'s database: which file it may start fresh, and a lock so two instances never share (or wipe) one."""

from __future__ import annotations

import fcntl
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from backend.config import REPO_ROOT
from backend.errors import LoyaltyError

SQLITE_SUFFIXES = ("", "-wal", "-shm")


class EmbeddedDatabaseError(LoyaltyError):
    status = 409
    code = "embedded-database-in-use"
    title = "Database in use"


def default_db_path() -> Path:
    """The embedded default's own file (LOYALTY_VAR_DIR moves it, e.g. for tests)."""
    return Path(os.environ.get("LOYALTY_VAR_DIR") or REPO_ROOT / "var") / "embedded.db"


def sqlite_file(database_url: str) -> Path | None:
    """The file a `sqlite:///...` URL names, or None (PostgreSQL, in-memory SQLite)."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


@dataclass
class EmbeddedDatabase:
    """The database `loyalty up` is about to use; holds an exclusive lock on it while the instance runs."""

    url: str
    path: Path | None
    _lock: IO[str] | None = None

    @classmethod
    def configured(cls) -> EmbeddedDatabase:
        url = os.environ.get("LOYALTY_DATABASE_URL") or f"sqlite:///{default_db_path()}"
        return cls(url, sqlite_file(url))

    @property
    def is_embedded_default(self) -> bool:
        return self.path is not None and self.path == default_db_path().resolve()

    def lock(self) -> None:
        """Take the database's lock file, or refuse: another `loyalty up` is running on it."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held open for the process' lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise EmbeddedDatabaseError(
                f"{self.path} is in use by a running `loyalty up`; stop it first (nothing was deleted)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def start_fresh(self) -> list[Path]:
        """Delete the embedded default's file (and its WAL), only that one; returns what was deleted."""
        if not self.is_embedded_default or self.path is None:
            return []
        deleted = []
        for suffix in SQLITE_SUFFIXES:
            candidate = Path(f"{self.path}{suffix}")
            if candidate.exists():
                candidate.unlink()
                deleted.append(candidate)
        return deleted

    def release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def refuse_taken_port(host: str, port: int) -> None:
    """Refuse to start (before touching any data) when the API port already answers: an instance runs there."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host if host not in ("0.0.0.0", "") else "127.0.0.1", port)) == 0:
            raise EmbeddedDatabaseError(
                f"port {port} is already taken (another instance is running?); nothing was deleted"
            )
