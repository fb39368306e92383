"""Shared runs (`LoyaltyMinter.mintMany`) as the auditor reads them: from the receipts of the transactions whose
batches left no `batchManifestRoot` on their token.

NOTE: found through the batch's own transaction rather than through a minter address given to the auditor: the
token's log names the transaction, its receipt holds the run's `RunMinted` and every token's `BatchMinted` (also
those of tokens not audited), so the run root is recomputed from the whole run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from eth_utils import keccak

from backend.audit.errors import ChainReadError
from backend.audit.records import BatchMintedLog, RunMintedLog, SharedRun

RUN_MINTED = "0x" + keccak(text="RunMinted(uint256,bytes32,uint256)").hex()


class BatchRpc(Protocol):
    def batch(self, calls: list[tuple[str, list[Any]]], chunk: int = 50) -> list[Any]: ...


def decode_run(raw: dict[str, Any]) -> RunMintedLog | None:
    topics = [t.lower() for t in raw["topics"]]
    data = raw.get("data", "0x")
    if raw.get("removed") or len(topics) != 2 or topics[0] != RUN_MINTED or len(data) != 2 + 64 * 2:
        return None
    return RunMintedLog(
        raw["address"].lower(),
        raw["transactionHash"].lower(),
        int(raw["logIndex"], 16),
        int(raw["blockNumber"], 16),
        int(topics[1], 16),
        "0x" + data[2:66].lower(),
        int(data[66:130], 16),
    )


def read_runs(rpc: BatchRpc, tx_hashes: Iterable[str], decode_batch: Any) -> dict[str, SharedRun]:
    """tx hash → its run, for those of `tx_hashes` that hold one; `decode_batch` turns a raw log into a record."""
    wanted = sorted(set(tx_hashes))
    receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in wanted])
    runs: dict[str, SharedRun] = {}
    for tx_hash, receipt in zip(wanted, receipts, strict=True):
        if not receipt:
            raise ChainReadError(f"no receipt for {tx_hash} (the chain reorganized?)")
        logs = receipt.get("logs", [])
        events = [e for e in (decode_run(raw) for raw in logs) if e is not None]
        if len(events) != 1:
            continue  # no run (or a transaction with several: not what mintMany emits) → the batch stays unguarded
        batches = [b for b in (decode_batch(raw) for raw in logs) if isinstance(b, BatchMintedLog)]
        runs[tx_hash] = SharedRun(events[0], batches)
    return runs
