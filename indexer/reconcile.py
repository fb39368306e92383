"""Mirror vs chain: every (or a sample of) mirrored balance against `balanceOf`, every supply against `totalSupply`.

Reads the mirror in one snapshot and the chain at that snapshot's cursor block, so neither a moving head nor a
batch the indexer commits meanwhile shows up as a difference; calls are plain
`eth_call`s in JSON-RPC batches (no multicall contract needed).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import Engine

from indexer.fetch.rpc import RetryPolicy, Transport, batch_strict
from indexer.store import open_store
from indexer.store.base import MirrorStore

BALANCE_OF = "0x70a08231"
TOTAL_SUPPLY = "0x18160ddd"
CALL_BATCH = 500
EXIT_DIFFERENCES = 1  # `loyalty indexer reconcile` exit code when the mirror and the chain differ


@dataclass(frozen=True)
class Difference:
    kind: str  # "balance" | "supply" | "supply-stats"
    token: str
    wallet: str | None
    mirror: int
    chain: int


@dataclass
class ReconcileReport:
    chain_id: int
    block: int | None
    tokens: int = 0
    balances_checked: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.block is not None and not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chain_id": self.chain_id,
            "block": self.block,
            "tokens": self.tokens,
            "balances_checked": self.balances_checked,
            "differences": [{**asdict(d), "mirror": str(d.mirror), "chain": str(d.chain)} for d in self.differences],
        }


def _eth_calls(transport: Transport, calls: list[tuple[str, str]], block: int, retry: RetryPolicy) -> list[int]:
    """[(to, data)] → uint256 results at `block`."""
    out: list[int] = []
    tag = hex(block)
    for i in range(0, len(calls), CALL_BATCH):
        chunk = [("eth_call", [{"to": to, "data": data}, tag]) for to, data in calls[i : i + CALL_BATCH]]
        out += [int(r, 16) if r not in (None, "0x") else 0 for r in batch_strict(transport, chunk, retry)]
    return out


def reconcile(
    transport: Transport, store: MirrorStore, chain_id: int, sample: int | None = None, seed: int | None = None
) -> ReconcileReport:
    with store.snapshot():  # NOTE: the indexer keeps committing; cursor, balances and stats must be one state
        cursor = store.cursor(chain_id)
        tokens = sorted(store.tokens(chain_id))
        balances = store.balances(chain_id)
        from_stats = store.supplies(chain_id)
    report = ReconcileReport(chain_id, cursor.number if cursor else None)
    if cursor is None:
        return report
    retry = RetryPolicy()
    report.tokens = len(tokens)
    keys = sorted(balances)
    if sample is not None and sample < len(keys):
        keys = random.Random(seed).sample(keys, sample)
    values = _eth_calls(transport, [(t, BALANCE_OF + "0" * 24 + w[2:]) for t, w in keys], cursor.number, retry)
    report.balances_checked = len(keys)
    for (token, wallet), on_chain in zip(keys, values, strict=True):
        if balances[(token, wallet)] != on_chain:
            report.differences.append(
                Difference(
                    "balance",
                    to_checksum_address(token),
                    to_checksum_address(wallet),
                    balances[(token, wallet)],
                    on_chain,
                )
            )
    supplies = _eth_calls(transport, [(t, TOTAL_SUPPLY) for t in tokens], cursor.number, retry)
    summed: dict[str, int] = defaultdict(int)
    for (token, _wallet), value in balances.items():
        summed[token] += value
    for token, on_chain in zip(tokens, supplies, strict=True):
        if summed.get(token, 0) != on_chain:
            report.differences.append(
                Difference("supply", to_checksum_address(token), None, summed.get(token, 0), on_chain)
            )
        if from_stats.get(token, 0) != on_chain:
            report.differences.append(
                Difference("supply-stats", to_checksum_address(token), None, from_stats.get(token, 0), on_chain)
            )
    return report


def reconcile_report(
    engine: Engine, transport: Transport, chain_id: int, sample: int | None = None
) -> tuple[int, dict[str, Any]]:
    """Reconcile the mirror in `engine` with the chain behind `transport`: (exit code, the report as JSON-able data)."""
    store = open_store(engine)
    try:
        report = reconcile(transport, store, chain_id, sample=sample)
    finally:
        store.close()
    return (0 if report.ok else EXIT_DIFFERENCES), report.as_dict()
