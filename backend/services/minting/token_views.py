"""Read-only calls on a loyalty token the pipeline needs (balances, pause, cap, landed manifest roots).

Encoded by hand from the function signatures so that the pipeline needs no artifact on its hot path; balances of
many wallets go in one JSON-RPC batch request when the node speaks HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from backend.adapters.chain.batch import RpcBatch
from backend.adapters.chain.client import ChainClient
from backend.errors import ChainUnavailable

_BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
_PAUSED = function_signature_to_4byte_selector("paused()")
_CAP = function_signature_to_4byte_selector("cap()")
_TOTAL_SUPPLY = function_signature_to_4byte_selector("totalSupply()")
_MANIFEST_ROOT = function_signature_to_4byte_selector("batchManifestRoot(bytes32)")
GAS_LIMIT_TTL_S = 10.0


def _word(address: str) -> bytes:
    return bytes.fromhex(address.removeprefix("0x")).rjust(32, b"\x00")


class TokenViews:
    def __init__(self, chain: ChainClient) -> None:
        self.chain = chain
        self.batch = RpcBatch(chain)
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

    def mint_status(self, token: str) -> tuple[bool, int | None]:
        """(paused, cap room) in one batched round trip when the node speaks HTTP (checked before every batch)."""
        if self.batch.supported:
            calls = [
                ("eth_call", [{"to": token, "data": "0x" + sel.hex()}, "latest"])
                for sel in (_PAUSED, _CAP, _TOTAL_SUPPLY)
            ]
            try:
                results = self.batch.call(calls)
            except ChainUnavailable:
                results = []
            if len(results) == 3 and not any(isinstance(r, Exception) for r in results):
                paused, cap, supply = (int(r, 16) if r not in (None, "0x") else 0 for r in results)
                return paused != 0, None if cap == 0 else cap - supply
        return self.paused(token), self.cap_room(token)

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
        calls = [
            ("eth_call", [{"to": token, "data": "0x" + (_BALANCE_OF + _word(w)).hex()}, "latest"]) for w in wallets
        ]
        out: dict[str, int] = {}
        for wallet, result in zip(wallets, self.batch.call(calls), strict=True):
            if isinstance(result, Exception):
                raise ChainUnavailable(f"balanceOf failed: {result}")
            out[wallet] = int(result, 16)
        return out
