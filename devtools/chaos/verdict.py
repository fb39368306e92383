"""The system's part of the verdict after the drain: nothing stuck, no batch minted twice, nonces, reconcile, audit."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text

from devtools.processes import REPO

BIN = REPO / ".venv" / "bin"


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


def _at(ordered: list[float], q: float) -> float:
    """The fault run's percentile of sorted values: the element at index ⌊q·n⌋ (the median for q = 0.5)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def slowest_windows(points: list[tuple[float, float]], width_s: float = 10.0, top: int = 3) -> list[str]:
    """The 10-s windows of credit creation (seconds since the load began) whose p95 latency was worst."""
    windows: dict[int, list[float]] = {}
    for created, latency in points:
        windows.setdefault(int(created // width_s), []).append(latency)
    rows = []
    for key, values in windows.items():
        values.sort()
        rows.append((_at(values, 0.95), key, len(values), _at(values, 0.5)))
    rows.sort(reverse=True)
    return [
        f"t+{key * width_s:.0f}..{(key + 1) * width_s:.0f}s: {n} credits, p50 {p50:.1f} s, p95 {p95:.1f} s"
        for p95, key, n, p50 in rows[:top]
    ]


def verdict(
    engine: Any,
    w3: Any,
    env: dict[str, str],
    anvil_url: str,
    db_url: str,
    tmp: Path,
    violations: list[str],
    load_epoch: float = 0.0,
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
                    "SELECT EXTRACT(EPOCH FROM (b.confirmed_at - c.created_at)), EXTRACT(EPOCH FROM c.created_at) "
                    "FROM credit_outbox c "
                    "JOIN mint_batches b ON b.batch_id = c.batch_id "
                    "WHERE c.state = 'minted' AND b.confirmed_at IS NOT NULL"
                )
            )
            .tuples()
            .all()
        )
        failed_batches = conn.execute(text("SELECT count(*) FROM mint_batches WHERE state = 'failed'")).scalar()
    for state, n in open_credits:
        violations.append(f"stuck credits: {n} in state {state}")
    for state, n in intents:
        violations.append(f"stuck relay intents: {n} in state {state}")
    # balances on chain: invariants.check_balances (they need the ledger and the redemptions)
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
        figures["slowest_windows"] = slowest_windows([(float(c) - load_epoch, float(x)) for x, c in lat])
        ordered = sorted(float(x) for x, _ in lat)
        figures["latency_p50_s"] = round(_at(ordered, 0.5), 2)
        figures["latency_p95_s"] = round(_at(ordered, 0.95), 2)
        figures["latency_p99_s"] = round(_at(ordered, 0.99), 2)
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
