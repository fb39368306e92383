"""Sustained load on the production shape, product defaults only: offered vs achieved, action → final latency,
backlog, transactions per block, gas per action vs a plain `mint` per action, double mints, lost actions.

    .venv/bin/python scripts/bench_sustained.py [--quick] [--seed N] [--keep-logs]

Separate processes (devtools/stack.py): anvil (2 s blocks, 30M block gas limit, a `finalized` tag ~2 blocks
behind), a fresh PostgreSQL database, Redis, the API under uvicorn, Celery worker and beat, the relayer (when
`loyalty relayer run` exists) and the indexer. Only connection and location settings are set; every other
`LOYALTY_*` value differing from `backend.config.Settings` is listed in `non_default_settings` (expected: none).

Load (devtools/sustained/loadgen.py, its own process, over HTTP with the brands' keys): 5 large brands share the
rate (Zipf wallets), 20 small brands send one action every 10 s. Steps of 50, 100 and 200 actions/s held 3 minutes
(--quick: 50 and 100, 60 s), then one overload step at 2× the best sustained rate; then the backlog drains.
Progress on stderr; the last stdout line is one JSON object. Exit 1 on double mints or lost actions, 2 when a
service is missing or a process dies.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from web3 import Web3

from backend.bootstrap import bootstrap
from backend.config import Settings
from devtools.stack import Stack, StackError
from devtools.sustained import measure
from devtools.sustained.brands import BenchBrand, onboard
from devtools.sustained.figures import Step, drain_time_s, gas_ratio, step_figures, sustained_per_s
from devtools.sustained.naive import plain_mint_gas
from devtools.sustained.settings import non_default_settings, unknown_variables

ANVIL_ARGS = ["--gas-limit", "30000000", "--slots-in-an-epoch", "1"]  # chain configuration, not product settings
LARGE, SMALL, SMALL_INTERVAL_S = 5, 20, 10.0
WALLETS, ZIPF_S = 10_000, 1.1


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_step(stack: Stack, brands: list[BenchBrand], step: Step, hold_s: float, seed: int, run: str) -> None:
    small_rate = SMALL / SMALL_INTERVAL_S
    spec = {
        "port": stack.api_port,
        "duration_s": hold_s,
        "large_rate": max(0.0, step.offered_per_s - small_rate),
        "large": [b.api_key for b in brands if b.large],
        "small": [b.api_key for b in brands if not b.large],
        "small_interval_s": SMALL_INTERVAL_S,
        "wallets": WALLETS,
        "zipf_s": ZIPF_S,
        "seed": seed * 1000 + int(step.offered_per_s),
        "prefix": f"{run}-{step.name}",
        "connections": 64,
    }
    say(f"step {step.name}: {step.offered_per_s:g} actions/s for {hold_s:g} s")
    done = subprocess.run(
        [sys.executable, "-m", "devtools.sustained.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    if done.returncode != 0:
        raise StackError(f"load generator failed: {done.stderr[-1500:]}")
    step.load = json.loads(done.stdout.strip().splitlines()[-1])
    step.started = float(step.load["started_epoch"])
    step.ended = step.started + max(hold_s, float(step.load["schedule_s"]))
    if stack.dead():
        raise StackError(f"{stack.dead()[0]} died during step {step.name}:\n{stack.procs[stack.dead()[0]].tail(1500)}")
    say(f"step {step.name}: accepted {step.load['accepted']}/{step.load['offered']}, statuses {step.load['statuses']}")


def drain(sampler: measure.BacklogSampler, timeout_s: float, stall_s: float) -> None:
    """Wait until nothing is left, the backlog stops shrinking for `stall_s`, or `timeout_s` passed."""
    deadline, best, progressed = time.monotonic() + timeout_s, None, time.monotonic()
    while time.monotonic() < deadline and sampler.latest() != 0:
        latest = sampler.latest()
        if latest is not None and (best is None or latest < best):
            best, progressed = latest, time.monotonic()
        if time.monotonic() - progressed > stall_s:
            say(f"backlog stuck at {latest} for {stall_s:g} s; giving up the drain")
            return
        if int(time.monotonic()) % 30 < 2:
            say(f"draining: backlog {latest}")
        time.sleep(2)


def naive_gas(brands_tokens: dict[bool, str], run: str) -> dict[bool, tuple[float, float]]:
    container = bootstrap(Settings())
    try:
        return {large: plain_mint_gas(container, token, 20, f"{run}{large}") for large, token in brands_tokens.items()}
    finally:
        container.close()


def bench(args: argparse.Namespace, stack: Stack, run: str) -> dict[str, Any]:
    os.environ.update(stack.env)
    result: dict[str, Any] = {"non_default_settings": non_default_settings(Settings())}
    result["unknown_loyalty_variables"] = unknown_variables(dict(os.environ))
    result["relayer_process"] = stack.relayer_process
    say(f"stack up at {stack.base_url} (relayer process: {stack.relayer_process}); onboarding {LARGE}+{SMALL} brands")
    brands = onboard(stack.base_url, run, LARGE, SMALL)
    engine = create_engine(stack.db_url)
    w3 = Web3(Web3.HTTPProvider(stack.anvil.url))
    first_block = w3.eth.block_number
    sampler = measure.BacklogSampler(engine).start()
    hold_s = 60.0 if args.quick else 180.0
    steps = [Step(f"{rate}", rate) for rate in ((50, 100) if args.quick else (50, 100, 200))]
    for step in steps:
        run_step(stack, brands, step, hold_s, args.seed, run)
    credits = measure.credits(engine)
    sustained = sustained_per_s([step_figures(s, credits, sampler.samples, []) for s in steps])
    overload = Step("overload", max(10.0, math.ceil(2 * sustained / 10) * 10))
    run_step(stack, brands, overload, hold_s, args.seed, run)
    steps.append(overload)
    load_stopped = overload.ended
    say(f"load done (sustained {sustained:g}/s, overload {overload.offered_per_s:g}/s); draining")
    drain(sampler, args.drain_timeout, args.stall_s)
    sampler.stop()
    credits = measure.credits(engine)
    chain = measure.blocks(stack.anvil.url, first_block + 1, w3.eth.block_number, measure.hot_wallets(engine))
    rows = [step_figures(s, credits, sampler.samples, chain) for s in steps]
    drained_s = drain_time_s(sampler.samples, load_stopped)
    backlog_at_stop = next((n for t, n in sampler.samples if t >= load_stopped), 0)
    drain_window = Step("drain", 0.0, load_stopped, sampler.samples[-1][0] if sampler.samples else load_stopped)
    drain_row = step_figures(drain_window, credits, sampler.samples, chain)
    gas = measure.gas_by_brand(engine)
    tokens = measure.brand_tokens(engine)
    large_ids = {b.id for b in brands if b.large}
    integrity = measure.double_mints(engine, w3, stack.anvil.url, sorted(tokens.values()))
    stack.stop_processes()  # the naive baseline signs with a hot wallet: the relayer must be quiet
    samples = {True: tokens[min(large_ids)], False: tokens[min(b.id for b in brands if not b.large)]}
    naive = naive_gas(samples, run)
    for large, label in ((True, "large"), (False, "small")):
        group = [g for brand_id, g in gas.items() if (brand_id in large_ids) == large]
        total = {k: sum(g[k] for g in group) for k in ("gas", "actions", "fresh_pairs", "batches")}
        fresh, existing = naive[large]
        result[f"{label}_brand_gas_per_action"] = (
            round(total["gas"] / total["actions"], 1) if total["actions"] else None
        )
        result[f"{label}_brand_gas_ratio_vs_naive"] = gas_ratio(
            total["gas"], total["actions"], total["fresh_pairs"], fresh, existing
        )
        result[f"{label}_brand_batches"] = total["batches"]
        result[f"naive_mint_gas_{label}"] = {"fresh": round(fresh), "existing": round(existing)}
    accepted = sum(int(s.load["accepted"]) for s in steps)
    not_final = sum(1 for c in credits if c.final is None)
    result.update(
        steps=rows,
        sustained_per_s=sustained,
        overload_final_per_s=rows[-1]["final_per_s"],
        drain_time_s=drained_s,
        backlog_at_load_stop=backlog_at_stop,
        drain_per_s=round(backlog_at_stop / drained_s, 1) if drained_s else None,
        drain={k: drain_row[k] for k in ("duration_s", "final_per_s", "tx_per_block_mean", "tx_per_block_max")},
        double_mints=integrity["batches_minted_twice"] + integrity["holders_over_credited"],
        lost_actions=not_final + max(0, accepted - len(credits)),
        integrity=integrity,
        accepted=accepted,
        credits=len(credits),
        blocks=len(chain),
        load_generator_cpu_s=round(sum(float(s.load["cpu_s"]) for s in steps), 2),
    )
    engine.dispose()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="steps of 50 and 100 actions/s, 60 s each")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=3600.0, help="upper bound of the drain, seconds")
    parser.add_argument("--stall-s", type=float, default=120.0, help="drain ends when the backlog stops shrinking")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    logdir = Path(tempfile.mkdtemp(prefix="bench-sustained-"))
    started = time.time()
    result: dict[str, Any] = {
        "quick": args.quick,
        "seed": args.seed,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    code = 0

    def on_sigterm(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # NOTE: so the stack's processes are stopped and its database dropped

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with Stack(logdir, run, ANVIL_ARGS) as stack:
            result.update(bench(args, stack, run))
        code = 1 if result["double_mints"] or result["lost_actions"] else 0
    except StackError as exc:
        say(f"error: {exc}")
        result.update(ok=False, error=str(exc).splitlines()[0])
        code = 2
    except KeyboardInterrupt:
        result.update(error="interrupted")
        code = 130
    result.update(
        ok=code == 0, wall_s=round(time.time() - started, 1), load_average_end=[round(x, 2) for x in os.getloadavg()]
    )
    say(f"logs in {logdir}" if args.keep_logs else "done")
    if not args.keep_logs:
        subprocess.run(["rm", "-rf", str(logdir)], check=False)
    print(json.dumps(result, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
