"""A throwaway anvil node for tests and benchmarks: free port, readiness wait, raw JSON-RPC helpers.

    with AnvilNode(block_time=2) as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        node.mine(3); node.reorg(2)

Uses `node_modules/.bin/anvil` (pinned by package.json) and anvil's default dev accounts
("test test ... junk" mnemonic). The child dies with the test process, even on SIGKILL (Linux PDEATHSIG).
NOTE: PDEATHSIG fires when the *thread* that started anvil exits, so start nodes from a long-lived thread
(the main thread, as pytest fixtures do), not from a short-lived worker thread.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from devtools.processes import free_port

REPO = Path(__file__).resolve().parents[1]
ANVIL_BIN = REPO / "node_modules" / ".bin" / "anvil"
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
# Private keys of anvil's first default accounts (derived from DEFAULT_MNEMONIC); public test keys.
DEV_PRIVATE_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
)


def dev_private_key(index: int) -> str:
    """Private key of anvil's default account `index` (m/44'/60'/0'/0/index of DEFAULT_MNEMONIC)."""
    if index < len(DEV_PRIVATE_KEYS):
        return DEV_PRIVATE_KEYS[index]
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return "0x" + bytes(account.key).hex()


class AnvilError(RuntimeError):
    """Anvil failed to start or answered a JSON-RPC request with an error."""


def anvil_available() -> bool:
    return ANVIL_BIN.exists()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # NOTE: PR_SET_PDEATHSIG makes the kernel SIGTERM anvil if the test process dies without cleanup.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


_live_nodes: set[AnvilNode] = set()


@atexit.register
def _stop_all() -> None:
    for node in list(_live_nodes):
        node.stop()


class AnvilNode:
    """Context manager owning one anvil process on 127.0.0.1."""

    def __init__(
        self,
        block_time: float | None = None,
        chain_id: int = 31337,
        accounts: int = 10,
        base_fee: int | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.block_time = block_time
        self.chain_id = chain_id
        self.accounts = accounts
        self.base_fee = base_fee
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self._log: Any = None
        self._ids = itertools.count(1)
        self._snapshots: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ lifecycle

    def _command(self) -> list[str]:
        cmd = [str(ANVIL_BIN), "--host", "127.0.0.1", "--port", str(self.port), "--quiet"]
        cmd += ["--chain-id", str(self.chain_id), "--accounts", str(self.accounts), "--mnemonic", DEFAULT_MNEMONIC]
        if self.block_time is not None:
            cmd += ["--block-time", f"{self.block_time:g}"]
        if self.base_fee is not None:
            cmd += ["--base-fee", str(self.base_fee)]
        return cmd + self.extra_args

    def start(self) -> AnvilNode:
        if not anvil_available():
            raise AnvilError(f"{ANVIL_BIN} not found; run scripts/setup.sh (npm ci)")
        last_error = ""
        for _attempt in range(3):  # NOTE: the free port can be taken between probing and anvil's bind
            self.port = free_port()
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            self._client = httpx.Client(timeout=30.0)
            _live_nodes.add(self)
            try:
                self._wait_ready()
                return self
            except AnvilError as exc:
                last_error = str(exc)
                self.stop()
        raise AnvilError(f"anvil did not start: {last_error}")

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AnvilError(f"anvil exited with {self._proc.returncode}: {self._stderr_tail()}")
            try:
                if int(self.rpc("eth_chainId"), 16) == self.chain_id:
                    return
            except (httpx.HTTPError, AnvilError):
                pass
            time.sleep(0.05)
        raise AnvilError(f"no eth_chainId answer within {self.startup_timeout}s: {self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        if self._log is None:
            return ""
        with contextlib.suppress(Exception):
            self._log.seek(0)
            return bytes(self._log.read()[-2000:]).decode(errors="replace")
        return ""

    def stop(self) -> None:
        """Terminate (then kill) anvil; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._log is not None:
            self._log.close()
            self._log = None
        _live_nodes.discard(self)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ JSON-RPC

    def rpc(self, method: str, *params: Any) -> Any:
        """Send one raw JSON-RPC request and return its `result` (AnvilError on an RPC error)."""
        if self._client is None:
            raise AnvilError("anvil is not running")
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        response = self._client.post(self.url, json=body)
        data = response.json()
        if "error" in data:
            raise AnvilError(f"{method} failed: {data['error']}")
        return data.get("result")

    def web3(self) -> Any:
        """A web3.py client on this node (imported lazily so the helper works without web3)."""
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.url))

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def reorg(self, depth: int) -> None:
        """Replace the last `depth` blocks with empty ones (their transactions are dropped)."""
        self.rpc("anvil_reorg", depth, [])

    def snapshot(self) -> str:
        snapshot_id = str(self.rpc("evm_snapshot"))
        self._snapshots.append(snapshot_id)
        return snapshot_id

    def revert(self, snapshot_id: str | None = None) -> None:
        """Revert to `snapshot_id` (default: the latest snapshot); anvil drops that snapshot and later ones."""
        if snapshot_id is None:
            if not self._snapshots:
                raise AnvilError("no snapshot to revert to")
            snapshot_id = self._snapshots[-1]
        if not self.rpc("evm_revert", snapshot_id):
            raise AnvilError(f"evm_revert({snapshot_id}) refused")
        if snapshot_id in self._snapshots:
            del self._snapshots[self._snapshots.index(snapshot_id) :]

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", enabled)

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", address, hex(wei))


__all__ = [
    "ANVIL_BIN",
    "DEFAULT_MNEMONIC",
    "DEV_PRIVATE_KEYS",
    "AnvilError",
    "AnvilNode",
    "anvil_available",
    "dev_private_key",
]

if __name__ == "__main__":  # manual smoke check
    with AnvilNode() as node:
        print(node.url, node.block_number(), os.getpid())
