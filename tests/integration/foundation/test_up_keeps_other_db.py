"""`loyalty up` deletes only the embedded default's own file, says so, and never one a running instance uses."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from devtools.processes import free_port

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(
        {
            "LOYALTY_VAR_DIR": str(tmp_path / "var"),  # the embedded default lives here, not in the repository
            "LOYALTY_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
            "LOYALTY_ENV": "development",
        }
    )
    env.update(extra)
    return env


def _up(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "backend.entrypoints.cli.main", "up", "--no-demo", "--port", str(port)]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _up_once(env: dict[str, str], port: int) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "backend.entrypoints.cli.main", "up", "--no-demo", "--port", str(port)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[int]:
    """A real `loyalty up`, serving until the block ends; yields its port."""
    port = free_port()
    process = _up(env, port, log)
    deadline = time.monotonic() + 180
    try:
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_up_never_deletes_a_database_it_does_not_use_nor_one_in_use(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    db = tmp_path / "var" / "embedded.db"
    db.write_bytes(b"an earlier embedded run")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE marker (note TEXT)")
        conn.execute("INSERT INTO marker VALUES ('keep me')")
    first_log = tmp_path / "first.log"

    with serving(_env(tmp_path), first_log) as port:
        assert f"Deleted {db.resolve()} " in first_log.read_text()  # says what it deletes: the stale default
        size = db.stat().st_size

        # A second instance on the same database (another port): the database lock refuses it.
        same = _up_once(_env(tmp_path), free_port())
        assert same.returncode != 0
        assert f"{db.resolve()} is in use by a running `loyalty up`" in same.stderr
        assert "Deleted" not in same.stderr

        # A second instance on another database runs beside it and leaves the running one's file alone.
        second_log = tmp_path / "second.log"
        with serving(_env(tmp_path, LOYALTY_DATABASE_URL=f"sqlite:///{other}"), second_log):
            assert f"Using database {other.resolve()} (kept as is)" in second_log.read_text()
            assert "Deleted" not in second_log.read_text()
        assert db.exists() and db.stat().st_size >= size
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200  # the first still serves

        # The running instance's API port taken: refused before anything is touched.
        taken = _up_once(_env(tmp_path, LOYALTY_DATABASE_URL=f"sqlite:///{tmp_path / 'third.db'}"), port)
        assert taken.returncode != 0
        assert f"port {port} is already taken" in taken.stderr
        assert not (tmp_path / "third.db").exists()

    with sqlite3.connect(other) as conn:
        assert conn.execute("SELECT note FROM marker").fetchall() == [("keep me",)]
