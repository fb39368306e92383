"""The production shape as separate processes on one machine, for benchmarks: anvil, PostgreSQL, Redis, the API
under uvicorn, Celery worker and beat, the relayer (when the CLI has `loyalty relayer run`) and the indexer.

    with Stack(tmp, run="ab12cd34", anvil_args=[...]) as stack:
        stack.base_url, stack.env, stack.db_url, stack.anvil

The process list is data (`process_specs`), so a new process kind is one line. PostgreSQL and Redis are the
machine's (a fresh database per run, a Redis key prefix per run); anything missing raises `StackError` with what
to start.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devtools.anvil import AnvilNode, anvil_available
from devtools.postgres import PG_ADMIN_URL, fresh_database
from devtools.processes import REPO, Proc, api_command, free_port, stop_all

BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("LOYALTY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


class StackError(RuntimeError):
    """A service the stack needs is missing, or a process did not come up."""


def relayer_has_run_command() -> bool:
    """Whether this checkout's CLI runs the relayer as its own process (`loyalty relayer run`)."""
    out = subprocess.run(
        [str(BIN / "loyalty"), "relayer", "--help"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return out.returncode == 0 and re.search(r"^\W*run\b", out.stdout, re.MULTILINE) is not None


def process_specs(api_port: int, schedule: Path, relayer: bool) -> list[tuple[str, list[str]]]:
    """(name, command) of each serving process, in start order; product defaults (no tuning flags)."""
    loyalty = str(BIN / "loyalty")
    specs = [
        ("api", api_command([str(BIN / "uvicorn")], api_port)),
        ("worker", [loyalty, "worker", "--loglevel", "WARNING"]),
        ("beat", [loyalty, "beat", "--loglevel", "WARNING", "--schedule", str(schedule)]),
        ("indexer", [loyalty, "indexer", "run"]),
    ]
    if relayer:  # NOTE: two candidates: one leads, the other stands by
        specs += [(f"relayer{n}", [loyalty, "relayer", "run"]) for n in (1, 2)]
    return specs


def check_services(pg_admin_url: str = PG_ADMIN_URL, redis_url: str = REDIS_URL) -> None:
    """Raise StackError naming every missing service (PostgreSQL, Redis, anvil)."""
    missing = []
    try:
        engine = create_engine(pg_admin_url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        missing.append(f"PostgreSQL at {make_url(pg_admin_url).render_as_string()} ({type(exc).__name__})")
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        missing.append(f"Redis at {redis_url} ({type(exc).__name__})")
    if not anvil_available():
        missing.append("anvil (node_modules/.bin/anvil; run scripts/setup.sh)")
    if missing:
        raise StackError("missing service(s): " + "; ".join(missing) + " (bash scripts/ensure_services.sh starts them)")


class Stack:
    """Starts the whole process set; `close()` (or leaving the `with`) stops it and drops the database."""

    def __init__(self, logdir: Path, run: str, anvil_args: list[str], block_time: float = 2) -> None:
        self.logdir, self.run, self.anvil_args, self.block_time = logdir, run, anvil_args, block_time
        self.procs: dict[str, Proc] = {}
        self._exit = contextlib.ExitStack()
        self.env: dict[str, str] = {}
        self.relayer_process = False

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        check_services()
        self.db_url = self._exit.enter_context(fresh_database())
        self.anvil = self._exit.enter_context(AnvilNode(block_time=self.block_time, extra_args=self.anvil_args))
        self._exit.callback(stop_all, self.procs)
        # NOTE: connection and location only; everything else stays at the product default.
        self.env = {
            "LOYALTY_DATABASE_URL": self.db_url,
            "LOYALTY_RPC_URLS": self.anvil.url,
            "LOYALTY_REDIS_URL": REDIS_URL,
            "LOYALTY_REDIS_PREFIX": f"bench:{self.run}:",
            "LOYALTY_DEPLOYMENTS_DIR": str(self.logdir / "deployments"),
        }
        for name, cmd in (["migrate", [str(BIN / "loyalty"), "migrate"]], ["deploy", [str(BIN / "loyalty"), "deploy"]]):
            done = subprocess.run(cmd, cwd=REPO, env={**os.environ, **self.env}, capture_output=True, text=True)
            if done.returncode != 0:
                raise StackError(f"loyalty {name} failed: {done.stderr[-1500:]}")
        self.relayer_process = relayer_has_run_command()
        self.api_port = free_port()
        for name, cmd in process_specs(self.api_port, self.logdir / "beat-schedule", self.relayer_process):
            self.procs[name] = Proc(name, cmd, self.env, self.logdir)
            self.procs[name].start()
        self.base_url = f"http://127.0.0.1:{self.api_port}"

        def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200
            return False

        deadline = time.monotonic() + 180
        while not healthy():
            if self.dead():
                raise StackError(f"{self.dead()[0]} exited at start:\n{self.procs[self.dead()[0]].tail(1500)}")
            if time.monotonic() > deadline:
                raise StackError(f"API not healthy within 180 s:\n{self.procs['api'].tail(1500)}")
            time.sleep(0.5)

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if not proc.alive()]

    def stop_processes(self) -> None:
        stop_all(self.procs)

    def close(self) -> None:
        self._exit.close()
