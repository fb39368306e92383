"""Block headers (number, hash, parent hash, timestamp) in JSON-RPC batches; head and finalized block."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from indexer.errors import RpcError, RpcTransportError
from indexer.fetch.rpc import RetryPolicy, Transport, batch_strict, call

HEADER_BATCH = 200


class BlockHeader(NamedTuple):
    number: int
    hash: str
    parent_hash: str
    timestamp: int


def parse_header(raw: dict[str, Any]) -> BlockHeader:
    return BlockHeader(int(raw["number"], 16), raw["hash"], raw["parentHash"], int(raw["timestamp"], 16))


class HeaderFetcher:
    def __init__(self, transport: Transport, retry: RetryPolicy | None = None) -> None:
        self.transport = transport
        self.retry = retry or RetryPolicy()

    def head(self) -> int:
        return int(call(self.transport, "eth_blockNumber", retry=self.retry), 16)

    def finalized(self) -> int | None:
        """The node's `finalized` block number, or None when it does not know the tag."""
        return self.head_and_finalized()[1]

    def head_and_finalized(self) -> tuple[int, int | None]:
        """Head and `finalized` block in one round trip; finalized is None when the node lacks the tag."""

        def once() -> tuple[int, int | None]:
            head, final = self.transport.batch(
                [("eth_blockNumber", []), ("eth_getBlockByNumber", ["finalized", False])]
            )
            if isinstance(head, RpcError):
                raise head
            if isinstance(final, RpcError) or not final:
                return int(head, 16), None
            return int(head, 16), int(final["number"], 16)

        return self.retry.run("eth_blockNumber", once, (RpcTransportError, RpcError))

    def by_number(self, numbers: Sequence[int]) -> list[BlockHeader]:
        """Headers in the order asked; a missing block (beyond head, or reorged away mid-call) raises."""
        out: list[BlockHeader] = []
        for i in range(0, len(numbers), HEADER_BATCH):
            chunk = numbers[i : i + HEADER_BATCH]
            raws = batch_strict(
                self.transport, [("eth_getBlockByNumber", [hex(n), False]) for n in chunk], retry=self.retry
            )
            for n, raw in zip(chunk, raws, strict=True):
                if raw is None:
                    raise RpcTransportError("eth_getBlockByNumber", f"block {n} not available yet")
                out.append(parse_header(raw))
        return out

    def one(self, number: int) -> BlockHeader:
        return self.by_number([number])[0]
