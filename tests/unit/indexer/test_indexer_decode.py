"""Strict decoding: only exact ERC-20 `Transfer`, `BatchMinted`, `Redeemed` and `TokenCreated` shapes count."""

from __future__ import annotations

from eth_abi import encode

from indexer.decode import BATCH_MINTED, REDEEMED, TOKEN_CREATED, TRANSFER, ZERO_ADDRESS, decode_logs

TOKEN = "0x" + "ab" * 20
FACTORY = "0x" + "fa" * 20
ALICE = "0x" + "01" * 20
BOB = "0x" + "02" * 20


def word(value: int) -> str:
    return f"{value:064x}"


def addr_topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def raw(address: str, topics: list[str], data: str, log_index: int = 0, **extra: object) -> dict:
    return {
        "address": address,
        "topics": topics,
        "data": data,
        "blockNumber": "0x10",
        "blockHash": "0x" + "11" * 32,
        "blockTimestamp": "0x6553f100",
        "transactionHash": "0x" + "22" * 32,
        "logIndex": hex(log_index),
        "removed": False,
        **extra,
    }


def test_erc20_transfer_is_decoded() -> None:
    out = decode_logs(
        [raw(TOKEN, [TRANSFER, addr_topic(ALICE), addr_topic(BOB)], "0x" + word(5 * 10**18))], {TOKEN}, FACTORY
    )
    (t,) = out.transfers
    assert (t.from_addr, t.to_addr, t.value, t.block_number, t.block_time) == (ALICE, BOB, 5 * 10**18, 16, 0x6553F100)


def test_erc721_lookalike_with_four_topics_is_rejected() -> None:
    log = raw(TOKEN, [TRANSFER, addr_topic(ALICE), addr_topic(BOB), "0x" + word(7)], "0x")
    out = decode_logs([log], {TOKEN}, FACTORY)
    assert out.transfers == [] and out.rejected == 1


def test_malformed_transfers_are_rejected() -> None:
    logs = [
        raw(TOKEN, [TRANSFER, addr_topic(ALICE), addr_topic(BOB)], "0x" + word(1) + word(2)),  # 64 bytes of data
        raw(TOKEN, [TRANSFER, "0x" + "ff" * 32, addr_topic(BOB)], "0x" + word(1)),  # not an address
        raw(TOKEN, [TRANSFER, addr_topic(ALICE)], "0x" + word(1)),  # 2 topics
        raw("0x" + "cc" * 20, [TRANSFER, addr_topic(ALICE), addr_topic(BOB)], "0x" + word(1)),  # unknown emitter
    ]
    out = decode_logs(logs, {TOKEN}, FACTORY)
    assert out.transfers == [] and out.rejected == 4


def test_removed_logs_are_dropped() -> None:
    log = raw(TOKEN, [TRANSFER, addr_topic(ZERO_ADDRESS), addr_topic(BOB)], "0x" + word(1), removed=True)
    out = decode_logs([log], {TOKEN}, FACTORY)
    assert out.transfers == [] and out.removed == 1


def test_batch_minted_redeemed_and_token_created() -> None:
    batch_id, root = "0x" + "33" * 32, "44" * 32
    rid, offer = "0x" + "55" * 32, "66" * 32
    created = encode(["string", "string", "uint8", "uint256", "address"], ["Acme", "ACME", 18, 0, ALICE]).hex()
    out = decode_logs(
        [
            raw(TOKEN, [BATCH_MINTED, batch_id], "0x" + root + word(500) + word(10**21), 1),
            raw(TOKEN, [REDEEMED, addr_topic(TOKEN), addr_topic(ALICE), rid], "0x" + word(7) + offer, 2),
            raw(FACTORY, [TOKEN_CREATED, "0x" + "77" * 32, addr_topic("0x" + "cd" * 20)], "0x" + created, 3),
            raw(TOKEN, [REDEEMED, addr_topic(BOB), addr_topic(ALICE), rid], "0x" + word(7) + offer, 4),  # wrong token
        ],
        {TOKEN},
        FACTORY,
    )
    (mint,) = out.batch_mints
    assert (mint.batch_id, mint.manifest_root, mint.recipients, mint.total) == (batch_id, "0x" + root, 500, 10**21)
    (redemption,) = out.redemptions
    assert (redemption.holder, redemption.amount, redemption.redemption_id) == (ALICE, 7, rid)
    (token,) = out.tokens
    assert (token.address, token.name, token.symbol, token.decimals) == ("0x" + "cd" * 20, "Acme", "ACME", 18)
    assert out.rejected == 1
