"""The audit checks (pure): chain snapshot + manifest files (+ indexer mirror) → named findings.

1. every mint is explained by a `BatchMinted` whose manifest exists and recomputes to the event's root (and to
   `batchManifestRoot(batchId)`, or for a batch of the shared minter to a leaf of its run's root: `run_check`),
   with per-wallet sums equal to the transaction's mints;
2. no batch id twice (manifests or chain), no credit (action, rule, wallet, token) in two batches or twice in one;
3. per token, Σ mints − Σ burns == totalSupply() (when the range covers the token's whole life);
4. optionally, the indexer mirror equals the chain (transfers by (tx_hash, log_index), balances; `mirror_check`);
5. no manifest without its batch on chain.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from backend.audit.manifest_file import ManifestEntry, ManifestFile, run_root
from backend.audit.mirror_check import MirrorCheck
from backend.audit.records import (
    BatchMintedLog,
    ChainSnapshot,
    Finding,
    MirrorSnapshot,
    TokenHistory,
    TransferLog,
    checksum,
)
from backend.audit.run_check import RunCheck, RunRootOf

ZERO_ROOT = "0x" + "0" * 64
RootOf = Callable[[Sequence[ManifestEntry]], str]
_cs = checksum


class CreditKey(NamedTuple):
    """What is credited at most once: one action pays one wallet once per rule, in one token.

    NOTE: an action id alone is not unique in manifests: one action can credit several lines (base points and a
    promotion bonus, both sides of a referral, the brand's and the coalition's token), in the same batch or not.
    """

    token: str
    action_id: str
    rule_id: str | None
    wallet: str


def credit_key(token: str, entry: ManifestEntry) -> CreditKey:
    return CreditKey(_cs(token), entry.action_id, entry.rule_id, entry.wallet)


@dataclass
class TokenStats:
    address: str
    mints: int = 0
    minted: int = 0
    burned: int = 0
    total_supply: int = 0
    batches: int = 0
    manifests: int = 0
    complete: bool = True


@dataclass
class AuditResult:
    chain_id: int
    from_block: int
    to_block: int
    findings: list[Finding] = field(default_factory=list)
    tokens: dict[str, TokenStats] = field(default_factory=dict)
    manifests_read: int = 0
    manifests_skipped: int = 0
    actions: int = 0
    mirror_checked_to: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def codes(self) -> Counter[str]:
        return Counter(f.code for f in self.findings)


@dataclass
class _Batch:
    event: BatchMintedLog
    mints: list[TransferLog]


def attribute_mints(token: TokenHistory) -> tuple[list[_Batch], list[TransferLog]]:
    """Pair each `BatchMinted` with the mints its transaction emitted before it; the rest are unexplained.

    NOTE: batchMint emits its Transfers and then BatchMinted, so within one transaction the mints since the
    previous BatchMinted belong to the next one (a multicall holding two batches still splits correctly).
    """
    by_tx: dict[str, list[TransferLog | BatchMintedLog]] = defaultdict(list)
    for t in token.transfers:
        if t.is_mint:
            by_tx[t.tx_hash].append(t)
    for b in token.batches:
        by_tx[b.tx_hash].append(b)
    batches: list[_Batch] = []
    stray: list[TransferLog] = []
    for logs in by_tx.values():
        pending: list[TransferLog] = []
        for item in sorted(logs, key=lambda x: x.log_index):
            if isinstance(item, BatchMintedLog):
                batches.append(_Batch(item, pending))
                pending = []
            else:
                pending.append(item)
        stray += pending
    batches.sort(key=lambda b: (b.event.block_number, b.event.log_index))
    stray.sort(key=lambda t: (t.block_number, t.log_index))
    return batches, stray


def _wallet_sums(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for wallet, amount in pairs:
        sums[wallet.lower()] += amount
    return sums


class Verifier:
    def __init__(self, chain: ChainSnapshot, root_of: RootOf, run_root_of: RunRootOf = run_root) -> None:
        self.chain = chain
        self.root_of = root_of
        self.runs = RunCheck(chain, self.add, run_root_of)
        self.result = AuditResult(chain.chain_id, chain.from_block, chain.to_block)
        self._roots: dict[int, str] = {}  # id(manifest) → recomputed root (computed once per file)

    def add(self, code: str, message: str, **where: Any) -> None:
        self.result.findings.append(Finding(code, message, **where))

    def root(self, mf: ManifestFile) -> str:
        key = id(mf.manifest)
        if key not in self._roots:
            self._roots[key] = self.root_of(mf.manifest.entries).lower()
        return self._roots[key]

    # -- manifests on their own ------------------------------------------------------------------------------
    def select(self, manifests: Sequence[ManifestFile], invalid: Sequence[tuple[Path, str]]) -> list[ManifestFile]:
        for path, reason in invalid:
            self.add("manifest-invalid", f"{path} is not a valid manifest: {reason}", path=str(path))
        audited = []
        for mf in manifests:
            m = mf.manifest
            if m.chain_id != self.chain.chain_id or m.token.lower() not in self.chain.tokens:
                self.result.manifests_skipped += 1
                continue
            audited.append(mf)
            if mf.misplaced:
                self.add(
                    "manifest-misplaced",
                    f"{mf.path} holds batch {m.batch_id} of {m.token}; expected at {m.relative_path()}",
                    token=m.token,
                    batch_id=m.batch_id,
                    path=str(mf.path),
                )
        if self.result.manifests_skipped:
            self.result.notes.append(
                f"{self.result.manifests_skipped} manifest file(s) belong to another chain or a token not audited"
            )
        self.result.manifests_read = len(audited)
        self.result.actions = sum(len(mf.manifest.entries) for mf in audited)
        return audited

    def check_duplicates(self, manifests: Sequence[ManifestFile]) -> None:
        by_batch: dict[str, list[ManifestFile]] = defaultdict(list)
        for mf in manifests:
            by_batch[mf.manifest.batch_id].append(mf)
        for batch_id, files in by_batch.items():
            if len(files) > 1:
                paths = [str(f.path) for f in files]
                self.add(
                    "duplicate-batch-id",
                    f"batch {batch_id} appears in {len(files)} manifest files: {', '.join(paths)}",
                    token=files[0].manifest.token,
                    batch_id=batch_id,
                    details={"paths": paths},
                )
        seen: dict[CreditKey, dict[str, str]] = defaultdict(dict)  # credit → batch → path
        for mf in manifests:
            m = mf.manifest
            counts = Counter(credit_key(m.token, e) for e in m.entries)
            for key, n in counts.items():
                if n > 1:
                    self.add(
                        "duplicate-action",
                        f"action {key.action_id} credits {key.wallet} (rule {key.rule_id}) {n} times in batch "
                        f"{m.batch_id} ({mf.path})",
                        token=m.token,
                        batch_id=m.batch_id,
                        action_id=key.action_id,
                        wallet=key.wallet,
                        path=str(mf.path),
                    )
                seen[key].setdefault(m.batch_id, str(mf.path))
        for key, batches in seen.items():
            # NOTE: the same credit in copies of one batch is already reported as duplicate-batch-id.
            if len(batches) > 1:
                self.add(
                    "duplicate-action",
                    f"action {key.action_id} credits {key.wallet} (rule {key.rule_id}) in {len(batches)} batches: "
                    f"{', '.join(batches)}",
                    token=key.token,
                    action_id=key.action_id,
                    wallet=key.wallet,
                    batch_id=next(iter(batches)),
                    details={"batches": list(batches), "paths": list(batches.values())},
                )

    # -- chain against manifests -----------------------------------------------------------------------------
    def check_token(self, token: TokenHistory, manifests: Sequence[ManifestFile]) -> None:
        stats = TokenStats(_cs(token.address), total_supply=token.total_supply, complete=token.complete)
        self.result.tokens[token.address] = stats
        mints = [t for t in token.transfers if t.is_mint]
        stats.mints = len(mints)
        stats.minted = sum(t.value for t in mints)
        stats.burned = sum(t.value for t in token.transfers if t.is_burn)
        stats.batches = len(token.batches)
        stats.manifests = len(manifests)
        by_batch: dict[str, list[ManifestFile]] = defaultdict(list)
        for mf in manifests:
            by_batch[mf.manifest.batch_id].append(mf)

        batches, stray = attribute_mints(token)
        for t in stray:
            self.add(
                "unexplained-mint",
                f"{_cs(t.to_addr)} received {t.value} minted outside any batch (tx {t.tx_hash}, block "
                f"{t.block_number})",
                token=stats.address,
                tx_hash=t.tx_hash,
                wallet=_cs(t.to_addr),
                details={"amount": str(t.value), "block_number": t.block_number, "log_index": t.log_index},
            )
        on_chain_count = Counter(b.event.batch_id for b in batches)
        for batch_id, n in on_chain_count.items():
            if n > 1:
                txs = [b.event.tx_hash for b in batches if b.event.batch_id == batch_id]
                self.add(
                    "duplicate-batch-id",
                    f"batch {batch_id} was minted {n} times on chain (txs {', '.join(txs)})",
                    token=stats.address,
                    batch_id=batch_id,
                    details={"tx_hashes": txs},
                )
        for batch in batches:
            self.check_batch(token, batch, by_batch.get(batch.event.batch_id, []))
        minted_ids = set(on_chain_count)
        for batch_id, files in by_batch.items():
            if batch_id not in minted_ids:
                for mf in files:
                    self.check_unminted(token, mf)
        if token.complete:
            if stats.minted - stats.burned != token.total_supply:
                self.add(
                    "supply-mismatch",
                    f"Σ mints {stats.minted} − Σ burns {stats.burned} = {stats.minted - stats.burned}, "
                    f"but totalSupply() is {token.total_supply}",
                    token=stats.address,
                    details={
                        "minted": str(stats.minted),
                        "burned": str(stats.burned),
                        "total_supply": str(token.total_supply),
                    },
                )
        else:
            self.result.notes.append(
                f"{stats.address}: the audited range starts after the token's creation; supply not recomputed"
            )

    def check_batch(self, token: TokenHistory, batch: _Batch, files: Sequence[ManifestFile]) -> None:
        ev = batch.event
        where = {"token": _cs(token.address), "batch_id": ev.batch_id, "tx_hash": ev.tx_hash}
        minted = sum(t.value for t in batch.mints)
        if len(batch.mints) != ev.recipients or minted != ev.total:
            self.add(
                "batch-event-mismatch",
                f"BatchMinted says {ev.recipients} recipients / {ev.total} total, the transaction minted "
                f"{len(batch.mints)} / {minted}",
                **where,
            )
        stored = token.onchain_roots.get(ev.batch_id)
        if stored != ev.manifest_root and not (stored == ZERO_ROOT and self.runs.covers(ev)):
            self.add(
                "onchain-root-mismatch",
                f"batchManifestRoot({ev.batch_id}) is {stored}, the BatchMinted event says {ev.manifest_root}",
                **where,
            )
        if not files:
            self.add(
                "batch-without-manifest",
                f"batch {ev.batch_id} minted {minted} to {len(batch.mints)} recipients (block {ev.block_number}) "
                "but no manifest file describes it",
                **where,
                details={"total": str(minted), "block_number": ev.block_number},
            )
            return
        chain_sums = _wallet_sums((t.to_addr, t.value) for t in batch.mints)
        for mf in files:
            m = mf.manifest
            at = {**where, "path": str(mf.path)}
            recomputed = self.root(mf)
            if recomputed != ev.manifest_root:
                self.add(
                    "manifest-root-mismatch",
                    f"the entries of {mf.path} hash to {recomputed}, the chain committed {ev.manifest_root}",
                    **at,
                    details={"recomputed": recomputed, "on_chain": ev.manifest_root, "declared": m.manifest_root},
                )
            if m.manifest_root != ev.manifest_root:
                self.add(
                    "manifest-declared-root-mismatch",
                    f"{mf.path} declares root {m.manifest_root}, the chain committed {ev.manifest_root}",
                    **at,
                )
            if m.tx_hash is not None and (m.tx_hash != ev.tx_hash or m.block_number != ev.block_number):
                self.add(
                    "manifest-tx-mismatch",
                    f"{mf.path} says tx {m.tx_hash} (block {m.block_number}); the batch was minted in tx "
                    f"{ev.tx_hash} (block {ev.block_number})",
                    **at,
                )
            self.compare_sums(chain_sums, m.entries, at)

    def compare_sums(self, chain_sums: dict[str, int], entries: Sequence[ManifestEntry], at: dict[str, Any]) -> None:
        manifest_sums = _wallet_sums((e.wallet, e.amount) for e in entries)
        actions: dict[str, list[str]] = defaultdict(list)
        for e in entries:
            actions[e.wallet.lower()].append(e.action_id)
        for wallet in sorted(chain_sums.keys() | manifest_sums.keys()):
            got, listed = chain_sums.get(wallet, 0), manifest_sums.get(wallet, 0)
            if got == listed:
                continue
            ids = actions.get(wallet, [])
            self.add(
                "mint-amount-mismatch",
                f"{_cs(wallet)} received {got} in this batch, the manifest lists {listed}"
                + (f" (actions {', '.join(ids)})" if ids else " (no action)"),
                **at,
                wallet=_cs(wallet),
                action_id=ids[0] if len(ids) == 1 else None,
                details={"on_chain": str(got), "manifest": str(listed), "actions": ids},
            )

    def check_unminted(self, token: TokenHistory, mf: ManifestFile) -> None:
        m = mf.manifest
        root = token.onchain_roots.get(m.batch_id, ZERO_ROOT)
        if root != ZERO_ROOT:
            self.result.notes.append(f"batch {m.batch_id} was minted outside the audited block range; not checked")
            return
        if m.block_number is not None and m.block_number > self.chain.to_block:
            self.result.notes.append(f"batch {m.batch_id} is recorded after block {self.chain.to_block}; not checked")
            return
        total = sum(e.amount for e in m.entries)
        self.add(
            "manifest-not-on-chain",
            f"{mf.path} describes batch {m.batch_id} ({len(m.entries)} actions, {total} units"
            + (f", tx {m.tx_hash}" if m.tx_hash else "")
            + ") but the chain has no such batch",
            token=m.token,
            batch_id=m.batch_id,
            tx_hash=m.tx_hash,
            path=str(mf.path),
        )


def verify(
    chain: ChainSnapshot,
    manifests: Sequence[ManifestFile],
    root_of: RootOf,
    *,
    run_root_of: RunRootOf = run_root,
    invalid: Sequence[tuple[Path, str]] = (),
    mirror: MirrorSnapshot | None = None,
) -> AuditResult:
    """Run every check; the result lists findings (empty = the chain is fully explained)."""
    v = Verifier(chain, root_of, run_root_of)
    audited = v.select(manifests, invalid)
    v.check_duplicates(audited)
    per_token: dict[str, list[ManifestFile]] = defaultdict(list)
    for mf in audited:
        per_token[mf.manifest.token.lower()].append(mf)
    for address in sorted(chain.tokens):
        v.check_token(chain.tokens[address], per_token.get(address, []))
    v.runs.run()
    if mirror is not None:
        check = MirrorCheck(chain, v.add, v.result.notes)
        check.run(mirror)
        v.result.mirror_checked_to = check.checked_to
    return v.result
