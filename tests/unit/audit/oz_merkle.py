"""An independent reference of OpenZeppelin's StandardMerkleTree (sorted leaves, sorted pairs) for tests.

Written from OZ's merkle-tree library (`makeMerkleTree`, `standardLeafHash`), not from the pipeline's code, so a
test comparing both catches a drift of either.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode
from eth_utils import keccak


def leaf(action_id: str, wallet: str, amount: int) -> bytes:
    inner = encode(["bytes32", "address", "uint256"], [keccak(text=action_id), wallet, amount])
    return keccak(keccak(inner))


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(b"".join(sorted((a, b))))


def tree(leaves: Sequence[bytes]) -> list[bytes]:
    ordered = sorted(leaves)
    nodes: list[bytes] = [b""] * (2 * len(ordered) - 1)
    for i, node in enumerate(ordered):
        nodes[len(nodes) - 1 - i] = node
    for i in range(len(nodes) - 1 - len(ordered), -1, -1):
        nodes[i] = _pair(nodes[2 * i + 1], nodes[2 * i + 2])
    return nodes


def root(entries: Sequence[object]) -> str:
    """Root of manifest entries (objects with action_id, wallet, amount) as lowercase 0x-hex."""
    leaves = [leaf(e.action_id, e.wallet, e.amount) for e in entries]  # type: ignore[attr-defined]
    return "0x" + tree(leaves)[0].hex()


def proof(entries: Sequence[object], index: int) -> list[str]:
    leaves = [leaf(e.action_id, e.wallet, e.amount) for e in entries]  # type: ignore[attr-defined]
    nodes = tree(leaves)
    i = nodes.index(leaves[index])
    out = []
    while i > 0:
        sibling = i - 1 if i % 2 == 0 else i + 1
        out.append("0x" + nodes[sibling].hex())
        i = (i - 1) // 2
    return out
