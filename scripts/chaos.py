"""Proof under fire: the real system as separate processes, a seeded load and a seeded fault schedule, a verdict.

    .venv/bin/python scripts/chaos.py [--quick] [--seed N] [--actions N]

Starts anvil (`--block-time 2`; 1 with --quick), a fault-injecting JSON-RPC proxy in front of it, a private
redis-server on a free port (the machine's Redis is shared: restarting that one is not ours to do), a fresh
PostgreSQL database (dropped at the end), the API (`uvicorn --workers 2`), a Celery worker and beat, and the
indexer (`loyalty indexer run`). API, workers and indexer reach the chain through the proxy.

Load (loopback, bounded in count and time): several brands onboarded through the API (promotion with referral
bonuses, an offer, QR campaigns), purchases from thousands of wallets (single and bulk uploads), refunds (at once,
while the credit is pending → reversal; later, once minted → debt), referrals, QR claims with concurrent and late
duplicates, forged, malformed and expired codes (scripts/chaos_flows.py), gasless redemptions by shoppers who
sign in with SIWE and sign EIP-712, replays of the same idempotency key (same body → same result, other body →
409) and bad inputs (must be 4xx problem+json, never 5xx).

Faults, scheduled from `random.Random(seed)`: SIGKILL + restart of the Celery worker, the beat, the indexer and
one uvicorn worker; restart of the private Redis (data lost); "database restart" = `pg_terminate_backend` of
every connection to the run's database (the shared PostgreSQL server itself is not restarted); anvil reorgs of
depth 1–5; base-fee spikes; proxy windows that drop, delay and fail requests.

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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import chaos_flows  # noqa: E402
import httpx  # noqa: E402
from bench_ingest import free_port, fresh_database  # noqa: E402
from eth_utils import to_checksum_address  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.support.anvil import AnvilNode  # noqa: E402
from tests.support.rpc_proxy import RpcProxy  # noqa: E402

BIN = REPO / ".venv" / "bin"
PROBLEM_JSON = "application/problem+json"


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------------------------------------------


class Proc:
    """One child process (its own session, so a kill takes its children too); restartable."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name, self.cmd, self.env = name, cmd, env
        self.log = logdir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.lock = threading.Lock()  # a fault's restart and the supervisor never race

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.cmd, cwd=REPO, env={**os.environ, **self.env}, stdout=log, stderr=log, start_new_session=True
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


def brief(message: str, limit: int = 400) -> str:
    """One line: box-drawing and runs of whitespace collapsed, long text cut in the middle."""
    flat = " ".join(message.translate({c: " " for c in range(0x2500, 0x2580)}).split())
    return flat if len(flat) <= limit else flat[: limit // 2] + " … " + flat[-limit // 2 :]


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


# --- load ----------------------------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.accepted = 0
        self.violations: list[str] = []
        self.rejected_ok = 0
        self.skipped = 0  # not sent: the load's time budget ran out
        self.by_kind: Counter[str] = Counter()

    def violation(self, message: str) -> None:
        message = brief(message)
        with self.lock:
            if len(self.violations) < 50:
                self.violations.append(message)


Item = tuple[str, dict[str, Any], dict[str, Any]]  # (kind, brand, body)


def build_plan(
    brands: list[dict[str, Any]],
    n_actions: int,
    rng: random.Random,
    run: str,
    shoppers: list[chaos_flows.Shopper],
    bulk_share: float,
) -> tuple[list[Item], list[Item]]:
    """(first phase, later phase): replays, conflicts, refunds and late QR scans follow their originals."""
    wallets = [to_checksum_address(rng.randbytes(20).hex()) for _ in range(max(200, n_actions // 2))]
    first: list[Item] = []
    later: list[Item] = []
    purchases: list[tuple[dict[str, Any], dict[str, Any]]] = []
    # NOTE: the side traffic is capped, so a large run stays mostly purchases (most through bulk uploads) and
    # finishes in minutes on 2 cores; the small run keeps the same proportions as before.
    side = min(n_actions // 20, 1_500)
    n_referrals = side
    n_purchases = max(0, n_actions - n_referrals - len(shoppers))
    bulk: dict[int, list[dict[str, Any]]] = {}
    for i in range(n_purchases):
        brand = rng.choice(brands)
        body = {
            "idempotency_key": f"c{run}-{i}",
            "type": "purchase",
            "wallet": rng.choice(wallets),
            "order_id": f"c{run}-o{i}",
            "amount": f"{rng.randint(1, 200)}.{rng.randint(0, 99):02d}",
            "currency": "EUR",
        }
        purchases.append((brand, body))
        if rng.random() < bulk_share:  # a POS uploading its day in chunks
            chunk = bulk.setdefault(brand["id"], [])
            chunk.append(body)
            if len(chunk) == 200:
                first.append(("bulk", brand, {"actions": bulk.pop(brand["id"])}))
        else:
            first.append(("action", brand, body))
    for brand in brands:
        if bulk.get(brand["id"]):
            first.append(("bulk", brand, {"actions": bulk.pop(brand["id"])}))
    for i in range(n_referrals):  # a fresh wallet referred by a known one
        body = {
            "idempotency_key": f"c{run}-ref{i}",
            "type": "referral",
            "wallet": to_checksum_address(rng.randbytes(20).hex()),
            "referrer": rng.choice(wallets),
        }
        first.append(("action", rng.choice(brands), body))
    for i in range(side // 2):  # refunded at once, while the credit is still pending: a reversal
        brand, wallet = rng.choice(brands), rng.choice(wallets)
        purchase = {
            "idempotency_key": f"c{run}-bp{i}",
            "type": "purchase",
            "wallet": wallet,
            "order_id": f"c{run}-bo{i}",
            "amount": f"{rng.randint(2, 90)}.00",
            "currency": "EUR",
        }
        refund = {
            "idempotency_key": f"c{run}-br{i}",
            "type": "refund",
            "wallet": wallet,
            "order_id": purchase["order_id"],
        }
        if i % 2:
            refund["amount"] = "1.00"
        first.append(("buy_refund", brand, {"purchase": purchase, "refund": refund}))
    for _ in range(2 * side):  # replays: same body → same result
        brand, body = rng.choice(purchases)
        later.append(("replay", brand, body))
    for _ in range(side):  # same key, other body → 409
        brand, body = rng.choice(purchases)
        later.append(("conflict", brand, {**body, "amount": "999.99", "order_id": body["order_id"] + "-x"}))
    for i, (brand, body) in enumerate(rng.sample(purchases, min(len(purchases), side))):
        refund = {"idempotency_key": f"c{run}-rf{i}", "type": "refund", "wallet": body["wallet"]}
        refund["order_id"] = body["order_id"]
        half = (Decimal(body["amount"]) / 2).quantize(Decimal("0.01"))
        if i % 2 and half > 0:  # partial refund; the others refund what is left
            refund["amount"] = str(half)
        later.append(("refund", brand, refund))
    w0 = wallets[0]
    bad_bodies: list[dict[str, Any]] = [
        {"type": "purchase"},
        {"idempotency_key": "k", "type": "purchase", "wallet": "0xnotanaddress", "amount": "1", "currency": "EUR"},
        {"idempotency_key": "k0", "type": "purchase", "wallet": "0x" + "0" * 40, "amount": "1", "currency": "EUR"},
        {"idempotency_key": "k1", "type": "purchase", "wallet": w0, "amount": "-5", "currency": "EUR"},
        {"idempotency_key": "k2", "type": "teleport", "wallet": w0},
        {"idempotency_key": "k3", "type": "purchase", "wallet": w0, "amount": "1e999", "currency": "EURO"},
        {"idempotency_key": "x" * 5000, "type": "purchase", "wallet": w0, "amount": "1", "currency": "EUR"},
        {"idempotency_key": "k4", "type": "purchase", "wallet": w0, "amount": "1", "currency": "EUR", "x": 1},
        {"idempotency_key": "k5", "type": "referral", "wallet": w0, "referrer": w0},
        {"idempotency_key": "k6", "type": "refund", "wallet": w0, "order_id": f"c{run}-no-such-order"},
        {"idempotency_key": "k7", "type": "refund", "wallet": w0, "order_id": "x", "amount": "0"},
    ]
    for i in range(side):
        first.append(("bad", rng.choice(brands), {**rng.choice(bad_bodies), "_i": i}))
    qr_first, qr_later = chaos_flows.qr_plan(brands, wallets, rng)
    first += qr_first
    later += qr_later
    rng.shuffle(first)
    rng.shuffle(later)
    return chaos_flows.shopper_purchases(shoppers, run) + first, later


class Load:
    """Sends the plan from 16 threads and judges every answer."""

    def __init__(self, base: str, tally: Tally, qr: chaos_flows.QrTally, deadline: float) -> None:
        self.base, self.tally, self.qr, self.deadline = base, tally, qr, deadline
        self.results: dict[str, Any] = {}  # brand:key → the action's id
        self.local = threading.local()

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "c"):
            self.local.c = httpx.Client(base_url=self.base, timeout=60)
        return self.local.c  # type: ignore[no-any-return]

    def post(
        self, path: str, headers: dict[str, str], payload: Any, raw: bytes | None = None
    ) -> tuple[httpx.Response, bool]:
        """POST with retries on lost connections and back-pressure; (response, whether it was retried)."""
        kw: dict[str, Any] = {"json": payload, "headers": headers}
        if raw is not None:
            kw = {"content": raw, "headers": {**headers, "Content-Type": "application/json"}}
        return chaos_flows.request_with_retries(self.client(), "POST", path, self.tally.lock, self.tally.statuses, **kw)

    def accept(self, brand: dict[str, Any], body: dict[str, Any], result: dict[str, Any]) -> None:
        with self.tally.lock:
            self.tally.accepted += 1
            self.tally.by_kind[body["type"]] += 1
            self.results[f"{brand['id']}:{body['idempotency_key']}"] = result.get("id")

    def one(self, item: Item) -> None:
        if time.monotonic() > self.deadline:
            with self.tally.lock:
                self.tally.skipped += 1
            return
        kind, brand, body = item
        try:
            if kind in chaos_flows.QR_KINDS:
                self.claim(kind, brand, body)
            elif kind == "bad":
                self.bad(brand, body)
            elif kind == "bulk":
                self.bulk(brand, body)
            elif kind == "buy_refund":
                self.action("action", brand, body["purchase"])
                self.action("refund", brand, body["refund"])
            else:
                self.action(kind, brand, body)
        except Exception as exc:
            self.tally.violation(f"{kind} request failed: {type(exc).__name__}: {exc}")

    def claim(self, kind: str, brand: dict[str, Any], body: dict[str, Any]) -> None:
        if kind == "qr_expired":
            time.sleep(max(0.0, brand["qr_expiring_at"] + 1 - time.time()))
        r, retried = self.post("/v1/qr/claims", {}, body)
        problem = chaos_flows.judge_qr(kind, brand, body, r, retried, self.qr)
        if problem:
            self.tally.violation(problem)
        elif r.status_code == 201:
            with self.tally.lock:
                self.tally.accepted += 1
                self.tally.by_kind["qr_claim"] += 1

    def bad(self, brand: dict[str, Any], body: dict[str, Any]) -> None:
        payload = {k: v for k, v in body.items() if k != "_i"}
        raw = b"{not json" if body["_i"] % 7 == 0 else None
        r, _ = self.post("/v1/actions", brand["headers"], payload, raw)
        if not 400 <= r.status_code < 500:
            self.tally.violation(f"bad input got {r.status_code}: {json.dumps(payload)[:120]} → {r.text[:160]}")
        elif not r.headers.get("content-type", "").startswith(PROBLEM_JSON):
            self.tally.violation(f"4xx without problem+json: {r.status_code} {r.headers.get('content-type')}")
        else:
            with self.tally.lock:
                self.tally.rejected_ok += 1

    def bulk(self, brand: dict[str, Any], body: dict[str, Any]) -> None:
        r, _ = self.post("/v1/actions:batch", brand["headers"], body)
        if r.status_code != 200:
            self.tally.violation(f"bulk upload rejected {r.status_code}: {r.text[:200]}")
            return
        for item in r.json()["results"]:
            action = body["actions"][item["index"]]
            if item["status"] in ("created", "replayed"):  # replayed: a retried upload after a lost connection
                self.accept(brand, action, item["action"])
            else:
                self.tally.violation(f"bulk item refused: {json.dumps(item.get('problem'))[:200]}")

    def action(self, kind: str, brand: dict[str, Any], body: dict[str, Any]) -> None:
        r, retried = self.post("/v1/actions", brand["headers"], body)
        key = f"{brand['id']}:{body['idempotency_key']}"
        if kind in ("action", "refund"):
            if r.status_code == 201 or (retried and r.status_code == 200):
                self.accept(brand, body, r.json())
            else:
                self.tally.violation(f"valid {body['type']} rejected {r.status_code}: {r.text[:200]}")
        elif kind == "replay":
            if r.status_code >= 300:
                self.tally.violation(f"replay rejected {r.status_code}: {r.text[:200]}")
                return
            with self.tally.lock:
                original = self.results.get(key)
            if original and original != r.json().get("id"):
                self.tally.violation(f"replay of {key} gave another result: {original} vs {r.json().get('id')}")
        elif kind == "conflict":
            if r.status_code != 409:
                self.tally.violation(f"same key, other body: expected 409, got {r.status_code} {r.text[:160]}")
            elif not r.headers.get("content-type", "").startswith(PROBLEM_JSON):
                self.tally.violation("409 without problem+json")

    def run(self, first: list[Item], later: list[Item], pace_s: float) -> float:
        """First phase spread over `pace_s`, then the later phase; returns elapsed seconds."""
        started = time.monotonic()
        step = pace_s / max(1, len(first))

        def paced(indexed: tuple[int, Item]) -> None:
            delay = started + indexed[0] * step - time.monotonic()
            if delay > 0:  # spread the load over the fault window
                time.sleep(delay)
            self.one(indexed[1])

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(paced, enumerate(first)))
            list(pool.map(self.one, later))
        return time.monotonic() - started


def onboard(
    base: str, admin_email: str, admin_password: str, count: int, run: str, qr_codes: int
) -> list[dict[str, Any]]:
    """Brands with an API key, a promotion (1 token per EUR, referral bonuses), an offer and QR campaigns."""
    brands = []
    with httpx.Client(base_url=base, timeout=180) as http:
        token = http.post("/v1/auth/token", data={"username": admin_email, "password": admin_password})
        token.raise_for_status()
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for n in range(count):
            slug = f"chaos{run}{n}"
            b = http.post(
                "/v1/brands",
                json={"name": f"Chaos {n}", "slug": slug, "contact_email": f"ops@{slug}.example"},
                headers=admin,
            )
            b.raise_for_status()
            brand_id = b.json()["id"]
            key = http.post(f"/v1/brands/{brand_id}/api-keys", json={"name": "chaos"}, headers=admin)
            key.raise_for_status()
            headers = {"X-API-Key": key.json()["key"]}
            promo = http.post(
                f"/v1/brands/{brand_id}/promotions",
                json={
                    "name": "1 token per EUR, referrals 5 + 2",
                    "rules": [
                        {"key": "rate", "kind": "rate", "currency": "EUR", "per": "1", "tokens": "1"},
                        {"key": "ref", "kind": "referral", "referrer_amount": "5", "referee_amount": "2"},
                    ],
                },
                headers=headers,
            )
            promo.raise_for_status()
            brand = {"id": brand_id, "headers": headers, "token": b.json().get("token_address")}
            chaos_flows.setup_brand(http, brand, qr_codes)
            brands.append(brand)
    return brands


# --- faults --------------------------------------------------------------------------------------------------


FAULTS = ("celery_worker", "beat", "indexer", "api_worker", "redis", "database", "reorg", "base_fee", "proxy")


class Faults:
    def __init__(self, ctx: dict[str, Any], rng: random.Random) -> None:
        self.ctx, self.rng = ctx, rng
        self.injected: Counter[str] = Counter()
        self.log: list[str] = []

    def fire(self, kind: str) -> None:
        c = self.ctx
        detail = ""
        if kind in ("celery_worker", "beat", "indexer"):
            c["procs"][kind].restart()
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
        elif kind == "reorg":
            depth = self.rng.randint(1, 5)
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
        self.log.append(f"{kind} {detail}".strip())
        say(f"fault: {kind} {detail}")

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


# --- verdict -------------------------------------------------------------------------------------------------


def cli(env: dict[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "loyalty"), *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_drained(engine: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception), engine.connect() as conn:
            open_credits = conn.execute(
                text("SELECT count(*) FROM credit_outbox WHERE state IN ('pending', 'batched')")
            ).scalar()
            open_intents = conn.execute(
                text("SELECT count(*) FROM relay_intents WHERE state NOT IN ('confirmed', 'failed')")
            ).scalar()
            open_redemptions = conn.execute(text("SELECT count(*) FROM redemptions WHERE status = 'pending'")).scalar()
            if open_credits == 0 and open_intents == 0 and open_redemptions == 0:
                return True
        time.sleep(1)
    return False


def verdict(
    engine: Any, w3: Any, env: dict[str, str], anvil_url: str, db_url: str, tmp: Path, violations: list[str]
) -> dict[str, Any]:
    from backend.adapters.chain.contracts import load_artifact

    abi = load_artifact("LoyaltyToken").abi
    figures: dict[str, Any] = {}
    with engine.connect() as conn:
        credited = conn.execute(
            text(
                "SELECT token_address, wallet, sum(amount) FROM credit_outbox WHERE state = 'minted' "
                "GROUP BY token_address, wallet"
            )
        ).all()
        open_credits = conn.execute(
            text("SELECT state, count(*) FROM credit_outbox WHERE state IN ('pending','batched') GROUP BY state")
        ).all()
        intents = conn.execute(
            text("SELECT state, count(*) FROM relay_intents WHERE state NOT IN ('confirmed','failed') GROUP BY state")
        ).all()
        wallets = conn.execute(text("SELECT chain_id, address, next_nonce FROM hot_wallet_state")).all()
        batches = conn.execute(
            text("SELECT batch_id, token_address, gas_used, actions FROM mint_batches WHERE state = 'confirmed'")
        ).all()
        lat = (
            conn.execute(
                text(
                    "SELECT EXTRACT(EPOCH FROM (b.confirmed_at - c.created_at)) FROM credit_outbox c "
                    "JOIN mint_batches b ON b.batch_id = c.batch_id "
                    "WHERE c.state = 'minted' AND b.confirmed_at IS NOT NULL"
                )
            )
            .scalars()
            .all()
        )
        failed_batches = conn.execute(text("SELECT count(*) FROM mint_batches WHERE state = 'failed'")).scalar()
    for state, n in open_credits:
        violations.append(f"stuck credits: {n} in state {state}")
    for state, n in intents:
        violations.append(f"stuck relay intents: {n} in state {state}")
    # balances on chain: chaos_flows.check_balances (they need the ledger and the redemptions)
    # no batch id minted twice
    tokens = sorted({t for t, _, _ in credited} | {b[1] for b in batches})
    seen: Counter[str] = Counter()
    for token in tokens:
        contract = w3.eth.contract(address=token, abi=abi)
        for ev in contract.events.BatchMinted().get_logs(from_block=0, to_block="latest"):
            seen["0x" + bytes(ev["args"]["batchId"]).hex()] += 1
    twice = [b for b, n in seen.items() if n > 1]
    if twice:
        violations.append(f"batch ids minted twice on chain: {twice[:5]}")
    confirmed_ids = {b[0].lower() for b in batches}
    missing = [b for b in confirmed_ids if b not in seen]
    if missing:
        violations.append(f"confirmed batches without a BatchMinted event: {missing[:5]}")
    # nonces
    for _chain_id, address, next_nonce in wallets:
        on_chain = w3.eth.get_transaction_count(address, "latest")
        pending = w3.eth.get_transaction_count(address, "pending")
        if on_chain != next_nonce or pending != next_nonce:
            violations.append(f"nonce gap/stuck {address}: chain latest {on_chain} pending {pending} db {next_nonce}")
    figures["failed_batches"] = failed_batches
    figures["batches"] = len(batches)
    actions = sum(b[3] or 0 for b in batches)
    gas = sum(b[2] or 0 for b in batches)
    figures["gas_per_action"] = round(gas / actions, 1) if actions else None
    if lat:
        ordered = sorted(float(x) for x in lat)
        figures["latency_p50_s"] = round(ordered[len(ordered) // 2], 2)
        figures["latency_p95_s"] = round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2)
        figures["latency_p99_s"] = round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2)
        figures["latency_mean_s"] = round(statistics.fmean(ordered), 2)
    # indexer mirror == chain (let it catch up first)
    rec = None
    for _ in range(10):
        rec = cli(env, "indexer", "reconcile", "--json")
        if rec.returncode == 0:
            break
        time.sleep(2)
    assert rec is not None
    figures["indexer_reconcile_exit"] = rec.returncode
    if rec.returncode != 0:
        violations.append(f"indexer reconcile failed (exit {rec.returncode}): {rec.stdout[-400:]} {rec.stderr[-300:]}")
    manifests = tmp / "manifests"
    exp = cli(env, "audit", "export", "--out", str(manifests))
    if exp.returncode != 0:
        violations.append(f"audit export failed (exit {exp.returncode}): {exp.stderr[-400:]}")
    else:
        args = ["audit", "verify", "--rpc-url", anvil_url, "--manifests", str(manifests), "--mirror-db", db_url]
        for token in tokens:
            args += ["--token", token]
        ver = cli(env, *args)
        figures["audit_verify_exit"] = ver.returncode
        if ver.returncode != 0:
            violations.append(f"audit verify failed (exit {ver.returncode}): {ver.stdout[-400:]} {ver.stderr[-400:]}")
    return figures


# --- main ----------------------------------------------------------------------------------------------------


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
    n_faults = args.faults or (9 if args.quick else 27)  # every kind at least once
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
    qr_tally = chaos_flows.QrTally()
    redemption_tally = chaos_flows.RedemptionTally()
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
            anvil = stack.enter_context(AnvilNode(block_time=block_time))
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
                "LOYALTY_CONFIRMATIONS": "2",
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
                [
                    py,
                    "-m",
                    "uvicorn",
                    "backend.api.app:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(api_port),
                    "--workers",
                    "2",
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                env,
                tmp,
            )
            procs["celery_worker"] = Proc(
                "celery_worker",
                [
                    str(BIN / "celery"),
                    "-A",
                    "backend.worker.celery_app",
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
                    "backend.worker.celery_app",
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
            for name in ("api", "celery_worker", "beat", "indexer"):
                procs[name].start()
            base = f"http://127.0.0.1:{api_port}"

            def healthy() -> bool:
                if not procs["api"].alive():
                    raise RuntimeError(f"API exited:\n{procs['api'].tail()}")
                return httpx.get(f"{base}/health", timeout=2).status_code == 200

            wait_for(healthy, 180, "API health")
            brands = onboard(base, env["LOYALTY_ADMIN_EMAIL"], env["LOYALTY_ADMIN_PASSWORD"], n_brands, run, qr_codes)
            shoppers = chaos_flows.make_shoppers(brands, n_shoppers, rng)
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
            redeemers = chaos_flows.Redeemers(
                base, shoppers, time.monotonic() + load_budget_s, tally.violation, redemption_tally
            )
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
            for name in ("api", "celery_worker", "beat", "indexer", "redis"):
                if not procs[name].alive():
                    violations.append(f"{name} not running after the faults:\n{procs[name].tail(500)}")
            engine = create_engine(db_url)
            drained = wait_drained(engine, 180 if args.quick else 600)
            if not drained:
                violations.append("system did not drain within the bounded wait")
            from web3 import Web3

            w3 = Web3(Web3.HTTPProvider(anvil.url))
            time.sleep(3 * block_time)
            summary.update(verdict(engine, w3, env, anvil.url, db_url, tmp, violations))
            block = w3.eth.block_number
            summary.update(chaos_flows.check_balances(engine, anvil.url, block, violations))
            summary.update(chaos_flows.check_qr(engine, qr_tally, violations))
            summary.update(chaos_flows.check_redemptions(engine, redemption_tally, violations))
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
    print("verdict: OK" if not violations else "verdict: VIOLATIONS")
    for v in violations:
        print(f"  ✗ {v}")
    print(json.dumps(result, default=str))
    return 0 if not violations else 1


if __name__ == "__main__":
    sys.exit(main())
