"""CPU seconds of a process tree and of a database's PostgreSQL backends, per item of work (from /proc)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by the API process tree and by PostgreSQL backends of the bench database (from /proc).

    NOTE: a backend that exits during the run takes its CPU time with it, so when the API's connection pool churns
    (concurrency above pool_size + idle overflow closed) `db_ms` is a lower bound.
    """

    def __init__(self, api_pid: int, database: str, db_url: str) -> None:
        self.api_pid, self.database, self.db_url = api_pid, database, db_url

    @staticmethod
    def _cpu_s(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def _tree(self, pid: int) -> list[int]:
        pids = [pid]
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                pids += self._tree(int(child))
        return pids

    def _db_backends(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    cmd = (entry / "cmdline").read_bytes()
                    if cmd.startswith(b"postgres:") and f" {self.database} ".encode() in cmd:
                        pids.append(int(entry.name))
        return pids

    def snapshot(self) -> tuple[dict[int, float], dict[int, float], float]:
        api = {p: self._cpu_s(p) for p in self._tree(self.api_pid)}
        db = {p: self._cpu_s(p) for p in self._db_backends()}
        return api, db, time.process_time()

    def per_item(self, before: tuple[dict[int, float], dict[int, float], float], items: int) -> dict[str, float]:
        api, db, client = self.snapshot()

        def used(now: dict[int, float], then: dict[int, float]) -> float:
            return sum(v - then.get(p, 0.0) for p, v in now.items())

        n = max(1, items)
        return {
            "api_ms": round(used(api, before[0]) * 1000 / n, 3),
            "db_ms": round(used(db, before[1]) * 1000 / n, 3),
            "load_generator_ms": round((client - before[2]) * 1000 / n, 3),
        }
