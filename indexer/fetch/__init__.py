"""Fetchers: raw JSON-RPC transport with failover and retries, adaptive `eth_getLogs`, block headers."""

from indexer.fetch.blocks import BlockHeader, HeaderFetcher
from indexer.fetch.logs import LogFetcher
from indexer.fetch.rpc import HttpTransport, RetryPolicy, TesterTransport, Transport, transport_for

__all__ = [
    "BlockHeader",
    "HeaderFetcher",
    "HttpTransport",
    "LogFetcher",
    "RetryPolicy",
    "TesterTransport",
    "Transport",
    "transport_for",
]
