"""What the sustained benchmark reads from the database and the chain: backlog samples, credits, blocks, gas."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import text

from devtools.chaos.invariants import chain_balances
from devtools.sustained.figures import Block, Credit

# NOTE: a batch is final when its relay intent is (the tracker's time); settlement marks the batch later.
FINAL_INTENT = (
    "LEFT JOIN relay_intents i ON ((i.purpose = 'batch_mint' AND i.ref = c.batch_id)"
    " OR (i.purpose = 'mint_run' AND i.ref = b.run_ref)) AND i.state = 'confirmed'"
)
NOT_FINAL = (
    "SELECT count(*) FROM credit_outbox c LEFT JOIN mint_batches b ON b.batch_id = c.batch_id "
    f"{FINAL_INTENT} WHERE c.state IN ('pending', 'batched') "
    "AND (b.state IS NULL OR b.state <> 'confirmed') AND i.id IS NULL"
)


class BacklogSampler:
    """Every second: credits accepted but not final, as (epoch seconds, count)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> BacklogSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception), self.engine.connect() as conn:
                self.samples.append((time.time(), int(conn.execute(text(NOT_FINAL)).scalar() or 0)))

    def latest(self) -> int | None:
        return self.samples[-1][1] if self.samples else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def credits(engine: Any) -> list[Credit]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT EXTRACT(EPOCH FROM c.created_at), "
                "EXTRACT(EPOCH FROM CASE WHEN b.state = 'confirmed' THEN b.confirmed_at ELSE i.confirmed_at END) "
                f"FROM credit_outbox c LEFT JOIN mint_batches b ON b.batch_id = c.batch_id {FINAL_INTENT}"
            )
        ).all()
    return [Credit(float(created), None if final is None else float(final)) for created, final in rows]


def hot_wallets(engine: Any) -> set[str]:
    with engine.connect() as conn:
        return {str(a).lower() for a in conn.execute(text("SELECT address FROM hot_wallet_state")).scalars()}


def blocks(rpc_url: str, first: int, last: int, senders: set[str]) -> list[Block]:
    """Every block in [first, last] with the number of transactions our hot wallets sent in it."""
    out: list[Block] = []
    with httpx.Client(timeout=60) as http:
        for start in range(first, last + 1, 100):
            payload = [
                {"jsonrpc": "2.0", "id": n, "method": "eth_getBlockByNumber", "params": [hex(n), True]}
                for n in range(start, min(last, start + 99) + 1)
            ]
            for reply in sorted(http.post(rpc_url, json=payload).json(), key=lambda r: r["id"]):
                block = reply["result"]
                ours = sum(1 for tx in block["transactions"] if tx["from"].lower() in senders)
                out.append(Block(int(block["number"], 16), float(int(block["timestamp"], 16)), ours))
    return out


def brand_tokens(engine: Any) -> dict[int, str]:
    """brand id → its token, from the credits it earned."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT DISTINCT brand_id, token_address FROM credit_outbox WHERE brand_id IS NOT NULL")
        ).all()
    return {int(b): str(t) for b, t in rows}


def gas_by_brand(engine: Any) -> dict[int, dict[str, int]]:
    """Per brand: gas of its mined batch transactions, actions in them, and first credits per (token, wallet)."""
    with engine.connect() as conn:
        gas = conn.execute(
            text(
                "SELECT token_address, sum(gas_used), sum(actions), count(*) FROM mint_batches "
                "WHERE gas_used IS NOT NULL GROUP BY token_address"
            )
        ).all()
        pairs = dict(
            conn.execute(text("SELECT token_address, count(DISTINCT wallet) FROM credit_outbox GROUP BY token_address"))
            .tuples()
            .all()
        )
    by_token = {
        str(t): {"gas": int(g or 0), "actions": int(a or 0), "batches": int(b), "fresh_pairs": int(pairs.get(t, 0))}
        for t, g, a, b in gas
    }
    return {brand: by_token[token] for brand, token in brand_tokens(engine).items() if token in by_token}


def double_mints(engine: Any, w3: Any, rpc_url: str, tokens: list[str]) -> dict[str, int]:
    """Batch ids minted more than once on chain, and holders whose chain balance exceeds what the ledger credited
    (over) or falls short of what the outbox marked minted (short)."""
    from backend.adapters.chain.contracts import load_artifact

    abi = load_artifact("LoyaltyToken").abi
    seen: Counter[str] = Counter()
    for token in tokens:
        for ev in w3.eth.contract(address=token, abi=abi).events.BatchMinted().get_logs(from_block=0):
            seen["0x" + bytes(ev["args"]["batchId"]).hex()] += 1
    with engine.connect() as conn:
        credited = conn.execute(
            text(
                "SELECT token_address, wallet, sum(amount) FROM ledger_entries WHERE kind = 'credit' "
                "GROUP BY token_address, wallet"
            )
        ).all()
        minted = dict(
            ((t, w), int(a))
            for t, w, a in conn.execute(
                text(
                    "SELECT token_address, wallet, sum(amount) FROM credit_outbox WHERE state = 'minted' "
                    "GROUP BY token_address, wallet"
                )
            )
        )
    expected = {(t, w): int(a) for t, w, a in credited}
    on_chain = chain_balances(rpc_url, sorted(expected), w3.eth.block_number)
    return {
        "batches_minted_twice": sum(1 for n in seen.values() if n > 1),
        "holders_over_credited": sum(1 for k, v in on_chain.items() if v > expected[k]),
        "holders_short_of_minted": sum(1 for k, v in on_chain.items() if v < minted.get(k, 0)),
    }
