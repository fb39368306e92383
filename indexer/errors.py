"""Errors of the indexer package; each class builds its own message."""

from __future__ import annotations

from backend.errors import ChainUnavailable, LoyaltyError


class IndexerError(LoyaltyError):
    code = "indexer-error"
    title = "Indexer failed"


class RpcError(ChainUnavailable):
    """A JSON-RPC error object returned by the node (the request reached it and was refused)."""

    code = "rpc-error"

    def __init__(self, method: str, error: dict | str) -> None:
        body = error if isinstance(error, dict) else {"message": str(error)}
        self.method = method
        self.rpc_code = body.get("code")
        self.message = str(body.get("message", ""))
        data = body.get("data")
        self.data = data if isinstance(data, str) else ""
        super().__init__(f"{method}: {self.message}{' ' + self.data if self.data else ''}")


class RpcTransportError(ChainUnavailable):
    """No endpoint answered (connection refused, timeout, HTTP 5xx/429, garbage)."""

    code = "rpc-transport-error"

    def __init__(self, method: str, reason: str, timeout: bool = False) -> None:
        self.method = method
        self.timeout = timeout
        super().__init__(f"{method}: {reason}")


class FetchFailed(IndexerError):
    code = "fetch-failed"
    title = "Could not fetch chain data"


class ReorgBeyondDepth(IndexerError):
    """The chain reorganised below the window of block hashes we keep: stop rather than guess."""

    code = "reorg-beyond-depth"
    title = "Reorg deeper than the configured depth"

    def __init__(self, chain_id: int, block: int, oldest_kept: int | None) -> None:
        self.block = block
        self.oldest_kept = oldest_kept
        super().__init__(
            f"chain {chain_id}: block {block} no longer matches and no common ancestor exists within the kept "
            f"window (oldest kept block {oldest_kept}); raise LOYALTY_REORG_DEPTH or rebuild the mirror"
        )
