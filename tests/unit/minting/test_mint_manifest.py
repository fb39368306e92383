"""Leaf hashing and batchMint encoding match the contract's definitions."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from eth_utils import keccak

from backend.domain.manifest import (
    BATCH_MINT_SELECTOR,
    MAX_ENTRY_AMOUNT,
    ManifestError,
    TransferEntry,
    action_key,
    batch_mint_calldata,
    decode_entries,
    encode_entries,
    leaf_hash,
)

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_leaf_is_the_double_hash_of_the_abi_encoded_triple() -> None:
    inner = keccak(encode(["bytes32", "address", "uint256"], [keccak(text="ord-42"), WALLET, 10**18]))
    assert leaf_hash("ord-42", WALLET, 10**18) == keccak(inner)
    assert action_key("ord-42") == keccak(text="ord-42")


def test_entries_pack_address_and_96_bit_amount_per_word() -> None:
    data = encode_entries([TransferEntry(WALLET, 5), TransferEntry(WALLET, MAX_ENTRY_AMOUNT)])
    assert len(data) == 64
    assert int.from_bytes(data[:32], "big") == (int(WALLET, 16) << 96) | 5
    assert [e.amount for e in decode_entries(data)] == [5, MAX_ENTRY_AMOUNT]
    assert decode_entries(data)[0].wallet == WALLET.lower()


@pytest.mark.parametrize(
    "entry",
    [TransferEntry("0x" + "00" * 20, 1), TransferEntry(WALLET, 0), TransferEntry(WALLET, MAX_ENTRY_AMOUNT + 1)],
)
def test_entries_the_contract_would_revert_on_are_refused(entry: TransferEntry) -> None:
    with pytest.raises(ManifestError):
        encode_entries([entry])


def test_calldata_is_batch_mint_abi() -> None:
    batch_id, root = keccak(b"b"), keccak(b"r")
    entries = encode_entries([TransferEntry(WALLET, 7)])
    data = batch_mint_calldata(batch_id, root, entries)
    assert data[:4] == BATCH_MINT_SELECTOR == keccak(text="batchMint(bytes32,bytes32,bytes)")[:4]
    assert decode(["bytes32", "bytes32", "bytes"], data[4:]) == (batch_id, root, entries)
