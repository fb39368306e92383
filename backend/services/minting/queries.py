"""Read side of the pipeline: batches for the API (list, manifest with per-action Merkle proofs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.orm.minting import BatchItem, MintBatch
from backend.domain.merkle import MerkleTree
from backend.services.minting.errors import BatchNotFound


@dataclass(frozen=True)
class BatchPage:
    batches: list[MintBatch]
    next_before: datetime | None


def list_batches(
    session: Session,
    *,
    state: str | None,
    token: str | None,
    limit: int,
    before: datetime | None,
    action_id: str | None = None,
) -> BatchPage:
    query = select(MintBatch).order_by(MintBatch.created_at.desc(), MintBatch.batch_id).limit(limit + 1)
    if state:
        query = query.where(MintBatch.state == state)
    if token:
        query = query.where(MintBatch.token_address == token)
    if before:
        query = query.where(MintBatch.created_at < before)
    if action_id:
        query = query.where(MintBatch.batch_id.in_(select(BatchItem.batch_id).where(BatchItem.action_id == action_id)))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return BatchPage(rows, rows[-1].created_at if more and rows else None)


def batch_manifest(session: Session, batch_id: str) -> tuple[MintBatch, list[dict[str, Any]]]:
    """The batch and, per credited action, its manifest line, leaf and Merkle proof (active items only)."""
    batch = session.get(MintBatch, batch_id.lower())
    if batch is None:
        raise BatchNotFound(f"no batch {batch_id}")
    items = list(
        session.scalars(
            select(BatchItem)
            .where(BatchItem.batch_id == batch.batch_id, BatchItem.active.is_(batch.state != "failed"))
            .order_by(BatchItem.leaf_index)
        )
    )
    if not items:
        return batch, []
    tree = MerkleTree([bytes.fromhex(i.leaf[2:]) for i in items])
    lines = [
        {
            "action_id": i.action_id,
            "wallet": i.wallet,
            "amount": str(i.amount),
            "rule_id": i.rule_id,
            "leaf_index": i.leaf_index,
            "leaf": i.leaf,
            "proof": ["0x" + p.hex() for p in tree.proof(bytes.fromhex(i.leaf[2:]))],
        }
        for i in items
    ]
    return batch, lines
