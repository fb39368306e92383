"""Chain adapter: one interface over the in-process eth-tester chain, anvil and remote RPC nodes."""

from backend.adapters.chain.artifacts import Artifact, load_artifact
from backend.adapters.chain.client import ChainClient, connect

__all__ = ["Artifact", "ChainClient", "connect", "load_artifact"]
