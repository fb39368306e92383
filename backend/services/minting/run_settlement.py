"""Settling a shared run (`runs`): its batches are confirmed together, split the transaction's gas and fee by
recipients, and a failed run is diagnosed against the minter's run guard (`isRunMinted`) and its `RunMinted` log
before any credit is released: a run id already used with OUR run root landed earlier; used with another root
(a database restored from an older backup reusing ids) it can never land, and its credit is rebuilt.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from eth_utils import keccak, to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.chain.client import ChainClient
from backend.adapters.orm.minting import MintBatch, MintRun, run_id_of
from backend.domain.shared_mint import is_run_minted_calldata
from backend.services.minting.alerts import raise_alert
from backend.services.minting.metrics import REVERTS
from backend.services.minting.reasons import error_name
from backend.services.minting.token_views import TokenViews

log = logging.getLogger("loyalty.minting.settlement")
RUN_MINTED_TOPIC = "0x" + keccak(text="RunMinted(uint256,bytes32,uint256)").hex()
LOG_LOOKBACK_BLOCKS = 10_000


class Settles(Protocol):
    """The parts of `Settlement` a run's diagnosis uses."""

    def _confirm(
        self, session: Session, batch: MintBatch, intent: dict[str, Any] | None, share: float = 1.0
    ) -> list[float]: ...

    def release(self, session: Session, batch: MintBatch, intent: dict[str, Any]) -> None: ...

    def can_never_land(self, intent: dict[str, Any], landed: Any) -> bool: ...


def run_batches(session: Session, ref: str) -> list[MintBatch]:
    """The batches of a shared run (intent ref `run-<id>`), locked, in a stable order."""
    query = select(MintBatch).where(MintBatch.run_ref == ref).order_by(MintBatch.batch_id).with_for_update()
    return list(session.scalars(query))


def gas_shares(batches: list[MintBatch]) -> list[float]:
    """Each batch's share of its transaction's gas and fee (by recipients; 1.0 for a batch alone)."""
    total = sum(b.recipients for b in batches)
    return [b.recipients / total if total else 1.0 / len(batches) for b in batches]


class RunSettlement:
    def __init__(self, chain: ChainClient, views: TokenViews) -> None:
        self.chain = chain
        self.views = views

    def is_minted(self, run: MintRun) -> bool:
        return int.from_bytes(self.views.call(run.minter_address, is_run_minted_calldata(run.run_id)), "big") != 0

    def logged(self, run: MintRun) -> dict[str, Any] | None:
        """The `RunMinted` log of the run id (the latest one in the look-back window), if any."""
        head = self.chain.head()
        logs = self.chain.w3.eth.get_logs(
            {
                "address": to_checksum_address(run.minter_address),
                "topics": [RUN_MINTED_TOPIC, "0x" + run.run_id.to_bytes(32, "big").hex()],  # type: ignore[list-item]
                "fromBlock": max(0, head - LOG_LOOKBACK_BLOCKS),
                "toBlock": head,
            }
        )
        return dict(logs[-1]) if logs else None

    def diagnose(
        self, session: Session, batches: list[MintBatch], intent: dict[str, Any], settlement: Settles
    ) -> tuple[str, list[float]] | None:
        """A failed run intent: landed earlier (confirm), can never land (release), or undecidable yet (None)."""
        run = session.scalar(select(MintRun).where(MintRun.run_id == run_id_of(intent["ref"])))
        if run is None:
            log.error("run intent %s has no mint_runs row", intent["ref"])
            return None
        error = intent["error"] or ""
        if self.is_minted(run):
            found = self.logged(run)
            if found is None:
                raise_alert(session, "run-landing-unclear", f"run {run.run_id} is minted but its log is not found")
                return None
            root = "0x" + bytes(found["data"])[:32].hex()
            if root == run.run_root.lower():
                # NOTE: the run landed through an earlier transaction; never mint it again
                log.warning("run %s already on chain (intent error %r): counted as confirmed", run.run_id, error)
                latencies: list[float] = []
                for batch in batches:
                    batch.tx_hash = found["transactionHash"].to_0x_hex()
                    batch.block_number = int(found["blockNumber"])
                    batch.block_hash = found["blockHash"].to_0x_hex()
                    latencies += settlement._confirm(session, batch, None)
                return "landed_earlier", latencies
            raise_alert(
                session,
                "run-id-collision",
                f"run id {run.run_id} was minted with root {root}, ours is {run.run_root} (a restored database?);"
                f" its {len(batches)} batches go back to pending",
                severity="critical",
            )
        elif not settlement.can_never_land(intent, lambda: self.is_minted(run)):
            log.warning("run %s failed (%s) but its nonce is still open; settling later", run.run_id, error)
            return None
        REVERTS.labels(error=error_name(error)).inc()
        for batch in batches:
            settlement.release(session, batch, intent)
        return "failed", []
