"""Indexer benchmark: cold backfill of ≥ 200,000 Transfer events from a local anvil into a fresh PostgreSQL database.

    .venv/bin/python scripts/bench_indexer.py [--quick] [--events N]

1. Generates a chain on anvil: the platform factory + several brand tokens, `batchMint`s of 500 recipients (many
   transactions per block, automine off + `evm_mine`), shopper transfers, redemptions, and stretches of empty
   blocks (so ranges must adapt).
2. Times a cold backfill with the indexer (raw JSON-RPC, adaptive ranges, COPY + set-based SQL).
3. Baseline on the same chain: plain web3.py `get_logs` + event decoding + row-by-row INSERT/balance upsert
   (on a sample, extrapolated when the full set would take too long).
4. Reconciles the mirror against `balanceOf`/`totalSupply`, then measures live lag while blocks keep coming.

Last line: one JSON object (events, events_per_s, baseline_events_per_s, blocks_per_s, mirror_matches_chain,
live_lag_blocks, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.adapters.chain.contracts import brand_id_bytes, create_token, token_contract
from backend.bootstrap import Container, indexer_streamer, provision
from backend.config import Settings
from devtools.anvil import AnvilNode
from indexer.decode import TRANSFER
from indexer.fetch.rpc import transport_for
from indexer.reconcile import reconcile

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("LOYALTY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RECIPIENTS = 500
TRANSFER_SELECTOR = "a9059cbb"
GAS_BATCH = 16_000_000


def log(msg: str) -> None:
    print(f"[bench_indexer] {msg}", file=sys.stderr, flush=True)


class Rpc:
    """Raw JSON-RPC batches (the generator must not be the slow part); nonces assigned here, not by anvil."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=600)
        self.ids = 0
        self.nonces: dict[str, int] = {}

    def send(self, tx: dict[str, Any]) -> tuple[str, list[Any]]:
        sender = tx["from"]
        if sender not in self.nonces:
            self.nonces[sender] = int(self.call("eth_getTransactionCount", sender, "pending"), 16)
        tx = {**tx, "nonce": hex(self.nonces[sender])}
        self.nonces[sender] += 1
        return ("eth_sendTransaction", [tx])

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        payload = []
        for method, params in calls:
            self.ids += 1
            payload.append({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        out = self.client.post(self.url, json=payload).json()
        errors = [o["error"] for o in out if "error" in o]
        if errors:
            raise RuntimeError(f"RPC errors: {errors[:3]}")
        return [o["result"] for o in sorted(out, key=lambda o: o["id"])]

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]


def fresh_database(tag: str) -> str:
    name = f"bench_idx_{tag}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def wallet(i: int) -> str:
    return "0x" + (0x10_0000_0000 + i).to_bytes(20, "big").hex()


def generate(node: AnvilNode, container: Container, events: int, rng: random.Random) -> dict[str, Any]:
    """Tokens through the factory, then batch mints / transfers / redemptions in multi-transaction blocks."""
    assert container.contracts is not None
    rpc = Rpc(node.url)
    minter = container.hot_wallets[0].address
    tokens = [container.contracts.coalition.address]
    # NOTE: anvil's per-block cost grows with its state, so the long empty stretch is mined while state is small.
    node.mine(1_500)
    for slug in ("acme", "bolt", "cafe"):
        deployed = create_token(
            container.chain,
            container.contracts.factory.address,
            container.deployer,
            brand_id_bytes(slug),
            slug.title(),
            slug.upper()[:4],
            18,
            0,
            container.deployer.address,
            [minter],
        )
        tokens.append(deployed.address)
    node.set_automine(False)
    # NOTE: single-transfer transactions are slow to generate on a big anvil state; batch mints carry the bulk.
    transfers_target = events // 50
    redemptions = max(10, events // 1000)
    batches = max(1, (events - transfers_target - redemptions) // RECIPIENTS)
    pool = max(RECIPIENTS * 4, events // 2)  # recipients repeat: fresh and existing holders
    contracts = {t: token_contract(container.chain, t) for t in tokens}
    txs_per_block = 6
    pending: list[tuple[str, list[Any]]] = []
    blocks_mined = 0

    def flush() -> None:
        nonlocal pending, blocks_mined
        started = time.perf_counter()
        count = len(pending)
        if pending:
            for i in range(0, len(pending), 200):
                rpc.batch(pending[i : i + 200])
            pending = []
        rpc.call("evm_mine")
        blocks_mined += 1
        if blocks_mined % 20 == 0:
            log(f"block {blocks_mined}: {count} txs in {time.perf_counter() - started:.2f}s")

    for b in range(batches):
        token = tokens[b % len(tokens)]
        people = rng.sample(range(pool), RECIPIENTS - 1)
        entries = b"".join(
            int(wallet(p), 16).to_bytes(20, "big") + rng.randint(1, 10**6).to_bytes(12, "big") for p in people
        )
        if b < len(tokens):  # the minter holds a float to transfer and redeem from
            entries += int(minter, 16).to_bytes(20, "big") + (10**27).to_bytes(12, "big")
        else:
            entries += int(wallet(rng.randrange(pool)), 16).to_bytes(20, "big") + (7).to_bytes(12, "big")
        data = (
            contracts[token]
            .functions.batchMint(rng.randbytes(32), rng.randbytes(32), entries)
            ._encode_transaction_data()
        )
        pending.append(rpc.send({"from": minter, "to": token, "data": data, "gas": hex(GAS_BATCH)}))
        if len(pending) >= txs_per_block:
            flush()
        if b % 12 == 11:
            flush()
            rpc.call("anvil_mine", hex(rng.randint(2, 8)))  # quiet stretches between busy blocks
    flush()
    per_block = 100
    for i in range(transfers_target):
        token = tokens[i % len(tokens)]
        to = wallet(rng.randrange(pool * 2))
        data = "0x" + TRANSFER_SELECTOR + "0" * 24 + to[2:] + f"{rng.randint(1, 10**9):064x}"
        pending.append(rpc.send({"from": minter, "to": token, "data": data, "gas": hex(80_000)}))
        if len(pending) >= per_block:
            flush()
    flush()
    for i in range(redemptions):
        token = tokens[i % len(tokens)]
        data = (
            contracts[token]
            .functions.redeem(rng.randint(1, 10**6), rng.randbytes(32), rng.randbytes(32))
            ._encode_transaction_data()
        )
        pending.append(rpc.send({"from": minter, "to": token, "data": data, "gas": hex(150_000)}))
    flush()
    # let anvil's `finalized` (head − 64) pass most of the data; the last blocks are followed one by one by hash
    for _ in range(7):
        rpc.call("anvil_mine", hex(10))
    rpc.call("evm_setAutomine", True)
    head = int(rpc.call("eth_blockNumber"), 16)
    return {
        "tokens": tokens,
        "batches": batches,
        "transfers": transfers_target,
        "redemptions": redemptions,
        "head": head,
    }


def chain_transfer_count(url: str, tokens: list[str], head: int) -> int:
    rpc = Rpc(url)
    total = 0
    step = 2_000
    for lo in range(0, head + 1, step):
        logs = rpc.call(
            "eth_getLogs",
            {"fromBlock": hex(lo), "toBlock": hex(min(head, lo + step - 1)), "address": tokens, "topics": [TRANSFER]},
        )
        total += len(logs)
    return total


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a local process (Linux /proc); NaN elsewhere. Wall time on a busy machine misleads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def cold_backfill(container: Container, anvil_pid: int | None) -> dict[str, Any]:
    streamer = indexer_streamer(container)
    head = streamer.headers.head()
    backend = int(streamer.store.q("SELECT pg_backend_pid()")[0][0])
    streamer.store.rollback()
    before = (cpu_seconds(backend), time.process_time(), cpu_seconds(anvil_pid))
    started = time.perf_counter()
    while streamer.step():
        pass
    elapsed = time.perf_counter() - started
    after = (cpu_seconds(backend), time.process_time(), cpu_seconds(anvil_pid))
    cpu = {name: round(b - a, 2) for name, a, b in zip(("postgres", "indexer", "anvil"), before, after, strict=True)}
    counts = streamer.store.counts(container.chain.chain_id)
    events = counts["idx_transfers"] + counts["idx_batch_mints"] + counts["idx_redemptions"] + counts["idx_tokens"]
    streamer.close()
    streamer.store.close()
    return {
        "elapsed_s": elapsed,
        "events": events,
        "transfers": counts["idx_transfers"],
        "head": head,
        "counts": counts,
        "cpu_s": cpu,
    }


def baseline(node: AnvilNode, tokens: list[str], head: int, budget_events: int) -> dict[str, Any]:
    """The common approach: web3.py get_logs in fixed ranges, decode with the contract ABI, INSERT row by row."""
    from web3 import Web3

    url = fresh_database("baseline")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE transfers (tx_hash text, log_index int, token text, block_number bigint, "
                "from_addr text, to_addr text, value numeric(78,0), PRIMARY KEY (tx_hash, log_index))"
            )
        )
        conn.execute(
            text("CREATE TABLE balances (token text, wallet text, balance numeric(78,0), PRIMARY KEY (token, wallet))")
        )
    w3 = Web3(Web3.HTTPProvider(node.url))
    event = token_contract_abi_event(w3)
    done = 0
    started = time.perf_counter()
    step = 2_000
    with engine.connect() as conn:
        for lo in range(0, head + 1, step):
            logs = w3.eth.get_logs(
                {
                    "fromBlock": lo,
                    "toBlock": min(head, lo + step - 1),
                    "address": [Web3.to_checksum_address(t) for t in tokens],
                    "topics": [TRANSFER],
                }
            )
            for entry in logs:
                ev = event.process_log(entry)
                args = ev["args"]
                conn.execute(
                    text("INSERT INTO transfers VALUES (:h, :i, :t, :b, :f, :to, :v) ON CONFLICT DO NOTHING"),
                    {
                        "h": entry["transactionHash"].to_0x_hex(),
                        "i": entry["logIndex"],
                        "t": entry["address"],
                        "b": entry["blockNumber"],
                        "f": args["from"],
                        "to": args["to"],
                        "v": args["value"],
                    },
                )
                for who, delta in ((args["from"], -args["value"]), (args["to"], args["value"])):
                    conn.execute(
                        text(
                            "INSERT INTO balances VALUES (:t, :w, :d) ON CONFLICT (token, wallet) "
                            "DO UPDATE SET balance = balances.balance + excluded.balance"
                        ),
                        {"t": entry["address"], "w": who, "d": delta},
                    )
                conn.commit()
                done += 1
                if done >= budget_events:
                    break
            if done >= budget_events:
                break
    elapsed = time.perf_counter() - started
    engine.dispose()
    drop_database(url)
    return {"events": done, "elapsed_s": elapsed, "events_per_s": done / elapsed if elapsed else 0.0}


def token_contract_abi_event(w3: Any) -> Any:
    from backend.adapters.chain.artifacts import load_artifact

    return w3.eth.contract(abi=load_artifact("LoyaltyToken").abi).events.Transfer()


def live_lag(node: AnvilNode, container: Container, tokens: list[str], blocks: int, rng: random.Random) -> int:
    """Blocks keep coming (one per ~0.5 s, each with transfers); lag sampled just before each new block."""
    streamer = indexer_streamer(container)
    stop = threading.Event()
    thread = threading.Thread(target=streamer.run, args=(stop, 0.05), daemon=True)
    thread.start()
    rpc = Rpc(node.url)
    minter = container.hot_wallets[0].address
    lags = []
    rpc.call("evm_setAutomine", False)
    time.sleep(1.0)
    for _ in range(blocks):
        calls: list[tuple[str, list[Any]]] = []
        for i in range(20):
            to = wallet(rng.randrange(10**6))
            data = "0x" + TRANSFER_SELECTOR + "0" * 24 + to[2:] + f"{rng.randint(1, 10**6):064x}"
            tx = {"from": minter, "to": tokens[i % len(tokens)], "data": data, "gas": hex(80_000)}
            calls.append(rpc.send(tx))
        rpc.batch(calls)
        rpc.call("evm_mine")
        time.sleep(0.5)
        lags.append(int(rpc.call("eth_blockNumber"), 16) - streamer.stats.cursor)
    rpc.call("evm_setAutomine", True)
    stop.set()
    thread.join(10)
    streamer.close()
    streamer.store.close()
    return max(lags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~20,000 events (CI size)")
    parser.add_argument("--events", type=int, default=None, help="Transfer events to generate (default 210,000)")
    parser.add_argument("--baseline-sample", type=int, default=10_000, help="events the baseline indexes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*MismatchedABI.*")  # web3 receipt parsing of other events
    target = args.events or (20_000 if args.quick else 210_000)
    rng = random.Random(args.seed)
    db_url = fresh_database("mirror")
    result: dict[str, Any] = {"bench": "indexer", "target_events": target}
    with AnvilNode(extra_args=["--disable-block-gas-limit", "--base-fee", "1"]) as node:
        try:
            settings = Settings(
                env="test", database_url=db_url, rpc_urls=node.url, deployments_dir=Path("/tmp/bench-idx-deploy")
            )
            container = provision(settings)
            t0 = time.perf_counter()
            gen = generate(node, container, target, rng)
            log(
                f"generated {gen['batches']} batch mints, {gen['transfers']} transfers, "
                f"{gen['redemptions']} redemptions in {time.perf_counter() - t0:.1f}s; head {gen['head']}"
            )
            on_chain = chain_transfer_count(node.url, gen["tokens"], gen["head"])
            log(f"chain has {on_chain} Transfer events")
            load_at_backfill = os.getloadavg()[0]
            backfill = cold_backfill(container, node.pid)
            log(
                f"cold backfill: {backfill['events']} events, {backfill['head']} blocks in {backfill['elapsed_s']:.2f}s"
            )
            store_transport = transport_for(container.chain)
            from indexer.store import open_store

            store = open_store(container.engine)
            t1 = time.perf_counter()
            report = reconcile(store_transport, store, container.chain.chain_id)
            log(f"reconcile: {report.balances_checked} balances in {time.perf_counter() - t1:.1f}s, ok={report.ok}")
            store.close()
            base = baseline(node, gen["tokens"], gen["head"], min(args.baseline_sample, on_chain))
            log(f"baseline: {base['events']} events in {base['elapsed_s']:.1f}s")
            lag = live_lag(node, container, gen["tokens"], 10, rng)
            container.close()
            result.update(
                events=backfill["events"],
                transfer_events=backfill["transfers"],
                chain_transfer_events=on_chain,
                blocks=backfill["head"] + 1,
                elapsed_s=round(backfill["elapsed_s"], 3),
                events_per_s=round(backfill["events"] / backfill["elapsed_s"]),
                blocks_per_s=round((backfill["head"] + 1) / backfill["elapsed_s"]),
                baseline_events_per_s=round(base["events_per_s"]),
                baseline_sample_events=base["events"],
                speedup_vs_baseline=round(
                    backfill["events"] / backfill["elapsed_s"] / max(base["events_per_s"], 1e-9), 1
                ),
                mirror_matches_chain=report.ok and backfill["transfers"] == on_chain,
                balances_checked=report.balances_checked,
                live_lag_blocks=lag,
                backfill_cpu_s=backfill["cpu_s"],  # PostgreSQL backend, indexer process, anvil: CPU seconds
                cpu_count=os.cpu_count(),
                load_average_1m=round(load_at_backfill, 1),  # when the backfill started
            )
        finally:
            drop_database(db_url)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
