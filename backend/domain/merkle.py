"""OpenZeppelin `StandardMerkleTree`-compatible Merkle tree over pre-hashed leaves (sorted pairs).

Same layout as `@openzeppelin/merkle-tree`: leaves sorted ascending by hash, stored right-to-left at the end of a
flat array of `2n-1` nodes, parent `i` = hashPair(node 2i+1, node 2i+2), hashPair = keccak256 of the two children
in ascending order. A proof is the sibling hashes from the leaf up to the root; it verifies with OpenZeppelin's
`MerkleProof.verify` (and so with `LoyaltyToken.verifyManifestLeaf`).
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.domain.hashing import keccak

ZERO32 = b"\x00" * 32


class MerkleError(ValueError):
    """A tree cannot be built or a leaf is not part of it."""


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a <= b else b + a)


class MerkleTree:
    """A tree over 32-byte leaf hashes; `proof(leaf)` gives the sibling path OpenZeppelin's verifier expects."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise MerkleError("a Merkle tree needs at least one leaf")
        if any(len(leaf) != 32 for leaf in leaves):
            raise MerkleError("leaves must be 32-byte hashes")
        ordered = sorted(leaves)
        size = 2 * len(ordered) - 1
        tree: list[bytes] = [ZERO32] * size
        for i, leaf in enumerate(ordered):
            tree[size - 1 - i] = leaf
        for i in range(size - 1 - len(ordered), -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        self._tree = tree
        # NOTE: duplicate leaves are allowed (OZ allows them too); `proof` returns the first occurrence's path.
        self._position: dict[bytes, int] = {}
        for i, leaf in enumerate(ordered):
            self._position.setdefault(leaf, size - 1 - i)

    @property
    def root(self) -> bytes:
        return self._tree[0]

    def __len__(self) -> int:
        return (len(self._tree) + 1) // 2

    def proof(self, leaf: bytes) -> list[bytes]:
        index = self._position.get(leaf)
        if index is None:
            raise MerkleError(f"leaf 0x{leaf.hex()} is not in the tree")
        path: list[bytes] = []
        while index > 0:
            sibling = index + 1 if index % 2 == 1 else index - 1
            path.append(self._tree[sibling])
            index = (index - 1) // 2
        return path


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a proof leads to (OpenZeppelin `MerkleProof.processProof`)."""
    computed = leaf
    for node in proof:
        computed = hash_pair(computed, node)
    return computed


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    return process_proof(leaf, proof) == root
