"""`GET /v1/audit/batches/{batch_id}/manifest`, `GET /v1/audit/actions/{action_id}`: the auditor's view.

Both are public (no credentials), on purpose:
- a manifest is the very file auditors download (`loyalty audit export`): action ids, wallets, amounts and rule
  ids only — wallets and amounts are public on chain, and an action id is an opaque random id (uuid4);
- an action's trail says where its tokens went (batch, tx, block, amount, Merkle proof) or why they wait; anyone
  holding the action id (the shopper's app, the brand's POS) can check it against the chain without an account.
Nothing here reveals customer ids, e-mails, order ids or other personal data.
"""

from __future__ import annotations

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from backend.audit.errors import ManifestNotFound
from backend.audit.export import batch_manifest
from backend.audit.trail import action_trail
from backend.entrypoints.api.deps import SessionDep

router = APIRouter(prefix="/v1/audit", tags=["audit"])
LEAF_ENCODING = (
    "keccak256(bytes.concat(keccak256(abi.encode(bytes32 keccak256(utf8 action_id), address wallet, uint256 amount))))"
    "; OpenZeppelin StandardMerkleTree, sorted pairs; check with verifyManifestLeaf(batchId, leaf, proof)"
)


class BatchProofOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_id: str
    batch_state: str
    tx_hash: str | None
    block_number: int | None
    manifest_root: str
    leaf_index: int
    leaf: str
    proof: list[str]
    manifest_url: str


class CreditOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chain_id: int
    token: str
    wallet: str
    amount: str  # base units, decimal string
    rule_id: str | None
    state: str  # pending | batched | minted | cancelled
    reason: str | None
    batch: BatchProofOut | None


class ActionTrailOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action_id: str
    leaf_encoding: str
    credits: list[CreditOut]


@router.get(
    "/batches/{batch_id}/manifest",
    summary="A batch's manifest file, as auditors download it (public: no personal data)",
    responses={200: {"description": "The manifest file (format: backend/audit/manifest_file.py)"}},
)
def get_manifest(
    session: SessionDep, batch_id: str = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="bytes32 batch id")
) -> JSONResponse:
    found = batch_manifest(session, batch_id)
    if found is None:
        raise ManifestNotFound(f"no batch {batch_id.lower()}")
    manifest, state = found
    # NOTE: the file format carries no state (it is stable across a batch's life); the header tells whether the
    # batch is final (`confirmed`) or may still change or fail.
    headers = {"Content-Disposition": f'inline; filename="{manifest.batch_id}.json"', "X-Batch-State": state}
    return JSONResponse(manifest.to_json(), headers=headers)


@router.get(
    "/actions/{action_id}",
    response_model=ActionTrailOut,
    summary="Where an action's tokens went: batch, tx, block, amount, Merkle proof, or why they wait (public)",
)
def get_action(
    session: SessionDep, action_id: str = Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")
) -> ActionTrailOut:
    credits = action_trail(session, action_id)
    return ActionTrailOut(
        action_id=action_id,
        leaf_encoding=LEAF_ENCODING,
        credits=[
            CreditOut(
                chain_id=c.chain_id,
                token=c.token,
                wallet=c.wallet,
                amount=str(c.amount),
                rule_id=c.rule_id,
                state=c.state,
                reason=c.reason,
                batch=None
                if c.batch is None
                else BatchProofOut(**c.batch.__dict__, manifest_url=f"/v1/audit/batches/{c.batch.batch_id}/manifest"),
            )
            for c in credits
        ],
    )
