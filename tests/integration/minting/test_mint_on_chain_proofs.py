"""Proofs computed by the backend verify on chain with the token's `verifyManifestLeaf`."""

from __future__ import annotations

import secrets

import pytest
from eth_utils import to_checksum_address

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.transactions import send_and_wait
from backend.bootstrap import Container
from backend.domain.manifest import (
    ManifestLine,
    TransferEntry,
    batch_mint_calldata,
    encode_entries,
    line_leaf,
    manifest_tree,
)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_manifest_leaf_verifies_on_chain(container: Container) -> None:
    assert container.contracts is not None
    token = token_contract(container.chain, container.contracts.coalition.address)
    wallets = [to_checksum_address("0x" + secrets.token_bytes(20).hex()) for _ in range(5)]
    lines = [ManifestLine(f"ord-{i}", wallets[i % 5], 10**18 + i, "r1") for i in range(11)]
    tree = manifest_tree(lines)
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.wallet] = totals.get(line.wallet, 0) + line.amount
    batch_id = secrets.token_bytes(32)
    data = batch_mint_calldata(batch_id, tree.root, encode_entries(TransferEntry(w, a) for w, a in totals.items()))
    send_and_wait(container.chain, container.hot_wallets[0], {"to": token.address, "data": data})

    assert token.functions.batchManifestRoot(batch_id).call() == tree.root
    for line in lines:
        leaf = line_leaf(line)
        assert token.functions.verifyManifestLeaf(batch_id, leaf, tree.proof(leaf)).call()
    forged = line_leaf(ManifestLine("ord-0", wallets[0], 10**19))
    assert not token.functions.verifyManifestLeaf(batch_id, forged, tree.proof(line_leaf(lines[0]))).call()
    for wallet, total in totals.items():
        assert token.functions.balanceOf(wallet).call() == total
