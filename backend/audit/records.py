"""What the verifier reasons about: chain logs, token state, the indexer mirror, and findings (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# NOTE: its own keccak, not `backend.domain.hashing`: the auditor shares no code with what it verifies.
try:  # NOTE: safe-pysha3 (an eth-hash dependency) hashes ~7x faster than eth-hash's default pycryptodome backend
    from sha3 import keccak_256

    def _keccak(data: bytes) -> bytes:
        return bytes(keccak_256(data).digest())

except ImportError:  # pragma: no cover - the pure fallback
    from eth_utils import keccak

    def _keccak(data: bytes) -> bytes:
        return keccak(data)


ZERO_ADDRESS = "0x" + "0" * 40


@lru_cache(maxsize=1 << 18)
def checksum(address: str) -> str:
    """EIP-55 form of a 0x-hex address (validated by the caller), cached: wallets recur across batches.

    NOTE: eth_utils' `to_checksum_address` re-validates and converts its input several times (~10x slower);
    on 100k manifest lines that was most of an audit's CPU time.
    """
    body = address[2:].lower()
    digest = _keccak(body.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if d in "89abcdef" else c for c, d in zip(body, digest, strict=False))


@dataclass(frozen=True)
class TransferLog:
    """An ERC-20 `Transfer`; addresses lowercase 0x-hex."""

    token: str
    tx_hash: str
    log_index: int
    block_number: int
    from_addr: str
    to_addr: str
    value: int

    @property
    def is_mint(self) -> bool:
        return self.from_addr == ZERO_ADDRESS

    @property
    def is_burn(self) -> bool:
        return self.to_addr == ZERO_ADDRESS


@dataclass(frozen=True)
class BatchMintedLog:
    token: str
    tx_hash: str
    log_index: int
    block_number: int
    batch_id: str
    manifest_root: str
    recipients: int
    total: int


@dataclass(frozen=True)
class RunMintedLog:
    """`LoyaltyMinter.RunMinted`: several tokens' batches credited in one transaction under one run root."""

    minter: str
    tx_hash: str
    log_index: int
    block_number: int
    run_id: int
    run_root: str
    batches: int


@dataclass
class SharedRun:
    """A run and every `BatchMinted` of its transaction (read from the receipt, whichever tokens are audited)."""

    event: RunMintedLog
    batches: list[BatchMintedLog] = field(default_factory=list)


@dataclass
class TokenHistory:
    """One audited token as read from the chain between `from_block` and `to_block` (inclusive)."""

    address: str  # lowercase
    total_supply: int
    complete: bool  # the range covers the token's whole life (supply and balances can be recomputed)
    created_block: int | None = None
    transfers: list[TransferLog] = field(default_factory=list)
    batches: list[BatchMintedLog] = field(default_factory=list)
    # batchManifestRoot(batchId) at `to_block` for every batch id seen on chain or in a manifest
    onchain_roots: dict[str, str] = field(default_factory=dict)


@dataclass
class ChainSnapshot:
    chain_id: int
    from_block: int
    to_block: int
    tokens: dict[str, TokenHistory]  # keyed by lowercase address
    runs: dict[str, SharedRun] = field(default_factory=dict)  # by tx hash: batches minted through the shared minter


@dataclass
class MirrorSnapshot:
    """The indexer's mirror of the audited tokens, read in one database transaction."""

    cursor_block: int | None  # last block the mirror covers; None = never ran
    transfers: dict[tuple[str, int], TransferLog]  # keyed by (tx_hash, log_index)
    balances: dict[tuple[str, str], int]  # (token, wallet) → balance


@dataclass(frozen=True)
class Finding:
    """One thing the audit could not explain; `code` is stable (scripts match on it)."""

    code: str
    message: str
    token: str | None = None
    batch_id: str | None = None
    action_id: str | None = None
    tx_hash: str | None = None
    wallet: str | None = None
    path: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        for key in ("token", "batch_id", "action_id", "tx_hash", "wallet", "path"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.details:
            out["details"] = self.details
        return out
