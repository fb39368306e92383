"""Build synthetic chain snapshots and manifest directories for the verifier's unit tests (no node, no database)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from backend.audit.manifest_file import Manifest, ManifestEntry, load_manifests, write_manifest
from backend.audit.records import ZERO_ADDRESS, BatchMintedLog, ChainSnapshot, TokenHistory, TransferLog
from backend.audit.verifier import AuditResult, RootOf, verify

CHAIN_ID = 31337
TOKEN = to_checksum_address("0x" + "ab" * 20)


def wallet(n: int) -> str:
    return to_checksum_address("0x" + f"{n:040x}")


def tx(n: int) -> str:
    return "0x" + keccak(text=f"tx-{n}").hex()


def batch_id(n: int) -> str:
    return "0x" + keccak(text=f"batch-{n}").hex()


class SyntheticChain:
    """A token whose history is written by calling the same kinds of operations the contract allows."""

    def __init__(self, root_of: RootOf, token: str = TOKEN) -> None:
        self.root_of = root_of
        self.token = token.lower()
        self.history = TokenHistory(self.token, 0, True, created_block=1)
        self.block = 10
        self.manifests: list[Manifest] = []
        self._tx = 0

    def _next_tx(self) -> str:
        self._tx += 1
        self.block += 1
        return tx(self._tx)

    def batch_mint(self, n: int, entries: Sequence[tuple[Any, ...]], tx_hash: str | None = None) -> Manifest:
        """Mint a batch (one Transfer per wallet, then BatchMinted) and return its manifest.

        Entries are (action_id, wallet, amount) or (action_id, wallet, amount, rule_id); the rule defaults to rule-1.
        """
        items = tuple(ManifestEntry(e[0], e[1], e[2], e[3] if len(e) > 3 else "rule-1") for e in entries)
        root = self.root_of(items)
        tx_hash = tx_hash or self._next_tx()
        sums: dict[str, int] = defaultdict(int)
        for e in items:
            sums[e.wallet.lower()] += e.amount
        index = sum(1 for t in self.history.transfers if t.tx_hash == tx_hash) + sum(
            1 for b in self.history.batches if b.tx_hash == tx_hash
        )
        for w, amount in sums.items():
            self.history.transfers.append(TransferLog(self.token, tx_hash, index, self.block, ZERO_ADDRESS, w, amount))
            self.history.total_supply += amount
            index += 1
        bid = batch_id(n)
        self.history.batches.append(
            BatchMintedLog(self.token, tx_hash, index, self.block, bid, root, len(sums), sum(sums.values()))
        )
        self.history.onchain_roots[bid] = root
        manifest = Manifest(CHAIN_ID, to_checksum_address(self.token), bid, root, items, tx_hash, self.block)
        self.manifests.append(manifest)
        return manifest

    def mint(self, to: str, amount: int) -> str:
        tx_hash = self._next_tx()
        self.history.transfers.append(TransferLog(self.token, tx_hash, 0, self.block, ZERO_ADDRESS, to.lower(), amount))
        self.history.total_supply += amount
        return tx_hash

    def transfer(self, src: str, dst: str, amount: int) -> str:
        tx_hash = self._next_tx()
        self.history.transfers.append(TransferLog(self.token, tx_hash, 0, self.block, src.lower(), dst.lower(), amount))
        if dst.lower() == ZERO_ADDRESS:
            self.history.total_supply -= amount
        return tx_hash

    def snapshot(self, from_block: int = 0) -> ChainSnapshot:
        return ChainSnapshot(CHAIN_ID, from_block, self.block + 5, {self.token: self.history})

    def export(self, root: Path) -> Path:
        for m in self.manifests:
            write_manifest(root, m)
        return root

    def verify(self, root: Path, **kwargs: Any) -> AuditResult:
        good, bad = load_manifests(root)
        return verify(self.snapshot(kwargs.pop("from_block", 0)), good, self.root_of, invalid=bad, **kwargs)


def edit_manifest(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Tamper with a manifest file the way a person with a text editor would."""
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=1))
