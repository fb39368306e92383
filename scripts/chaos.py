"""Proof under fire: the real system as separate processes, a seeded load and a seeded fault schedule, a verdict.

    .venv/bin/python scripts/chaos.py [--quick] [--seed N] [--actions N]

Starts anvil (`--block-time 2`; 1 with --quick), a fault-injecting JSON-RPC proxy in front of it, a private
redis-server on a free port (the machine's Redis is shared: restarting that one is not ours to do), a fresh
PostgreSQL database (dropped at the end), the API (`uvicorn --workers 2`), a Celery worker and beat, the relayer
(`loyalty relayer run`, a leader and a hot standby) and the indexer (`loyalty indexer run`). API, workers, relayers
and indexer reach the chain through the proxy.

Load (loopback, bounded in count and time): several brands onboarded through the API (promotion with referral
bonuses, an offer, QR campaigns), purchases from thousands of wallets (single and bulk uploads), refunds (at once,
while the credit is pending → reversal; later, once minted → debt), referrals, QR claims with concurrent and late
duplicates, forged, malformed and expired codes (devtools/chaos/), gasless redemptions by shoppers who
sign in with SIWE and sign EIP-712, replays of the same idempotency key (same body → same result, other body →
409) and bad inputs (must be 4xx problem+json, never 5xx).

Faults, scheduled from `random.Random(seed)`: SIGKILL + restart of the Celery worker, the beat, the indexer, the
active relayer (the standby takes over) and one uvicorn worker; restart of the private Redis (data lost);
"database restart" = `pg_terminate_backend` of every connection to the run's database (the shared PostgreSQL server
itself is not restarted); anvil reorgs of depth 1–5; base-fee spikes; proxy windows that drop, delay and fail
requests.

Verdict after the load stops and the system drains: for every (token, wallet) the ledger or the mirror knows,
chain balance == Σ credit − Σ reversal − Σ debt_offset − Σ confirmed redemptions, and minted credit == that
ledger net; each claimed QR code has one claim and one credit; no credit or redemption left pending, no batch
id minted twice, relay intents terminal and on-chain nonce == next nonce per hot wallet, `loyalty indexer
reconcile` passes, `loyalty audit export` + `verify` pass, no 5xx. The last stdout line is one JSON object;
exit 1 on any violated invariant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from devtools.anvil import AnvilNode
from devtools.chaos.faults import FAULTS, RELAYERS, Faults
from devtools.chaos.invariants import check_balances, check_qr, check_redemptions
from devtools.chaos.load import Load
from devtools.chaos.plan import build_plan, make_shoppers
from devtools.chaos.redeemers import Redeemers
from devtools.chaos.setup import onboard
from devtools.chaos.tally import QrTally, RedemptionTally, Tally, brief, say
from devtools.chaos.verdict import BIN, verdict, wait_drained
from devtools.postgres import fresh_database
from devtools.processes import Proc, api_command, free_port, stop_all, wait_for
from devtools.rpc_proxy import RpcProxy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few minutes: ~1,500 actions, ~6 faults, 1 s blocks")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--actions", type=int, default=None)
    parser.add_argument("--faults", type=int, default=None)
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp directory with process logs")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    n_actions = args.actions or (1_500 if args.quick else 10_000)
    n_faults = args.faults or (len(FAULTS) if args.quick else 3 * len(FAULTS))  # every kind at least once
    block_time = 1 if args.quick else 2
    load_budget_s = 300.0 if args.quick else 1500.0
    n_brands = 3 if args.quick else 5
    qr_codes = 60 if args.quick else 300  # per brand
    n_shoppers = 12 if args.quick else 40
    bulk_share = 0.3 if args.quick else 0.95  # purchases uploaded through /v1/actions:batch
    run = uuid.uuid4().hex[:8]
    say(f"seed {args.seed}, {n_actions} actions, {n_faults} faults, anvil --block-time {block_time}")

    procs: dict[str, Proc] = {}
    tally = Tally()
    qr_tally = QrTally()
    redemption_tally = RedemptionTally()
    violations: list[str] = []
    summary: dict[str, Any] = {"seed": args.seed, "quick": args.quick, "block_time_s": block_time}
    stop = threading.Event()  # ends the fault schedule
    sup_stop = threading.Event()  # ends the supervisor (after the verdict)
    tmp = Path(tempfile.mkdtemp(prefix="chaos-"))

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    faults: Faults | None = None
    try:
        with contextlib.ExitStack() as stack:
            db_url = stack.enter_context(fresh_database())
            db_name = make_url(db_url).database or ""
            # NOTE: `--slots-in-an-epoch 1`: anvil's `finalized` tag then trails the head by 2 blocks, as Polygon's
            # milestones finalize within seconds (anvil's default of 64 blocks would be Ethereum's finality)
            anvil = stack.enter_context(AnvilNode(block_time=block_time, extra_args=["--slots-in-an-epoch", "1"]))
            proxy = stack.enter_context(RpcProxy(anvil.url, seed=args.seed))
            stack.callback(stop_all, procs)  # before anvil, db
            redis_port = free_port()
            procs["redis"] = Proc(
                "redis",
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                {},
                tmp,
            )
            procs["redis"].start()
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            import redis as redis_lib

            wait_for(lambda: bool(redis_lib.Redis.from_url(redis_url).ping()), 20, "redis")
            env = {
                "LOYALTY_ENV": "development",
                "LOYALTY_DATABASE_URL": db_url,
                "LOYALTY_RPC_URLS": proxy.url,
                "LOYALTY_REDIS_URL": redis_url,
                "LOYALTY_REDIS_PREFIX": f"chaos:{run}:",
                "LOYALTY_DEPLOYMENTS_DIR": str(tmp / "deployments"),
                "LOYALTY_ADMIN_EMAIL": "chaos@example.com",
                "LOYALTY_ADMIN_PASSWORD": "chaos-password-0123456789",
                "LOYALTY_BATCH_WINDOW_S": "2",
                # NOTE: the load comes from one loopback address standing in for thousands of shoppers' phones.
                "LOYALTY_RATE_LIMIT_PER_IP": "0",
            }
            say(f"database {db_name}, anvil {anvil.url}, proxy {proxy.url}, redis :{redis_port}")
            os.environ.update(env)
            os.environ["LOYALTY_RPC_URLS"] = anvil.url  # migrations + deploy straight to the node, once
            from backend.bootstrap import provision
            from backend.config import Settings

            provision(Settings()).close()  # `loyalty migrate` + `loyalty deploy`, before any API worker
            os.environ["LOYALTY_RPC_URLS"] = proxy.url
            api_port = free_port()
            py = sys.executable
            procs["api"] = Proc(
                "api",
                api_command([py, "-m", "uvicorn"], api_port),
                env,
                tmp,
            )
            procs["celery_worker"] = Proc(
                "celery_worker",
                [
                    str(BIN / "celery"),
                    "-A",
                    "backend.entrypoints.worker.celery_app",
                    "worker",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    "2",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"chaos{run}@%h",
                ],
                env,
                tmp,
            )
            procs["beat"] = Proc(
                "beat",
                [
                    str(BIN / "celery"),
                    "-A",
                    "backend.entrypoints.worker.celery_app",
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "-s",
                    str(tmp / "beat-schedule"),
                ],
                env,
                tmp,
            )
            procs["indexer"] = Proc("indexer", [str(BIN / "loyalty"), "indexer", "run"], env, tmp)
            for name in RELAYERS:  # one leads, the other stands by (`relayer` fault: SIGKILL the leader)
                procs[name] = Proc(name, [str(BIN / "loyalty"), "relayer", "run"], env, tmp)
            for name in ("api", "celery_worker", "beat", "indexer", *RELAYERS):
                procs[name].start()
            base = f"http://127.0.0.1:{api_port}"

            def healthy() -> bool:
                if not procs["api"].alive():
                    raise RuntimeError(f"API exited:\n{procs['api'].tail()}")
                return httpx.get(f"{base}/health", timeout=2).status_code == 200

            wait_for(healthy, 180, "API health")
            brands = onboard(base, env["LOYALTY_ADMIN_EMAIL"], env["LOYALTY_ADMIN_PASSWORD"], n_brands, run, qr_codes)
            shoppers = make_shoppers(brands, n_shoppers, rng)
            first, later = build_plan(brands, n_actions, rng, run, shoppers, bulk_share)
            say(f"{len(brands)} brands onboarded; {len(first)} + {len(later)} requests planned; load starts")

            faults = Faults(
                {
                    "procs": procs,
                    "anvil": anvil,
                    "proxy": proxy,
                    "db_name": db_name,
                    "admin_engine": create_engine(
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
                    ),
                },
                random.Random(args.seed + 1),
            )
            fault_span_s = 40.0 if args.quick else 300.0
            plan = faults.schedule(n_faults, fault_span_s)
            load_started = time.monotonic()
            faults.started = load_started
            load_epoch = time.time()  # credit timestamps → seconds since the load started

            def fault_loop() -> None:
                assert faults is not None
                for at, kind in plan:
                    while time.monotonic() - load_started < at:
                        if stop.wait(0.2):
                            return
                    try:
                        faults.fire(kind)
                    except Exception as exc:
                        say(f"fault {kind} could not be injected: {exc}")

            crashes: list[str] = []

            def supervise() -> None:  # like systemd Restart=always: a process that exits on its own is restarted
                while not sup_stop.wait(1.0):
                    for name, proc in list(procs.items()):
                        if proc.lock.locked() or proc.alive() or sup_stop.is_set():
                            continue
                        with proc.lock:
                            code = proc.popen.poll() if proc.popen else None
                            crashes.append(f"{name} exited on its own (code {code}); last log: {proc.tail(300)!r}")
                            say(f"supervisor: {name} exited (code {code}), restarting")
                            proc.start()
                            proc.restarts += 1

            threading.Thread(target=supervise, daemon=True).start()
            fault_thread = threading.Thread(target=fault_loop, daemon=True)
            fault_thread.start()
            load = Load(base, tally, qr_tally, time.monotonic() + load_budget_s)
            redeemers = Redeemers(base, shoppers, time.monotonic() + load_budget_s, tally.violation, redemption_tally)
            redeem_thread = threading.Thread(target=redeemers.run, daemon=True)
            redeem_thread.start()
            elapsed = load.run(first, later, pace_s=fault_span_s)
            redeem_thread.join(timeout=load_budget_s + 60)
            fault_thread.join(timeout=60 if args.quick else 320)
            stop.set()
            proxy.set_rates()
            summary["load_s"] = round(elapsed, 1)
            summary["actions_accepted_per_s"] = round(tally.accepted / elapsed, 1) if elapsed else 0.0
            say(f"load done: {tally.accepted} accepted in {elapsed:.1f}s; draining")
            # after the faults: every killed process must be back (or we restart nothing: they were restarted)
            for name in ("api", "celery_worker", "beat", "indexer", "redis", *RELAYERS):
                if not procs[name].alive():
                    violations.append(f"{name} not running after the faults:\n{procs[name].tail(500)}")
            engine = create_engine(db_url)
            drained = wait_drained(engine, 180 if args.quick else 600)
            if not drained:
                violations.append("system did not drain within the bounded wait")
            from web3 import Web3

            w3 = Web3(Web3.HTTPProvider(anvil.url))
            time.sleep(3 * block_time)
            summary.update(verdict(engine, w3, env, anvil.url, db_url, tmp, violations, load_epoch))
            block = w3.eth.block_number
            summary.update(check_balances(engine, anvil.url, block, violations))
            summary.update(check_qr(engine, qr_tally, violations))
            summary.update(check_redemptions(engine, redemption_tally, violations))
            sup_stop.set()
            violations.extend(f"crash: {c}" for c in crashes)
            engine.dispose()
            if args.keep_logs:
                say(f"logs in {tmp}")
            procs_restarts = {n: p.restarts for n, p in procs.items()}
            summary["restarts"] = procs_restarts
    except KeyboardInterrupt:
        violations.append("interrupted")
    except Exception as exc:
        violations.append(f"harness error: {type(exc).__name__}: {exc}")
        for p in procs.values():
            say(f"--- {p.name} log tail ---\n{p.tail(1500)}")
    finally:
        stop.set()
        sup_stop.set()
        stop_all(procs)
        # NOTE: a 5xx answer or a crash is explained by the server's own traceback; keep it with the verdict.
        tracebacks = {name: p.tracebacks()[:5] for name, p in procs.items() if name.startswith("api")}
        for name, blocks in tracebacks.items():
            for block in blocks:
                say(f"--- {name} traceback ---\n{block}")
        if not args.keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)
    violations = tally.violations + [brief(v) for v in violations]
    statuses = dict(tally.statuses + redemption_tally.statuses)
    five_xx = sum(n for s, n in statuses.items() if s >= 500)
    if five_xx:
        violations.append(f"{five_xx} responses with status 5xx")
    injected = sum(faults.injected.values()) if faults else 0
    result = {
        "ok": not violations,
        "actions_accepted": tally.accepted,
        "faults_injected": injected,
        "faults": dict(faults.injected) if faults else {},
        "violations": violations,
        "latency_p95_s": summary.get("latency_p95_s"),
        "seed": args.seed,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "bad_inputs_rejected_with_problem": tally.rejected_ok,
        "accepted_by_kind": dict(tally.by_kind),
        "requests_skipped_by_time_budget": tally.skipped,
        "api_tracebacks": [block.splitlines()[-1] for blocks in tracebacks.values() for block in blocks],
        **summary,
    }
    print("== chaos summary ==")
    print(f"seed {args.seed}  anvil block time {block_time}s{' (--quick)' if args.quick else ''}")
    print(f"actions accepted {tally.accepted} ({summary.get('actions_accepted_per_s')}/s), statuses {statuses}")
    print(f"faults injected and survived: {injected} {dict(faults.injected) if faults else {}}")
    if faults:
        for entry in faults.log:
            print(f"  - {entry}")
    print(
        f"action → confirmed p50/p95/p99: {summary.get('latency_p50_s')}/{summary.get('latency_p95_s')}/"
        f"{summary.get('latency_p99_s')} s; gas per action {summary.get('gas_per_action')}"
    )
    for window in summary.get("slowest_windows", []):
        print(f"  slow window {window}")
    print("verdict: OK" if not violations else "verdict: VIOLATIONS")
    for v in violations:
        print(f"  ✗ {v}")
    print(json.dumps(result, default=str))
    return 0 if not violations else 1


if __name__ == "__main__":
    sys.exit(main())
