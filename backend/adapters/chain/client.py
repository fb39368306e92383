"""`ChainClient`: a web3 connection with failover across RPC URLs, or the in-process eth-tester chain."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.providers import BaseProvider, HTTPProvider
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse

from backend.config import DEV_MNEMONIC
from backend.errors import ChainUnavailable
from backend.recursion_limit import clamp_recursion_limit

EMBEDDED_SCHEME = "eth-tester://"
RPC_TIMEOUT_S = 10


class LockedEthereumTesterProvider(EthereumTesterProvider):
    """eth-tester is not thread-safe; the embedded runner shares one chain between API, pipeline and indexer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.RLock()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._lock:
            return super().make_request(method, params)


class FailoverHTTPProvider(BaseProvider):
    """Sends each request to the first healthy URL; a connection error or timeout moves to the next one."""

    def __init__(self, urls: list[str], timeout_s: float = RPC_TIMEOUT_S) -> None:
        super().__init__()
        self.urls = urls
        self._providers = [HTTPProvider(u, request_kwargs={"timeout": timeout_s}) for u in urls]
        self._current = 0
        self._lock = threading.Lock()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        last_error: Exception | None = None
        start = self._current
        for offset in range(len(self._providers)):
            index = (start + offset) % len(self._providers)
            try:
                response = self._providers[index].make_request(method, params)
            except (OSError, TimeoutError) as exc:  # requests' errors subclass OSError
                last_error = exc
                continue
            if index != self._current:
                with self._lock:
                    self._current = index
            return response
        raise ChainUnavailable(f"all RPC endpoints failed for {method}: {last_error}")

    def is_connected(self, show_traceback: bool = False) -> bool:
        return any(p.is_connected() for p in self._providers)


def embedded_tester(accounts: int = 10) -> Any:
    """A fresh in-process chain whose dev accounts match anvil's (same mnemonic), each funded."""
    from eth_tester import EthereumTester, PyEVMBackend

    clamp_recursion_limit()  # importing eth-tester imports py-evm and py_ecc, which raise it
    # NOTE: anvil derives m/44'/60'/0'/0/i; eth-tester's default path (m/44'/60'/0'/i) funds other accounts.
    backend = PyEVMBackend.from_mnemonic(DEV_MNEMONIC, num_accounts=accounts, hd_path="m/44'/60'/0'/0")
    return EthereumTester(backend=backend, auto_mine_transactions=True)


@dataclass
class ChainClient:
    """What the pipeline, indexer and API need from a node; `w3` is there for everything else."""

    w3: Web3
    kind: str  # "eth-tester" | "rpc"
    urls: list[str] = field(default_factory=list)
    tester: Any = None  # the EthereumTester instance when embedded (lets tests and the runner mine)

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @property
    def is_embedded(self) -> bool:
        return self.kind == "eth-tester"

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def health(self) -> dict[str, Any]:
        try:
            return {"ok": True, "chain_id": self.chain_id, "head": self.head(), "kind": self.kind}
        except Exception as exc:  # health must report, never raise
            return {"ok": False, "error": str(exc)[:200], "kind": self.kind}

    def rpc(self, method: str, *params: Any) -> Any:
        """Raw JSON-RPC call (anvil_* helpers, eth_feeHistory ...)."""
        response = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in response:
            raise ChainUnavailable(f"{method} failed: {response['error']}")
        return response.get("result")


def connect(rpc_urls: list[str], tester: Any = None) -> ChainClient:
    """Connect to the first URL's kind: `eth-tester://` builds (or reuses) an in-process chain."""
    if rpc_urls[0].startswith(EMBEDDED_SCHEME):
        tester = tester or embedded_tester()
        w3 = Web3(LockedEthereumTesterProvider(ethereum_tester=tester))
        return ChainClient(w3=w3, kind="eth-tester", urls=rpc_urls, tester=tester)
    w3 = Web3(FailoverHTTPProvider(rpc_urls))
    return ChainClient(w3=w3, kind="rpc", urls=rpc_urls)
