"""Read-only calls on a loyalty token the pipeline needs (balances, pause, cap, landed manifest roots).

Encoded by hand from the function signatures so that the pipeline needs no artifact on its hot path; balances of
many wallets go in one JSON-RPC batch request when the node speaks HTTP.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

import httpx
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from backend.adapters.chain.client import ChainClient
from backend.errors import ChainUnavailable

_BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
_PAUSED = function_signature_to_4byte_selector("paused()")
_CAP = function_signature_to_4byte_selector("cap()")
_TOTAL_SUPPLY = function_signature_to_4byte_selector("totalSupply()")
_MANIFEST_ROOT = function_signature_to_4byte_selector("batchManifestRoot(bytes32)")
RPC_BATCH = 500
GAS_LIMIT_TTL_S = 10.0


def _word(address: str) -> bytes:
    return bytes.fromhex(address.removeprefix("0x")).rjust(32, b"\x00")


class TokenViews:
    def __init__(self, chain: ChainClient) -> None:
        self.chain = chain
        self._ids = itertools.count(1)
        self._gas_limit: tuple[int, float] | None = None

    def call(self, token: str, data: bytes, block: str = "latest") -> bytes:
        return bytes(self.chain.w3.eth.call({"to": to_checksum_address(token), "data": data}, block))  # type: ignore[typeddict-item,arg-type]

    def block_gas_limit(self) -> int:
        """The latest block's gas limit (re-read every few seconds: it moves slowly, never hard-coded)."""
        now = time.monotonic()
        if self._gas_limit is None or now - self._gas_limit[1] > GAS_LIMIT_TTL_S:
            self._gas_limit = (int(self.chain.w3.eth.get_block("latest")["gasLimit"]), now)
        return self._gas_limit[0]

    def paused(self, token: str) -> bool:
        return int.from_bytes(self.call(token, _PAUSED) or b"\x00", "big") != 0

    def cap_room(self, token: str) -> int | None:
        """Base units that may still be minted, or None when the token is uncapped (cap 0)."""
        cap = int.from_bytes(self.call(token, _CAP), "big")
        if cap == 0:
            return None
        return cap - int.from_bytes(self.call(token, _TOTAL_SUPPLY), "big")

    def manifest_root(self, token: str, batch_id: str, block: str = "latest") -> str:
        raw = self.call(token, _MANIFEST_ROOT + bytes.fromhex(batch_id.removeprefix("0x")), block)
        return "0x" + raw.rjust(32, b"\x00").hex()

    def balances(self, token: str, wallets: Sequence[str]) -> dict[str, int]:
        if not wallets:
            return {}
        if self.chain.kind == "rpc":
            try:
                return self._batched_balances(token, wallets)
            except (httpx.HTTPError, ChainUnavailable, KeyError, ValueError):
                pass  # a node or proxy without batch support: one call per wallet
        return {w: int.from_bytes(self.call(token, _BALANCE_OF + _word(w)), "big") for w in wallets}

    def _batched_balances(self, token: str, wallets: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for start in range(0, len(wallets), RPC_BATCH):
            chunk = wallets[start : start + RPC_BATCH]
            payload = [
                {
                    "jsonrpc": "2.0",
                    "id": next(self._ids),
                    "method": "eth_call",
                    "params": [{"to": token, "data": "0x" + (_BALANCE_OF + _word(w)).hex()}, "latest"],
                }
                for w in chunk
            ]
            replies = self._post(payload)
            by_id: dict[Any, Any] = {r["id"]: r for r in replies}
            for request, wallet in zip(payload, chunk, strict=True):
                reply = by_id[request["id"]]
                if "error" in reply:
                    raise ChainUnavailable(f"balanceOf failed: {reply['error']}")
                out[wallet] = int(reply["result"], 16)
        return out

    def _post(self, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
        last: Exception | None = None
        for url in self.chain.urls:
            try:
                response = httpx.post(url, json=payload, timeout=10)
                response.raise_for_status()
                replies = response.json()
                if not isinstance(replies, list):
                    raise ValueError("node answered a batch with a single object")
                return replies
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
        raise ChainUnavailable(f"batched eth_call failed on every RPC URL: {last}")
