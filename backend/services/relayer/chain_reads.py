"""What the tracker reads from the node once per pass: nonces, receipts, pool membership — batched.

Each read is one JSON-RPC batch when the node speaks HTTP (`RpcBatch`), else one call at a time through web3
(eth-tester, or a node/proxy that refuses batches). Receipts come back normalized (ints and 0x-hex strings),
whichever way they were read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hexbytes import HexBytes
from web3.exceptions import BlockNotFound, TransactionNotFound

from backend.adapters.chain.batch import RpcBatch
from backend.adapters.chain.client import ChainClient
from backend.errors import ChainUnavailable
from backend.services.relayer.nonce_manager import ChainNonces

log = logging.getLogger("loyalty.relayer")


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def normalize_receipt(raw: Any) -> dict[str, Any] | None:
    """The receipt fields the tracker uses, or None while the transaction is not in a block."""
    if raw is None or raw.get("blockNumber") is None:
        return None
    price = raw.get("effectiveGasPrice")
    status = raw.get("status")
    return {
        "blockNumber": _int(raw["blockNumber"]),
        "blockHash": HexBytes(raw["blockHash"]).to_0x_hex(),
        "gasUsed": _int(raw["gasUsed"]),
        "status": _int(status) if status is not None else 1,
        "effectiveGasPrice": _int(price) if price is not None else None,
    }


class ChainReads:
    def __init__(self, chain: ChainClient, *, use_batch: bool = True) -> None:
        self.chain = chain
        self.eth = chain.w3.eth
        self.batch = RpcBatch(chain)
        self.use_batch = use_batch

    def _batched(self, calls: list[tuple[str, list[Any]]]) -> list[Any] | None:
        """Raw results, or None when batching is unavailable (the caller reads one call at a time)."""
        if not calls or not self.use_batch or not self.batch.supported:
            return None
        try:
            results = self.batch.call(calls)
        except ChainUnavailable as exc:
            log.debug("batched read unavailable, one call at a time: %s", exc)
            return None
        if any(isinstance(r, Exception) for r in results):
            return None  # e.g. a flaky proxy failed one call: read them one by one (errors surface there)
        return results

    def nonces(self, wallets: Sequence[str]) -> dict[str, ChainNonces]:
        calls = [("eth_getTransactionCount", [w, tag]) for w in wallets for tag in ("latest", "pending")]
        raw = self._batched(calls)
        out: dict[str, ChainNonces] = {}
        for i, wallet in enumerate(wallets):
            if raw is None:
                latest = int(self.eth.get_transaction_count(wallet, "latest"))  # type: ignore[arg-type]
                pending = int(self.eth.get_transaction_count(wallet, "pending"))  # type: ignore[arg-type]
            else:
                latest, pending = _int(raw[2 * i]), _int(raw[2 * i + 1])
            out[wallet] = ChainNonces(latest, max(latest, pending))
        return out

    def receipts(self, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Normalized receipts of the hashes that are in a block (others are absent)."""
        unique = list(dict.fromkeys(hashes))
        raw = self._batched([("eth_getTransactionReceipt", [h]) for h in unique])
        out: dict[str, dict[str, Any]] = {}
        for i, tx_hash in enumerate(unique):
            if raw is not None:
                receipt = normalize_receipt(raw[i])
            else:
                try:
                    receipt = normalize_receipt(self.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
                except TransactionNotFound:
                    receipt = None
            if receipt is not None:
                out[tx_hash] = receipt
        return out

    def known(self, hashes: Sequence[str]) -> set[str]:
        """The hashes the node knows (in its pool or mined)."""
        unique = list(dict.fromkeys(hashes))
        raw = self._batched([("eth_getTransactionByHash", [h]) for h in unique])
        out: set[str] = set()
        for i, tx_hash in enumerate(unique):
            if raw is not None:
                present = raw[i] is not None
            else:
                try:
                    present = self.eth.get_transaction(tx_hash) is not None  # type: ignore[arg-type]
                except TransactionNotFound:
                    present = False
            if present:
                out.add(tx_hash)
        return out

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, str | None]:
        """The canonical block hash at each height (None: the node has no block there)."""
        unique = sorted(set(numbers))
        raw = self._batched([("eth_getBlockByNumber", [hex(n), False]) for n in unique])
        out: dict[int, str | None] = {}
        for i, number in enumerate(unique):
            if raw is not None:
                block = raw[i]
            else:
                try:
                    block = self.eth.get_block(number)
                except BlockNotFound:
                    block = None
            out[number] = HexBytes(block["hash"]).to_0x_hex() if block else None
        return out
