"""Where one action's tokens went: per credit, its batch, transaction, block, amount and Merkle proof (or its state).

The proof is built over the batch's manifest exactly as exported (`backend.audit.export`), so it verifies both
against the published file and on chain with `verifyManifestLeaf(batchId, leaf, proof)`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.orm.earning import Action
from backend.adapters.orm.minting import BatchItem, CreditOutbox, MintBatch
from backend.audit.errors import ActionNotFound
from backend.audit.export import belongs, to_manifest
from backend.audit.manifest_file import entry_leaf, manifest_tree
from backend.audit.records import checksum


@dataclass(frozen=True)
class BatchProof:
    batch_id: str
    batch_state: str
    tx_hash: str | None
    block_number: int | None
    manifest_root: str
    leaf_index: int
    leaf: str
    proof: list[str]


@dataclass(frozen=True)
class CreditTrail:
    chain_id: int
    token: str
    wallet: str
    amount: int
    rule_id: str | None
    state: str  # pending | batched | minted | cancelled | held (credit_outbox)
    reason: str | None  # why it waits, when it does
    batch: BatchProof | None


def _proofs(batch: MintBatch, items: list[BatchItem]) -> dict[int, BatchProof]:
    """Proof per credit (credit_outbox id) of one batch."""
    manifest = to_manifest(batch, items)
    tree = manifest_tree(manifest.entries)
    ordered = sorted(items, key=lambda i: i.leaf_index)
    out: dict[int, BatchProof] = {}
    for item, entry in zip(ordered, manifest.entries, strict=True):
        leaf = entry_leaf(entry)
        out[item.credit_outbox_id] = BatchProof(
            batch_id=manifest.batch_id,
            batch_state=batch.state,
            tx_hash=manifest.tx_hash,
            block_number=manifest.block_number,
            manifest_root=manifest.manifest_root,
            leaf_index=item.leaf_index,
            leaf="0x" + leaf.hex(),
            proof=["0x" + p.hex() for p in tree.proof(leaf)],
        )
    return out


def action_trail(session: Session, action_id: str) -> list[CreditTrail]:
    """Every credit the action earned, oldest first (none: nothing to mint); `ActionNotFound` if it is unknown."""
    credits = list(
        session.scalars(select(CreditOutbox).where(CreditOutbox.action_id == action_id).order_by(CreditOutbox.id))
    )
    if not credits:
        # NOTE: an action can exist and earn nothing to mint (no matching rule, or it only paid off debt).
        if session.scalar(select(Action.id).where(Action.public_id == action_id)) is None:
            raise ActionNotFound(f"no action {action_id}")
        return []
    batch_ids = sorted({c.batch_id for c in credits if c.batch_id})
    proofs: dict[int, BatchProof] = {}
    if batch_ids:
        batches = {b.batch_id: b for b in session.scalars(select(MintBatch).where(MintBatch.batch_id.in_(batch_ids)))}
        items: dict[str, list[BatchItem]] = defaultdict(list)
        for item in session.scalars(select(BatchItem).where(BatchItem.batch_id.in_(batch_ids))):
            if belongs(batches[item.batch_id], item):
                items[item.batch_id].append(item)
        for batch_id, rows in items.items():
            proofs.update(_proofs(batches[batch_id], rows))
    return [
        CreditTrail(
            chain_id=int(c.chain_id),
            token=checksum(c.token_address),
            wallet=checksum(c.wallet),
            amount=int(c.amount),
            rule_id=c.rule_id,
            state=c.state,
            reason=c.reason,
            batch=proofs.get(c.id) if c.batch_id else None,
        )
        for c in credits
    ]
