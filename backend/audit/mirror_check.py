"""Audit check 4 (pure): the indexer mirror equals the chain — transfers by (tx_hash, log_index), then balances."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from backend.audit.records import ChainSnapshot, MirrorSnapshot, TransferLog
from backend.audit.records import checksum as _cs

AddFinding = Callable[..., Any]  # `Verifier.add(code, message, **where)`


class MirrorCheck:
    def __init__(self, chain: ChainSnapshot, add: AddFinding, notes: list[str]) -> None:
        self.chain = chain
        self.add = add
        self.notes = notes
        self.checked_to: int | None = None  # the last block compared (None: the mirror is not indexed)

    def run(self, mirror: MirrorSnapshot) -> None:
        if mirror.cursor_block is None:
            self.add("mirror-not-indexed", "the mirror database has no indexer cursor for this chain")
            return
        limit = min(mirror.cursor_block, self.chain.to_block)
        self.checked_to = limit
        lo = self.chain.from_block
        chain_transfers = {
            (t.tx_hash, t.log_index): t
            for token in self.chain.tokens.values()
            for t in token.transfers
            if t.block_number <= limit
        }
        tokens = set(self.chain.tokens)
        mirrored = {k: t for k, t in mirror.transfers.items() if lo <= t.block_number <= limit and t.token in tokens}
        for key in sorted(chain_transfers.keys() - mirrored.keys()):
            t = chain_transfers[key]
            self.add(
                "mirror-transfer-missing",
                f"transfer {key[0]}#{key[1]} ({t.value} to {_cs(t.to_addr)}) is on chain, not in the mirror",
                token=_cs(t.token),
                tx_hash=key[0],
                details={"log_index": key[1], "block_number": t.block_number},
            )
        for key in sorted(mirrored.keys() - chain_transfers.keys()):
            t = mirrored[key]
            self.add(
                "mirror-transfer-extra",
                f"the mirror holds transfer {key[0]}#{key[1]} (block {t.block_number}) that the chain does not",
                token=_cs(t.token),
                tx_hash=key[0],
                details={"log_index": key[1], "block_number": t.block_number},
            )
        for key in sorted(chain_transfers.keys() & mirrored.keys()):
            a, b = chain_transfers[key], mirrored[key]
            if (a.token, a.block_number, a.from_addr, a.to_addr, a.value) != (
                b.token,
                b.block_number,
                b.from_addr,
                b.to_addr,
                b.value,
            ):
                self.add(
                    "mirror-transfer-mismatch",
                    f"transfer {key[0]}#{key[1]} differs: chain {a.from_addr}→{a.to_addr} {a.value} @"
                    f"{a.block_number}, mirror {b.from_addr}→{b.to_addr} {b.value} @{b.block_number}",
                    token=_cs(a.token),
                    tx_hash=key[0],
                    details={"log_index": key[1]},
                )
        if mirror.cursor_block > self.chain.to_block:
            self.notes.append("the mirror is ahead of the audited block; balances not compared")
            return
        if not all(t.complete for t in self.chain.tokens.values()):
            self.notes.append("the audited range starts after a token's creation; balances not compared")
            return
        self.compare_balances(chain_transfers.values(), mirror.balances)
        if limit < self.chain.to_block:
            self.notes.append(f"the mirror was compared up to its cursor, block {limit}")

    def compare_balances(self, transfers: Iterable[TransferLog], mirrored: dict[tuple[str, str], int]) -> None:
        expected: dict[tuple[str, str], int] = defaultdict(int)
        for t in transfers:
            if not t.is_mint:
                expected[(t.token, t.from_addr)] -= t.value
            if not t.is_burn:
                expected[(t.token, t.to_addr)] += t.value
        tokens = set(self.chain.tokens)
        mirrored = {k: v for k, v in mirrored.items() if k[0] in tokens}
        for key in sorted(expected.keys() | mirrored.keys()):
            want, have = expected.get(key, 0), mirrored.get(key, 0)
            if want != have:
                self.add(
                    "mirror-balance-mismatch",
                    f"{_cs(key[1])} holds {want} on chain, the mirror says {have}",
                    token=_cs(key[0]),
                    wallet=_cs(key[1]),
                    details={"on_chain": str(want), "mirror": str(have)},
                )
