"""Strict raw-log decoding (pure): a raw `eth_getLogs` entry → a mirror row, or rejected.

Only exact shapes are accepted. An ERC-721 `Transfer` has the same signature as ERC-20's but 4 topics (the token
id is indexed) and no data; a look-alike must never move a balance, so anything but 3 topics + one 32-byte word
is rejected. Addresses are stored lowercase (checksummed at the API boundary: hashing 400k addresses per second
for the database would cost more than the whole write).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from eth_abi import decode as abi_decode
from eth_utils import keccak

ZERO_ADDRESS = "0x" + "0" * 40


def topic_of(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


TRANSFER = topic_of("Transfer(address,address,uint256)")
BATCH_MINTED = topic_of("BatchMinted(bytes32,bytes32,uint256,uint256)")
REDEEMED = topic_of("Redeemed(address,address,uint256,bytes32,bytes32)")
TOKEN_CREATED = topic_of("TokenCreated(bytes32,address,string,string,uint8,uint256,address)")
TOKEN_TOPICS = [TRANSFER, BATCH_MINTED, REDEEMED]
FACTORY_TOPICS = [TOKEN_CREATED]
_PAD = "0" * 24


class Transfer(NamedTuple):
    token: str
    tx_hash: str
    log_index: int
    block_number: int
    block_time: int
    from_addr: str
    to_addr: str
    value: int


class BatchMint(NamedTuple):
    token: str
    tx_hash: str
    log_index: int
    block_number: int
    block_time: int
    batch_id: str
    manifest_root: str
    recipients: int
    total: int


class Redemption(NamedTuple):
    token: str
    tx_hash: str
    log_index: int
    block_number: int
    block_time: int
    holder: str
    amount: int
    redemption_id: str
    offer_ref: str


class TokenCreated(NamedTuple):
    address: str
    brand_id: str
    name: str
    symbol: str
    decimals: int
    cap: int
    admin: str
    block_number: int
    tx_hash: str
    log_index: int


@dataclass
class Decoded:
    transfers: list[Transfer] = field(default_factory=list)
    batch_mints: list[BatchMint] = field(default_factory=list)
    redemptions: list[Redemption] = field(default_factory=list)
    tokens: list[TokenCreated] = field(default_factory=list)
    rejected: int = 0
    removed: int = 0

    @property
    def events(self) -> int:
        return len(self.transfers) + len(self.batch_mints) + len(self.redemptions) + len(self.tokens)


def _address(topic: str) -> str | None:
    """An indexed address: 12 zero bytes then 20 bytes; anything else is not an address."""
    if len(topic) != 66 or topic[2:26] != _PAD:
        return None
    return "0x" + topic[26:].lower()


def decode_logs(
    raw_logs: Iterable[dict[str, Any]],
    tokens: set[str] | frozenset[str],
    factory: str,
    timestamps: dict[int, int] | None = None,
) -> Decoded:
    """Decode logs emitted by known `tokens` (lowercase) and the `factory`; everything else is rejected."""
    out = Decoded()
    transfers = out.transfers
    factory = factory.lower()
    stamps = timestamps or {}
    for raw in raw_logs:
        if raw.get("removed"):
            out.removed += 1
            continue
        topics = raw["topics"]
        if not topics:
            out.rejected += 1
            continue
        emitter = raw["address"].lower()
        sig = topics[0]
        data = raw["data"]
        number = int(raw["blockNumber"], 16)
        stamp = raw.get("blockTimestamp")
        block_time = int(stamp, 16) if stamp else stamps.get(number, 0)
        if emitter in tokens:
            if sig == TRANSFER:
                if len(topics) != 3 or len(data) != 66:
                    out.rejected += 1
                    continue
                # NOTE: `_address` inlined: this branch runs once per Transfer, hundreds of thousands of times
                t1, t2 = topics[1], topics[2]
                if len(t1) != 66 or len(t2) != 66 or t1[2:26] != _PAD or t2[2:26] != _PAD:
                    out.rejected += 1
                    continue
                src, dst = "0x" + t1[26:].lower(), "0x" + t2[26:].lower()
                transfers.append(
                    Transfer(
                        emitter,
                        raw["transactionHash"],
                        int(raw["logIndex"], 16),
                        number,
                        block_time,
                        src,
                        dst,
                        int(data, 16),
                    )
                )
                continue
            if sig == BATCH_MINTED and len(topics) == 2 and len(data) == 2 + 64 * 3:
                out.batch_mints.append(
                    BatchMint(
                        emitter,
                        raw["transactionHash"],
                        int(raw["logIndex"], 16),
                        number,
                        block_time,
                        topics[1],
                        "0x" + data[2:66],
                        int(data[66:130], 16),
                        int(data[130:194], 16),
                    )
                )
                continue
            if sig == REDEEMED and len(topics) == 4 and len(data) == 2 + 64 * 2:
                holder = _address(topics[2])
                if holder is not None and _address(topics[1]) == emitter:
                    out.redemptions.append(
                        Redemption(
                            emitter,
                            raw["transactionHash"],
                            int(raw["logIndex"], 16),
                            number,
                            block_time,
                            holder,
                            int(data[2:66], 16),
                            topics[3],
                            "0x" + data[66:130],
                        )
                    )
                    continue
            out.rejected += 1
            continue
        if emitter == factory and sig == TOKEN_CREATED and len(topics) == 3:
            created = _token_created(raw, number)
            if created is not None:
                out.tokens.append(created)
                continue
        out.rejected += 1
    return out


def _token_created(raw: dict[str, Any], number: int) -> TokenCreated | None:
    token = _address(raw["topics"][2])
    if token is None:
        return None
    try:
        name, symbol, decimals, cap, admin = abi_decode(
            ["string", "string", "uint8", "uint256", "address"], bytes.fromhex(raw["data"][2:])
        )
    except Exception:  # malformed data: not our factory's event
        return None
    return TokenCreated(
        token,
        raw["topics"][1],
        name,
        symbol,
        decimals,
        cap,
        admin.lower(),
        number,
        raw["transactionHash"],
        int(raw["logIndex"], 16),
    )
