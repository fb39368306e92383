"""The sustained benchmark's load generator, its own process: open-loop single purchases over HTTP.

    python -m devtools.sustained.loadgen < spec.json   # last stdout line: the JSON report

Spec: {"port", "duration_s", "large_rate", "large": [api_key...], "small": [api_key...], "small_interval_s",
"wallets", "zipf_s", "seed", "prefix", "connections"}. Large brands share `large_rate` (a brand picked uniformly,
the wallet from a Zipf population); each small brand sends one action every `small_interval_s`. Arrivals follow the
clock, not the answers (open loop): an arrival waits for a free connection, and what was not sent when the step
ends plus a grace period is reported as `unsent`. Reports offered, sent, accepted, statuses and its own CPU.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import sys
import time
from collections import Counter
from typing import Any

from eth_utils import to_checksum_address

from devtools.loadgen import RawHttp, http_request

GRACE_S = 15.0


def wallets(n: int, seed: int) -> list[str]:
    return [to_checksum_address(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:20]) for i in range(n)]


def schedule(spec: dict[str, Any]) -> list[tuple[float, str, bool]]:
    """(offset s, api key, large?) of every arrival of the step, in time order."""
    rng = random.Random(spec["seed"])
    duration, arrivals = float(spec["duration_s"]), []
    if spec["large"] and spec["large_rate"] > 0:
        gap = 1.0 / spec["large_rate"]
        arrivals += [(i * gap, rng.choice(spec["large"]), True) for i in range(int(duration / gap))]
    interval = float(spec["small_interval_s"])
    for n, key in enumerate(spec["small"]):
        first = interval * n / max(1, len(spec["small"]))  # staggered, so the small brands do not arrive together
        arrivals += [(first + k * interval, key, False) for k in range(int((duration - first) / interval) + 1)]
    return sorted(a for a in arrivals if a[0] < duration)


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    population = wallets(int(spec["wallets"]), int(spec["seed"]) // 1000)
    weights = list(itertools.accumulate(1 / (k ** float(spec["zipf_s"])) for k in range(1, len(population) + 1)))
    rng = random.Random(spec["seed"])
    arrivals = schedule(spec)
    pool: asyncio.Queue[RawHttp] = asyncio.Queue()
    for _ in range(int(spec["connections"])):
        conn = RawHttp("127.0.0.1", int(spec["port"]))
        await conn.connect()
        pool.put_nowait(conn)
    statuses: Counter[int] = Counter()
    counts = {"sent": 0, "accepted": 0, "errors": 0}
    sample_error = ""
    started, started_epoch = time.monotonic(), time.time()

    async def send(n: int, key: str, large: bool) -> None:
        nonlocal sample_error
        conn = await pool.get()
        wallet = rng.choices(population, cum_weights=weights)[0] if large else rng.choice(population)
        ident = f"{spec['prefix']}-{n}"
        body = json.dumps(
            {
                "idempotency_key": ident,
                "type": "purchase",
                "wallet": wallet,
                "order_id": ident,
                "amount": "25.00",
                "currency": "EUR",
            }
        ).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        counts["sent"] += 1
        try:
            status, answer = await conn.request(http_request("POST", "/v1/actions", body, headers))
        except (OSError, asyncio.IncompleteReadError) as exc:
            counts["errors"] += 1
            sample_error = sample_error or f"{type(exc).__name__}: {exc}"
            conn = RawHttp("127.0.0.1", int(spec["port"]))
            await conn.connect()
        else:
            statuses[status] += 1
            if status == 201:
                counts["accepted"] += 1
            elif not sample_error:
                sample_error = answer[:300].decode(errors="replace")
        pool.put_nowait(conn)

    tasks = []
    for n, (at, key, large) in enumerate(arrivals):
        delay = started + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(n, key, large)))
    load_ended = time.monotonic()
    done, pending = await asyncio.wait(tasks, timeout=GRACE_S) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    return {
        "offered": len(arrivals),
        "offered_large": sum(1 for a in arrivals if a[2]),
        "sent": counts["sent"],
        "accepted": counts["accepted"],
        "unsent": len(arrivals) - counts["sent"],
        "transport_errors": counts["errors"],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "sample_error": sample_error,
        "started_epoch": started_epoch,
        "schedule_s": round(load_ended - started, 2),
        "finished": len(done),
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    cpu_before = time.process_time()
    try:
        import uvloop

        report = uvloop.run(run(spec))
    except ImportError:  # pragma: no cover
        report = asyncio.run(run(spec))
    report["cpu_s"] = round(time.process_time() - cpu_before, 2)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
