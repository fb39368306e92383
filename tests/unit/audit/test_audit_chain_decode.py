"""Raw log decoding is strict: only the exact ERC-20 Transfer and BatchMinted shapes count."""

from __future__ import annotations

from typing import Any

from backend.audit.chain_reader import BATCH_MINTED, TRANSFER, RpcError, decode_log
from backend.audit.records import BatchMintedLog, TransferLog

TOKEN = "0x" + "Ab" * 20
A, B = "0x" + "0" * 24 + "11" * 20, "0x" + "0" * 24 + "22" * 20


def raw(topics: list[str], data: str, **extra: Any) -> dict[str, Any]:
    return {
        "address": TOKEN,
        "topics": topics,
        "data": data,
        "transactionHash": "0x" + "CD" * 32,
        "logIndex": "0x2",
        "blockNumber": "0x10",
        **extra,
    }


def test_an_erc20_transfer() -> None:
    log = decode_log(raw([TRANSFER, A, B], "0x" + f"{500:064x}"))
    assert log == TransferLog(TOKEN.lower(), "0x" + "cd" * 32, 2, 16, "0x" + "11" * 20, "0x" + "22" * 20, 500)


def test_a_batch_minted_event() -> None:
    batch_id, root = "0x" + "01" * 32, "ef" * 32
    log = decode_log(raw([BATCH_MINTED, batch_id], "0x" + root + f"{3:064x}" + f"{99:064x}"))
    assert log == BatchMintedLog(TOKEN.lower(), "0x" + "cd" * 32, 2, 16, batch_id, "0x" + root, 3, 99)


def test_look_alikes_and_removed_logs_are_ignored() -> None:
    erc721 = raw([TRANSFER, A, B, "0x" + f"{7:064x}"], "0x")  # same signature, token id indexed
    assert decode_log(erc721) is None
    assert decode_log(raw([TRANSFER, A, B], "0x" + f"{5:064x}", removed=True)) is None
    assert decode_log(raw([BATCH_MINTED, "0x" + "01" * 32], "0x" + "00" * 64)) is None  # truncated data


def test_provider_errors_are_classified() -> None:
    infura = RpcError(-32005, "query returned more than 10000 results. Try with this block range [0x1, 0x40].")
    assert infura.is_range_error
    assert RpcError(-32000, "block range is too wide").is_range_error
    assert RpcError(-32603, "internal error").is_transient
    assert not RpcError(3, "execution reverted").is_transient
    assert not RpcError(-32602, "invalid argument 0: hex string without 0x prefix").is_range_error
