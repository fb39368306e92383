"""The manifest Merkle tree follows OpenZeppelin's StandardMerkleTree layout and its proofs verify."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.merkle import MerkleError, MerkleTree, hash_pair, process_proof, verify


def leaves(n: int) -> list[bytes]:
    return [keccak(i.to_bytes(32, "big")) for i in range(n)]


def test_single_leaf_is_its_own_root() -> None:
    (leaf,) = leaves(1)
    tree = MerkleTree([leaf])
    assert tree.root == leaf
    assert tree.proof(leaf) == []


def test_three_leaves_follow_the_openzeppelin_array_layout() -> None:
    a, b, c = sorted(leaves(3))
    # OZ: sorted leaves stored right to left at the end of a 5-node array: [root, hp(b, a), c, b, a]
    assert MerkleTree([c, a, b]).root == hash_pair(hash_pair(b, a), c)
    assert MerkleTree([c, a, b]).proof(a) == [b, c]


def test_pairs_are_hashed_sorted() -> None:
    a, b = leaves(2)
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


@given(st.integers(min_value=1, max_value=70))
def test_every_leaf_proves_against_the_root(n: int) -> None:
    items = leaves(n)
    tree = MerkleTree(items)
    for leaf in items:
        assert verify(tree.root, leaf, tree.proof(leaf))


def test_a_foreign_leaf_or_a_tampered_proof_fails() -> None:
    items = leaves(9)
    tree = MerkleTree(items)
    proof = tree.proof(items[3])
    assert not verify(tree.root, keccak(b"other"), proof)
    assert process_proof(items[3], [*proof[:-1], keccak(b"x")]) != tree.root
    with pytest.raises(MerkleError):
        tree.proof(keccak(b"not in the tree"))


def test_leaf_order_does_not_change_the_root() -> None:
    items = leaves(13)
    assert MerkleTree(items).root == MerkleTree(list(reversed(items))).root


def test_empty_tree_is_refused() -> None:
    with pytest.raises(MerkleError):
        MerkleTree([])
