"""Audit check for shared runs (pure): a batch credited through `LoyaltyMinter.mintMany` has no
`batchManifestRoot` on its token; instead its (token, batch id, manifest root) must be a leaf of the run root its
transaction's `RunMinted` committed, and the run must hold exactly the batches it says."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from backend.audit.records import BatchMintedLog, ChainSnapshot, SharedRun
from backend.audit.records import checksum as _cs

AddFinding = Callable[..., Any]  # `Verifier.add(code, message, **where)`
RunRootOf = Callable[[Sequence[tuple[str, str, str]]], str]  # (token, batch id, manifest root) leaves → run root


class RunCheck:
    def __init__(self, chain: ChainSnapshot, add: AddFinding, run_root_of: RunRootOf) -> None:
        self.chain = chain
        self.add = add
        self.run_root_of = run_root_of

    def covers(self, event: BatchMintedLog) -> bool:
        """Whether this batch was credited inside a shared run of its transaction (the run is checked by `run`)."""
        shared = self.chain.runs.get(event.tx_hash)
        return shared is not None and any(
            (b.token, b.batch_id, b.log_index) == (event.token, event.batch_id, event.log_index) for b in shared.batches
        )

    def run(self) -> None:
        for tx_hash in sorted(self.chain.runs):
            self.check(self.chain.runs[tx_hash])

    def check(self, shared: SharedRun) -> None:
        ev = shared.event
        where = {"tx_hash": ev.tx_hash, "details": {"run_id": ev.run_id, "minter": _cs(ev.minter)}}
        if len(shared.batches) != ev.batches:
            self.add(
                "run-batch-count-mismatch",
                f"RunMinted({ev.run_id}) of {_cs(ev.minter)} says {ev.batches} batches, its transaction holds "
                f"{len(shared.batches)}",
                **where,
            )
        leaves = [(_cs(b.token), b.batch_id, b.manifest_root) for b in shared.batches]
        recomputed = self.run_root_of(leaves).lower() if leaves else None
        if recomputed != ev.run_root:
            self.add(
                "run-root-mismatch",
                f"the batches of run {ev.run_id} (tx {ev.tx_hash}) hash to {recomputed}, RunMinted committed "
                f"{ev.run_root}",
                **where,
            )
