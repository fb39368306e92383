"""A shared run: several tokens' batches credited by one `LoyaltyMinter.mintMany` transaction.

Each batch keeps its own manifest (`backend.domain.manifest`: leaves, root) and its own id; the token emits its own
`BatchMinted(batchId, manifestRoot, recipients, total)`. The run commits to its batches with one more tree
(auditors rely on it; OpenZeppelin StandardMerkleTree, leaf type (address,bytes32,bytes32))::

    runLeaf = keccak256(bytes.concat(keccak256(abi.encode(address token, bytes32 batchId, bytes32 manifestRoot))))

The tree over a run's leaves (`backend.domain.merkle`, sorted pairs) gives `runRoot`, logged by the minter's
`RunMinted(runId, runRoot, batches)`; a batch's inclusion is its leaf plus `run_tree(...).proof(leaf)`.

Run ids are sequential integers (0, 1, 2, ...): the minter keeps one bit per run, 256 runs per storage word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from backend.domain.hashing import keccak
from backend.domain.merkle import MerkleTree

MINT_MANY_SELECTOR = function_signature_to_4byte_selector("mintMany(uint256,bytes32,(address,bytes32,bytes32,bytes)[])")
IS_RUN_MINTED_SELECTOR = function_signature_to_4byte_selector("isRunMinted(uint256)")
MAX_RUN_ID = 2**256 - 1


class SharedRunError(ValueError):
    """A run the minter would refuse (no batches, bad run id, malformed token address or hash)."""


@dataclass(frozen=True)
class RunBatch:
    """One token's batch in a run: `LoyaltyToken.creditBatch(batchId, manifestRoot, entries)` on `token`."""

    token: str  # 0x-hex address
    batch_id: bytes
    manifest_root: bytes
    entries: bytes  # `backend.domain.manifest.encode_entries`


def _address(token: str) -> str:
    raw = bytes.fromhex(token.removeprefix("0x"))
    if len(raw) != 20 or raw == b"\x00" * 20:
        raise SharedRunError(f"not a token address: {token!r}")
    return "0x" + raw.hex()


def _hash32(value: bytes, what: str) -> bytes:
    if len(value) != 32 or value == b"\x00" * 32:
        raise SharedRunError(f"{what} must be a non-zero 32-byte value")
    return value


def run_leaf(token: str, batch_id: bytes, manifest_root: bytes) -> bytes:
    encoded = abi_encode(
        ["address", "bytes32", "bytes32"],
        [_address(token), _hash32(batch_id, "batch id"), _hash32(manifest_root, "manifest root")],
    )
    return keccak(keccak(encoded))


def run_tree(batches: Sequence[RunBatch]) -> MerkleTree:
    if not batches:
        raise SharedRunError("a run needs at least one batch")
    return MerkleTree([run_leaf(b.token, b.batch_id, b.manifest_root) for b in batches])


def mint_many_calldata(run_id: int, batches: Sequence[RunBatch]) -> bytes:
    """`mintMany(runId, runRoot, batches)` calldata; the run root is computed here from the batches."""
    if not 0 <= run_id <= MAX_RUN_ID:
        raise SharedRunError(f"run id out of range: {run_id}")
    root = run_tree(batches).root
    rows = [(_address(b.token), b.batch_id, b.manifest_root, b.entries) for b in batches]
    return MINT_MANY_SELECTOR + abi_encode(
        ["uint256", "bytes32", "(address,bytes32,bytes32,bytes)[]"], [run_id, root, rows]
    )


def is_run_minted_calldata(run_id: int) -> bytes:
    """`isRunMinted(runId)`: how a re-sender learns that its run landed (as `batchManifestRoot` does for a batch)."""
    if not 0 <= run_id <= MAX_RUN_ID:
        raise SharedRunError(f"run id out of range: {run_id}")
    return IS_RUN_MINTED_SELECTOR + run_id.to_bytes(32, "big")
