"""`GET /v1/batches`, `GET /v1/batches/{batch_id}`: mint batches, their manifests and per-action Merkle proofs.

Public on purpose: a manifest holds only action ids, wallets and amounts (no personal data), which auditors and
shoppers verify against the chain with `verifyManifestLeaf(batchId, leaf, proof)`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from backend.adapters.orm.minting import BATCH_STATES, MintBatch
from backend.domain.addresses import Address
from backend.entrypoints.api.deps import SessionDep
from backend.errors import InvalidInput
from backend.services.minting.queries import batch_manifest, list_batches

router = APIRouter(prefix="/v1/batches", tags=["batches"])
_BATCH_ID = r"^0x[0-9a-fA-F]{64}$"


class BatchOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_id: str
    chain_id: int
    token: str
    state: str
    manifest_root: str
    recipients: int
    actions: int
    total: str  # base units, decimal string
    tx_hash: str | None
    block_number: int | None
    gas_used: int | None
    fee_paid_wei: str | None
    reason: str | None
    created_at: datetime
    submitted_at: datetime | None
    confirmed_at: datetime | None


class BatchList(BaseModel):
    items: list[BatchOut]
    next_before: datetime | None


class ManifestLineOut(BaseModel):
    action_id: str
    wallet: str
    amount: str
    rule_id: str | None
    leaf_index: int
    leaf: str
    proof: list[str]


class BatchDetail(BatchOut):
    leaf_encoding: str
    manifest: list[ManifestLineOut]


LEAF_ENCODING = (
    "keccak256(bytes.concat(keccak256(abi.encode(bytes32 keccak256(utf8 action_id), address wallet, uint256 amount))))"
    "; OpenZeppelin StandardMerkleTree, sorted pairs"
)


def _out(batch: MintBatch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "chain_id": batch.chain_id,
        "token": batch.token_address,
        "state": batch.state,
        "manifest_root": batch.manifest_root,
        "recipients": batch.recipients,
        "actions": batch.actions,
        "total": str(batch.total),
        "tx_hash": batch.tx_hash,
        "block_number": batch.block_number,
        "gas_used": batch.gas_used,
        "fee_paid_wei": None if batch.fee_paid_wei is None else str(batch.fee_paid_wei),
        "reason": batch.reason,
        "created_at": batch.created_at,
        "submitted_at": batch.submitted_at,
        "confirmed_at": batch.confirmed_at,
    }


@router.get("", response_model=BatchList, summary="Mint batches, newest first (public)")
def get_batches(
    session: SessionDep,
    state: str | None = Query(None, description="|".join(BATCH_STATES)),
    token: Annotated[Address | None, Query(description="token address")] = None,
    limit: int = Query(50, ge=1, le=500),
    before: datetime | None = Query(None, description="page cursor: `next_before` of the previous page"),
    action_id: str | None = Query(None, max_length=64, description="only batches that carry this action"),
) -> BatchList:
    if state is not None and state not in BATCH_STATES:
        raise InvalidInput(f"state must be one of {', '.join(BATCH_STATES)}")
    page = list_batches(session, state=state, token=token, limit=limit, before=before, action_id=action_id)
    return BatchList(items=[BatchOut(**_out(b)) for b in page.batches], next_before=page.next_before)


@router.get("/{batch_id}", response_model=BatchDetail, summary="One batch with its manifest and Merkle proofs")
def get_batch(session: SessionDep, batch_id: str = Path(..., pattern=_BATCH_ID)) -> BatchDetail:
    if not re.match(_BATCH_ID, batch_id):
        raise InvalidInput("batch_id must be 0x + 64 hex digits")
    batch, lines = batch_manifest(session, batch_id)
    return BatchDetail(**_out(batch), leaf_encoding=LEAF_ENCODING, manifest=[ManifestLineOut(**line) for line in lines])
