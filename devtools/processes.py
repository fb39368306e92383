"""Child processes for a harness run: restartable, killed with their children, logs and tracebacks kept."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Proc:
    """One child process (its own session, so a kill takes its children too); restartable."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logdir: Path, cwd: Path = REPO) -> None:
        self.name, self.cmd, self.env, self.cwd = name, cmd, env, cwd
        self.log = logdir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.lock = threading.Lock()  # a fault's restart and the supervisor never race

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.cmd, cwd=self.cwd, env={**os.environ, **self.env}, stdout=log, stderr=log, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(15)

    def stop(self) -> None:
        if self.alive():
            self.kill(signal.SIGTERM)
        if self.alive():
            self.kill(signal.SIGKILL)

    def restart(self) -> None:
        with self.lock:
            self.kill(signal.SIGKILL)
            self.restarts += 1
            self.start()

    def tail(self, n: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-n:]
        return ""

    def tracebacks(self) -> list[str]:
        """Each distinct traceback the process logged (its last frames and the exception line), first seen first."""
        with contextlib.suppress(OSError):
            return distinct_tracebacks(self.log.read_text(errors="replace"))
        return []


def distinct_tracebacks(log: str) -> list[str]:
    found: dict[str, str] = {}
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        end = i + 1
        while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
            end += 1
        if end < len(lines):
            found.setdefault(lines[end], "\n".join([*lines[max(i, end - 12) : end], lines[end]]))
    return list(found.values())


def stop_all(procs: dict[str, Proc]) -> None:
    for proc in reversed(list(procs.values())):
        proc.stop()


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.3)
    raise RuntimeError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_command(launcher: list[str], port: int) -> list[str]:
    """The production shape's API: uvicorn with 2 workers on 127.0.0.1 (`launcher` runs uvicorn)."""
    return [
        *launcher,
        "backend.entrypoints.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
