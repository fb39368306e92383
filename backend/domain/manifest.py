"""A batch manifest: every credited action behind a `batchMint`, its Merkle leaves, and the calldata.

Leaf definition (auditors rely on it; OpenZeppelin StandardMerkleTree, leaf type (bytes32,address,uint256))::

    actionKey = keccak256(bytes(action_id, "utf-8"))
    leaf      = keccak256(bytes.concat(keccak256(abi.encode(bytes32 actionKey, address wallet, uint256 amount))))

where `wallet` receives `amount` base units for that one action (several actions of one wallet are summed into one
on-chain transfer entry, but each keeps its own leaf). The tree over all leaves of a batch (`backend.domain.merkle`,
sorted pairs) gives `manifestRoot`, stored on chain by `batchMint(batchId, manifestRoot, entries)`; any leaf checks
with `verifyManifestLeaf(batchId, leaf, proof)`.

Entries encoding (`batchMint`'s `bytes entries`): n × 32-byte words, word = (uint160(to) << 96) | uint96(amount).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from backend.domain.hashing import keccak
from backend.domain.merkle import MerkleTree
from backend.domain.rules_amounts import MAX_TOKEN_UNITS

MAX_ENTRY_AMOUNT = MAX_TOKEN_UNITS  # batchMint packs each amount into 96 bits
BATCH_MINT_SELECTOR = function_signature_to_4byte_selector("batchMint(bytes32,bytes32,bytes)")


class ManifestError(ValueError):
    """A manifest line or transfer entry that the contract would refuse."""


@dataclass(frozen=True)
class ManifestLine:
    """One credited action: `amount` base units of the batch's token to `wallet`."""

    action_id: str
    wallet: str  # 0x-hex address
    amount: int
    rule_id: str | None = None
    credit_id: int | None = None  # credit_outbox row that carried it


@dataclass(frozen=True)
class TransferEntry:
    """One on-chain transfer of a batch: the sum of a wallet's lines."""

    wallet: str
    amount: int


def action_key(action_id: str) -> bytes:
    return keccak(action_id.encode("utf-8"))


def _address_bytes(wallet: str) -> bytes:
    raw = bytes.fromhex(wallet.removeprefix("0x"))
    if len(raw) != 20:
        raise ManifestError(f"not a 20-byte address: {wallet!r}")
    return raw


def leaf_hash(action_id: str, wallet: str, amount: int) -> bytes:
    if not 0 < amount < 2**256:
        raise ManifestError(f"amount out of range: {amount}")
    # abi.encode(bytes32, address, uint256): three 32-byte words
    encoded = action_key(action_id) + _address_bytes(wallet).rjust(32, b"\x00") + amount.to_bytes(32, "big")
    return keccak(keccak(encoded))


def line_leaf(line: ManifestLine) -> bytes:
    return leaf_hash(line.action_id, line.wallet, line.amount)


def manifest_tree(lines: Sequence[ManifestLine]) -> MerkleTree:
    return MerkleTree([line_leaf(line) for line in lines])


def encode_entries(entries: Iterable[TransferEntry]) -> bytes:
    """`batchMint`'s packed entries; refuses what the contract would revert on (zero address/amount, > 96 bits)."""
    out = bytearray()
    for index, entry in enumerate(entries):
        to = _address_bytes(entry.wallet)
        if to == b"\x00" * 20:
            raise ManifestError(f"entry {index}: zero address")
        if not 0 < entry.amount <= MAX_ENTRY_AMOUNT:
            raise ManifestError(f"entry {index}: amount {entry.amount} outside 1..2^96-1")
        out += to + entry.amount.to_bytes(12, "big")
    return bytes(out)


def decode_entries(data: bytes) -> list[TransferEntry]:
    if len(data) % 32:
        raise ManifestError(f"entries length {len(data)} is not a multiple of 32")
    return [
        TransferEntry("0x" + data[i : i + 20].hex(), int.from_bytes(data[i + 20 : i + 32], "big"))
        for i in range(0, len(data), 32)
    ]


def batch_mint_calldata(batch_id: bytes, manifest_root: bytes, entries: bytes) -> bytes:
    return BATCH_MINT_SELECTOR + abi_encode(["bytes32", "bytes32", "bytes"], [batch_id, manifest_root, entries])
