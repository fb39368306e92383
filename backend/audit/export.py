"""Database → manifest files: the minting pipeline's `mint_batches` + `batch_items`, in the auditor's format.

Only what the format allows leaves the database (action id, wallet, amount, rule id): never customer ids or
e-mails, which live in the ledger and stay there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.orm.minting import BatchItem, MintBatch
from backend.audit.manifest_file import Manifest, ManifestEntry, write_manifest
from backend.audit.records import checksum

# NOTE: only batches that reached the chain are published by default; an `included` batch can still be reorged
# out, and a manifest without its batch on chain is an audit finding.
DEFAULT_STATES = ("confirmed",)
_CHUNK = 500


def belongs(batch: MintBatch, item: BatchItem) -> bool:
    # NOTE: the pipeline deactivates the items of a failed batch (their credits go back to pending), and only then.
    return bool(item.active) == (batch.state != "failed")


def to_manifest(batch: MintBatch, items: Sequence[BatchItem]) -> Manifest:
    return Manifest(
        chain_id=int(batch.chain_id),
        token=checksum(batch.token_address),
        batch_id=batch.batch_id.lower(),
        manifest_root=batch.manifest_root.lower(),
        tx_hash=batch.tx_hash.lower() if batch.tx_hash and batch.block_number is not None else None,
        block_number=int(batch.block_number) if batch.tx_hash and batch.block_number is not None else None,
        entries=tuple(
            ManifestEntry(i.action_id, checksum(i.wallet), int(i.amount), i.rule_id)
            for i in sorted(items, key=lambda i: i.leaf_index)
        ),
    )


def batch_manifest(session: Session, batch_id: str) -> tuple[Manifest, str] | None:
    """One batch's manifest and the batch's state (`confirmed`, or e.g. `submitted`: not final yet)."""
    batch = session.get(MintBatch, batch_id.lower())
    if batch is None:
        return None
    items = [
        i for i in session.scalars(select(BatchItem).where(BatchItem.batch_id == batch.batch_id)) if belongs(batch, i)
    ]
    return (to_manifest(batch, items), batch.state) if items else None


def iter_manifests(
    session: Session, states: Sequence[str] = DEFAULT_STATES, token: str | None = None
) -> Iterator[Manifest]:
    """Manifests of the batches in `states` (all tokens, or one), oldest first, reading items in chunks."""
    query = select(MintBatch).where(MintBatch.state.in_(list(states))).order_by(MintBatch.created_at)
    if token is not None:
        query = query.where(MintBatch.token_address == checksum(token))
    batches = list(session.scalars(query))
    for start in range(0, len(batches), _CHUNK):
        chunk = batches[start : start + _CHUNK]
        items: dict[str, list[BatchItem]] = defaultdict(list)
        rows = session.scalars(select(BatchItem).where(BatchItem.batch_id.in_([b.batch_id for b in chunk])))
        by_id = {b.batch_id: b for b in chunk}
        for item in rows:
            if belongs(by_id[item.batch_id], item):
                items[item.batch_id].append(item)
        for batch in chunk:
            if items.get(batch.batch_id):
                yield to_manifest(batch, items[batch.batch_id])


def export_manifests(
    session: Session, out: Path, states: Sequence[str] = DEFAULT_STATES, token: str | None = None
) -> list[Path]:
    """Write one file per batch under `out` (rewrites are idempotent); returns the paths written."""
    return [write_manifest(out, m) for m in iter_manifests(session, states, token)]
