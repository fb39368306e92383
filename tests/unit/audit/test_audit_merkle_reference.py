"""The verifier hashes manifests with the pipeline's Merkle code; it must agree with OpenZeppelin's algorithm."""

from __future__ import annotations

from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.audit.manifest_file import ManifestEntry, entry_leaf, manifest_root, manifest_tree
from tests.unit.audit import oz_merkle

entries = st.lists(
    st.builds(
        ManifestEntry,
        action_id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64),
        wallet=st.integers(1, 2**160 - 1).map(lambda n: to_checksum_address(f"0x{n:040x}")),
        amount=st.integers(1, 2**96 - 1),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda e: e.action_id,  # a valid manifest has each action once (so each leaf once)
)


@settings(max_examples=60, deadline=None)
@given(entries, st.data())
def test_roots_and_proofs_match_the_openzeppelin_reference(items: list[ManifestEntry], data: st.DataObject) -> None:
    assert manifest_root(items) == oz_merkle.root(items)
    index = data.draw(st.integers(0, len(items) - 1))
    tree = manifest_tree(items)
    assert ["0x" + p.hex() for p in tree.proof(entry_leaf(items[index]))] == oz_merkle.proof(items, index)


def test_the_leaf_binds_action_wallet_and_amount() -> None:
    base = ManifestEntry("act-1", to_checksum_address("0x" + "11" * 20), 5)
    variants = [
        ManifestEntry("act-2", base.wallet, 5),
        ManifestEntry("act-1", to_checksum_address("0x" + "12" * 20), 5),
        ManifestEntry("act-1", base.wallet, 6),
    ]
    assert len({entry_leaf(e) for e in [base, *variants]}) == 4
    assert entry_leaf(base).hex() == oz_merkle.leaf("act-1", base.wallet, 5).hex()
