"""The fault schedule (seeded) and how each fault is injected: kills, restarts, reorgs, fee spikes, RPC faults."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text

from devtools.chaos.tally import say
from devtools.processes import children

FAULTS = (
    "celery_worker",
    "beat",
    "indexer",
    "relayer",
    "api_worker",
    "redis",
    "database",
    "reorg",
    "base_fee",
    "proxy",
)
RELAYERS = ("relayer", "relayer2")  # `loyalty relayer run` twice: a leader and a hot standby


class Faults:
    def __init__(self, ctx: dict[str, Any], rng: random.Random) -> None:
        self.ctx, self.rng = ctx, rng
        self.injected: Counter[str] = Counter()
        self.log: list[str] = []
        self.started = time.monotonic()  # reset when the load starts: the log says when each fault fired

    def fire(self, kind: str) -> None:
        c = self.ctx
        detail = ""
        if kind in ("celery_worker", "beat", "indexer"):
            c["procs"][kind].restart()
        elif kind == "relayer":  # SIGKILL the active relayer; the standby takes over, the victim comes back standby
            pid = self._leading_relayer()
            victim = next((c["procs"][n] for n in RELAYERS if c["procs"][n].alive() and c["procs"][n].pid == pid), None)
            if victim is None:
                raise RuntimeError(f"no running relayer process leads (leader pid {pid})")
            victim.restart()
            detail = f"{victim.name} (pid {pid})"
        elif kind == "api_worker":
            workers = children(c["procs"]["api"].pid)
            workers = [w for w in workers if b"resource_tracker" not in Path(f"/proc/{w}/cmdline").read_bytes()]
            if not workers:
                raise RuntimeError("no uvicorn worker process found")
            if workers:
                victim = self.rng.choice(workers)
                os.kill(victim, signal.SIGKILL)
                detail = f"pid {victim}"
        elif kind == "redis":
            c["procs"]["redis"].restart()
        elif kind == "database":
            with c["admin_engine"].connect() as conn:
                n = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": c["db_name"]},
                ).scalar()
            detail = f"{n} connections terminated"
        elif kind == "reorg":  # shallow (1-2) or deeper than finality (anvil finalizes 2 blocks behind): 3-6
            depth = self.rng.randint(1, 6)
            c["anvil"].reorg(depth)
            detail = f"depth {depth}"
        elif kind == "base_fee":
            gwei = self.rng.choice((50, 200, 1000))
            c["anvil"].rpc("anvil_setNextBlockBaseFeePerGas", hex(gwei * 10**9))
            detail = f"{gwei} gwei"
        elif kind == "proxy":
            c["proxy"].set_rates(error=0.05, http_error=0.03, drop=0.03, delay=0.05)

            def calm() -> None:
                time.sleep(5)
                c["proxy"].set_rates()

            threading.Thread(target=calm, daemon=True).start()
            detail = "5 s of errors/drops/delays"
        self.injected[kind] += 1
        self.log.append(f"t+{time.monotonic() - self.started:.0f}s {kind} {detail}".strip())
        say(f"fault: {kind} {detail}")

    def _leading_relayer(self) -> int | None:
        """The leader's pid, from its lock session's application name (`loyalty-relayer <pid> <since> <host>`)."""
        with self.ctx["admin_engine"].connect() as conn:
            name = conn.execute(
                text(
                    "SELECT application_name FROM pg_stat_activity WHERE datname = :d"
                    " AND application_name LIKE 'loyalty-relayer %'"
                ),
                {"d": self.ctx["db_name"]},
            ).scalar()
        return int(name.split()[1]) if name else None

    def schedule(self, count: int, span_s: float) -> list[tuple[float, str]]:
        kinds = list(FAULTS)
        picks = (
            kinds[:count]
            if count <= len(kinds)
            else kinds + [self.rng.choice(kinds) for _ in range(count - len(kinds))]
        )
        self.rng.shuffle(picks)
        times = sorted(self.rng.uniform(0.1 * span_s, 0.9 * span_s) for _ in picks)
        return list(zip(times, picks, strict=True))
