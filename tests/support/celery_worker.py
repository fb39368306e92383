"""A real Celery worker in its own process group, for tests that SIGKILL it mid-run and start it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def start_worker(settings: dict[str, str], tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """`celery worker` with `settings` (LOYALTY_* variables) on top of this environment; stderr → worker.log."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "backend.entrypoints.worker.celery_app",
        "worker",
        "--loglevel",
        "WARNING",
    ]
    with open(tmp_path / "worker.log", "ab") as log:
        return subprocess.Popen(
            [*command, *args],
            cwd=REPO,
            env={**os.environ, **settings},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # its own process group: SIGKILL reaches the pool children too
        )


def start_relayer(settings: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    """`loyalty relayer run` (signs, sends, tracks: no Celery task does) with `settings`; output → relayer.log."""
    loyalty = str(Path(sys.executable).parent / "loyalty")
    with open(tmp_path / "relayer.log", "ab") as log:
        return subprocess.Popen(
            [loyalty, "relayer", "run"],
            cwd=REPO,
            env={**os.environ, **settings},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def kill(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def wait_for(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return False
