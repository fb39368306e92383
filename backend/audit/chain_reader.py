"""Read what the audit needs from any JSON-RPC node: logs in adaptive ranges, `eth_call` at one fixed block.

NOTE: the auditor deliberately shares no code with the indexer or the chain adapter (and needs no database and no
web3 provider stack): an independent reader is what makes "the mirror equals the chain" a real check. The relayer
and the indexer share one JSON-RPC client (`indexer.fetch.rpc`); a bug there could show the mirror what it expects
to see, so the verification reads the chain through code of its own.
Everything is read at one block (`to_block`) so that logs, `totalSupply()` and `batchManifestRoot()` agree.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx
from eth_utils import function_signature_to_4byte_selector, keccak

from backend.audit.errors import AuditUsageError, ChainReadError
from backend.audit.records import BatchMintedLog, ChainSnapshot, TokenHistory, TransferLog
from backend.audit.run_reader import read_runs

log = logging.getLogger("loyalty.audit.chain")


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


def _selector(signature: str) -> str:
    return "0x" + function_signature_to_4byte_selector(signature).hex()


TRANSFER = _topic("Transfer(address,address,uint256)")
BATCH_MINTED = _topic("BatchMinted(bytes32,bytes32,uint256,uint256)")
TOKEN_CREATED = _topic("TokenCreated(bytes32,address,string,string,uint8,uint256,address)")
TOTAL_SUPPLY = _selector("totalSupply()")
BATCH_MANIFEST_ROOT = _selector("batchManifestRoot(bytes32)")
TOKEN_COUNT = _selector("tokenCount()")
TOKEN_AT = _selector("tokenAt(uint256)")
RANGE_WORDS = ("range", "more than", "too many", "too large", "exceed", "limit", "response size", "timeout")
TRANSIENT_WORDS = ("internal error", "header not found", "try again", "rate limit", "too many requests", "timeout")
RANGE_HINT = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
Progress = Callable[[int], None]  # advance by n blocks / calls


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code, self.message, self.data = code, message, data
        super().__init__(f"JSON-RPC error {code}: {message}")

    @property
    def is_transient(self) -> bool:
        """Worth asking again: node-side hiccups and rate limits (never reverts or bad requests)."""
        text = self.message.lower()
        return self.code in (-32603, -32005, 429) or any(w in text for w in TRANSIENT_WORDS)

    @property
    def is_range_error(self) -> bool:
        text = f"{self.message} {self.data}".lower()
        return self.code == -32005 or any(word in text for word in RANGE_WORDS)


class JsonRpc:
    """Plain JSON-RPC over HTTP with retries on transport faults, 429 and 5xx (not on JSON-RPC errors)."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, attempts: int = 6, backoff_s: float = 0.2) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._http = httpx.Client(timeout=timeout_s)
        self._id = 0

    def close(self) -> None:
        self._http.close()

    def _post(self, payload: Any) -> Any:
        last: Exception | None = None
        for attempt in range(self.attempts):
            try:
                response = self._http.post(self.url, json=payload)
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    raise ChainReadError(f"{self.url} refused the request: HTTP {response.status_code}")
                if response.status_code < 400:
                    return response.json()
                last = RuntimeError(f"HTTP {response.status_code}")
            except httpx.TimeoutException:
                raise
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
            log.warning("RPC %s failed (%s); retry %d", self.url, last, attempt + 1)
            time.sleep(min(5.0, self.backoff_s * 2**attempt))
        raise ChainReadError(f"{self.url} did not answer after {self.attempts} attempts: {last}")

    def _next_id(self) -> int:
        self._id += 1
        return self._id

    def call(self, method: str, *params: Any) -> Any:
        """One call; transient node errors are retried (eth_getLogs errors go back to the caller's range logic)."""
        for attempt in range(self.attempts):
            try:
                body = self._post({"jsonrpc": "2.0", "id": self._next_id(), "method": method, "params": list(params)})
            except httpx.TimeoutException as exc:
                raise RpcError(-32000, f"timeout: {exc}") from exc
            if not isinstance(body, dict):
                raise ChainReadError(f"{method}: malformed JSON-RPC answer")
            if not body.get("error"):
                return body.get("result")
            error = _rpc_error(body["error"])
            if method == "eth_getLogs" or not error.is_transient or attempt == self.attempts - 1:
                raise error
            log.warning("%s failed (%s); retry %d", method, error.message, attempt + 1)
            time.sleep(min(5.0, self.backoff_s * 2**attempt))
        raise AssertionError("unreachable")

    def batch(self, calls: Sequence[tuple[str, list[Any]]], chunk: int = 50) -> list[Any]:
        """Several calls per round trip (chunked); a chunk with a transient error is sent again."""
        out: list[Any] = []
        for i in range(0, len(calls), chunk):
            out += self._batch_chunk(calls[i : i + chunk])
        return out

    def _batch_chunk(self, part: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        for attempt in range(self.attempts):
            first = self._id + 1
            payload = [{"jsonrpc": "2.0", "id": self._next_id(), "method": m, "params": p} for m, p in part]
            try:
                body = self._post(payload)
            except httpx.TimeoutException as exc:
                raise ChainReadError(f"a batch of {len(part)} calls timed out") from exc
            if not isinstance(body, list):  # some nodes refuse batches with one error object
                return [self.call(m, *p) for m, p in part]
            by_id = {item.get("id"): item for item in body if isinstance(item, dict)}
            results: list[Any] = []
            error: RpcError | None = None
            for n in range(len(part)):
                item = by_id.get(first + n)
                if item is None:
                    raise ChainReadError("a JSON-RPC batch answer misses an item")
                if item.get("error"):
                    error = _rpc_error(item["error"])
                    break
                results.append(item.get("result"))
            if error is None:
                return results
            if not error.is_transient or attempt == self.attempts - 1:
                raise error
            time.sleep(min(5.0, self.backoff_s * 2**attempt))
        raise AssertionError("unreachable")


def _rpc_error(err: Any) -> RpcError:
    if not isinstance(err, dict):
        return RpcError(0, str(err))
    return RpcError(int(err.get("code", 0) or 0), str(err.get("message", "")), err.get("data"))


def _word(data: str, index: int) -> int:
    return int(data[2 + 64 * index : 2 + 64 * (index + 1)], 16)


def _uint(result: str | None) -> int:
    """An eth_call result as uint (an address without code answers `0x`)."""
    return int(result, 16) if result and result != "0x" else 0


def _address_topic(topic: str) -> str:
    return "0x" + topic[-40:].lower()


def decode_log(raw: dict[str, Any]) -> TransferLog | BatchMintedLog | None:
    """A raw token log → record; anything but the exact ERC-20 Transfer / BatchMinted shapes is ignored."""
    if raw.get("removed"):
        return None
    topics = [t.lower() for t in raw["topics"]]
    data = raw.get("data", "0x")
    common = (
        raw["address"].lower(),
        raw["transactionHash"].lower(),
        int(raw["logIndex"], 16),
        int(raw["blockNumber"], 16),
    )
    if topics and topics[0] == TRANSFER and len(topics) == 3 and len(data) == 66:
        return TransferLog(*common, _address_topic(topics[1]), _address_topic(topics[2]), int(data, 16))
    if topics and topics[0] == BATCH_MINTED and len(topics) == 2 and len(data) == 2 + 64 * 3:
        root = "0x" + data[2:66].lower()
        return BatchMintedLog(*common, topics[1], root, _word(data, 1), _word(data, 2))
    return None


class ChainReader:
    """Reads one chain through one RPC URL; ranges adapt to what the provider accepts."""

    def __init__(
        self, rpc: JsonRpc, *, initial_range: int = 5_000, max_range: int = 200_000, address_chunk: int = 200
    ) -> None:
        self.rpc = rpc
        self.range = initial_range
        self.max_range = max_range
        self.address_chunk = address_chunk

    def chain_id(self) -> int:
        return int(self.rpc.call("eth_chainId"), 16)

    def resolve_block(self, tag: str | int) -> int:
        """A block number from a number or a tag (`latest`, `safe`, `finalized`)."""
        latest = int(self.rpc.call("eth_blockNumber"), 16)
        if isinstance(tag, int) or str(tag).isdigit():
            if int(tag) > latest:
                raise AuditUsageError(f"block {tag} is beyond the node's head ({latest})")
            return int(tag)
        block = self.rpc.call("eth_getBlockByNumber", str(tag), False)
        if not block:
            raise AuditUsageError(f"the node does not know block {tag!r}")
        return int(block["number"], 16)

    def block_hash(self, number: int) -> str:
        block = self.rpc.call("eth_getBlockByNumber", hex(number), False)
        if not block:
            raise ChainReadError(f"block {number} vanished (the chain reorganized)")
        return str(block["hash"]).lower()

    def get_logs(
        self,
        addresses: Sequence[str],
        topics: list[Any],
        from_block: int,
        to_block: int,
        progress: Progress | None = None,
    ) -> list[dict[str, Any]]:
        """All logs in [from_block, to_block]: halve the range on provider limits, grow it while answers are small."""
        logs: list[dict[str, Any]] = []
        start = from_block
        failures = 0
        while start <= to_block and addresses:
            end = min(to_block, start + self.range - 1)
            try:
                found: list[dict[str, Any]] = []
                for i in range(0, len(addresses), self.address_chunk):
                    spec = {
                        "fromBlock": hex(start),
                        "toBlock": hex(end),
                        "address": list(addresses[i : i + self.address_chunk]),
                        "topics": topics,
                    }
                    found += self.rpc.call("eth_getLogs", spec)
            except RpcError as exc:
                if exc.is_range_error and end > start:
                    self._shrink(exc, end - start + 1)
                    log.info("eth_getLogs [%d, %d] refused (%s); range now %d", start, end, exc.message, self.range)
                    continue
                failures += 1
                if failures >= 5:
                    raise ChainReadError(f"eth_getLogs [{start}, {end}] failed: {exc}") from exc
                time.sleep(0.2 * 2**failures)
                continue
            failures = 0
            logs += found
            if progress is not None:
                progress(end - start + 1)
            if len(found) < 5_000 and end - start + 1 >= self.range:
                self.range = min(self.max_range, self.range * 2)
            start = end + 1
        if not addresses and progress is not None:
            progress(to_block - from_block + 1)
        return logs

    def _shrink(self, error: RpcError, span: int) -> None:
        # NOTE: a provider's limit is stable, so never grow back to a refused span; follow its hint if it gives one.
        match = RANGE_HINT.search(f"{error.message} {error.data}")
        hinted = int(match.group(2), 16) - int(match.group(1), 16) + 1 if match else 0
        self.range = hinted if 0 < hinted < span else max(1, span // 2)
        self.max_range = min(self.max_range, span - 1)

    def eth_calls(self, calls: Sequence[tuple[str, str]], block: int) -> list[str]:
        """`eth_call` (to, data) at `block`, batched."""
        return list(self.rpc.batch([("eth_call", [{"to": to, "data": data}, hex(block)]) for to, data in calls]))

    def factory_tokens(self, factory: str, from_block: int, to_block: int) -> dict[str, int | None]:
        """Every token the factory created up to `to_block` → its creation block (None if before `from_block`)."""
        created: dict[str, int | None] = {}
        for raw in self.get_logs([factory], [TOKEN_CREATED], from_block, to_block):
            if not raw.get("removed") and len(raw["topics"]) == 3:
                created[_address_topic(raw["topics"][2])] = int(raw["blockNumber"], 16)
        try:
            count = int(self.eth_calls([(factory, TOKEN_COUNT)], to_block)[0], 16)
        except (RpcError, ValueError) as exc:
            raise ChainReadError(f"{factory} does not answer tokenCount(); is it the token factory?") from exc
        calls = [(factory, TOKEN_AT + i.to_bytes(32, "big").hex()) for i in range(count)]
        for result in self.eth_calls(calls, to_block):
            created.setdefault(_address_topic(result), None)
        return created

    def snapshot(
        self,
        tokens: dict[str, int | None],
        from_block: int,
        to_block: int,
        batch_ids: Mapping[str, Iterable[str]] | None = None,
        progress: Progress | None = None,
    ) -> ChainSnapshot:
        """Transfers and batches of `tokens` (address → creation block or None) in the range, state at `to_block`.

        `batch_ids` adds batch ids (e.g. from manifests) whose on-chain root must be read too.
        """
        addresses = sorted(a.lower() for a in tokens)
        raw_logs = self.get_logs(addresses, [[TRANSFER, BATCH_MINTED]], from_block, to_block, progress)
        histories: dict[str, TokenHistory] = {}
        for address in addresses:
            created = tokens.get(address, tokens.get(address.lower()))
            complete = from_block == 0 or (created is not None and created >= from_block)
            histories[address] = TokenHistory(address, 0, complete, created)
        for raw in raw_logs:
            record = decode_log(raw)
            if record is None or record.token not in histories:
                continue
            if isinstance(record, TransferLog):
                histories[record.token].transfers.append(record)
            else:
                histories[record.token].batches.append(record)
        supplies = self.eth_calls([(a, TOTAL_SUPPLY) for a in addresses], to_block)
        for address, supply in zip(addresses, supplies, strict=True):
            histories[address].total_supply = _uint(supply)
        wanted = [
            (address, batch_id)
            for address, history in histories.items()
            for batch_id in sorted(
                {b.batch_id for b in history.batches} | {i.lower() for i in (batch_ids or {}).get(address, ())}
            )
        ]
        roots = self.eth_calls([(a, BATCH_MANIFEST_ROOT + b[2:]) for a, b in wanted], to_block)
        for (address, batch_id), root in zip(wanted, roots, strict=True):
            histories[address].onchain_roots[batch_id] = "0x" + format(_uint(root), "064x")
        unguarded = [  # batches credited through the shared minter keep their root under the run's root instead
            b.tx_hash for h in histories.values() for b in h.batches if int(h.onchain_roots[b.batch_id], 16) == 0
        ]
        runs = read_runs(self.rpc, unguarded, decode_log)
        return ChainSnapshot(self.chain_id(), from_block, to_block, histories, runs)
