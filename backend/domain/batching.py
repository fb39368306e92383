"""Aggregation of pending credit into transfer lines, and batch sizing from gas (not from a fixed count).

Gas per credited holder (BRIEF, from opcode prices): ~24.4k when the holder's balance goes zero → non-zero
(22,100 for the fresh storage slot + Transfer log + calldata + loop), ~7.3k when it already holds tokens; plus a
fixed ~21k intrinsic + ~30k for the call, the batch-id guard and the BatchMinted event. A batch stays under a share
of the live block gas limit (read from the latest block) and under Polygon's per-transaction cap of 2^25.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from backend.domain.manifest import (
    MAX_ENTRY_AMOUNT,
    ManifestError,
    ManifestLine,
    TransferEntry,
    encode_entries,
    leaf_hash,
)

TX_GAS_CAP = 2**25  # Polygon PoS per-transaction gas cap (33,554,432)
SHARED_RUN_LATENCY_S = 10.0  # how long a small brand's batch waits for company in a shared run, at most


@dataclass(frozen=True)
class GasModel:
    """Upper estimates of `batchMint` gas; `estimate` is what sizing and the gas limit are based on.

    Measured on anvil (LoyaltyToken, solc 0.8.28): 57.3k fixed (21k intrinsic + the batch-id root slot 22.1k +
    supply + event), 24.53k per fresh and 7.43k per existing holder at the margin. `slack` covers a token's
    first mint ever (totalSupply zero → non-zero, +17k).
    """

    base: int = 60_000
    fresh: int = 24_600
    existing: int = 7_500
    slack: int = 25_000

    def estimate(self, fresh: int, existing: int) -> int:
        return self.base + fresh * self.fresh + existing * self.existing


@dataclass(frozen=True)
class PlainMintGas:
    """What one `mint(to, amount)` transaction per action costs (measured on anvil: 55,989 fresh, 38,889 existing):
    the bar a batch must not exceed per action."""

    fresh: int = 56_000
    existing: int = 38_900

    def cost(self, fresh: int, existing: int) -> int:
        return fresh * self.fresh + existing * self.existing


@dataclass(frozen=True)
class SharedGasModel:
    """Upper estimates of `LoyaltyMinter.mintMany` gas: small brands' batches sharing one transaction.

    Measured on anvil (scripts/bench_gas.py): 31.9k once per run (21k intrinsic, the run's bit in a used bitmap
    word, the relayer role check, RunMinted) and 18.1k per token batch (cold token account and call, MINTER_ROLE,
    pause, supply write, BatchMinted, the batch's ABI calldata); lines cost what they cost in `batchMint`. Against
    `GasModel`: a batch alone pays ~57k fixed (21k, the 22.1k root slot, the rest) where a run member pays ~18k plus
    its share of ~32k. `slack` covers a bitmap word's first run (zero → non-zero, +17.1k, once per 256 runs) and a
    member token's first mint ever (+17k each, so builders should send a token's very first batch alone).
    """

    base: int = 33_000
    per_batch: int = 18_600
    fresh: int = GasModel.fresh
    existing: int = GasModel.existing
    slack: int = 20_000

    def estimate(self, batches: Sequence[tuple[int, int]]) -> int:
        """Gas of one run whose batches have (fresh, existing) lines each."""
        lines = sum(f * self.fresh + e * self.existing for f, e in batches)
        return self.base + len(batches) * self.per_batch + lines


def needs_company(
    fresh: int, existing: int, model: GasModel = GasModel(), plain: PlainMintGas = PlainMintGas()
) -> bool:
    """A batch that alone (`batchMint`) would cost more per action than plain mints: it waits for a shared run."""
    return model.estimate(fresh, existing) > plain.cost(fresh, existing)


@dataclass(frozen=True)
class RunMember:
    """A token's batch waiting in a shared run: its new and existing holders, and its oldest credit."""

    fresh: int
    existing: int
    oldest: datetime


def run_ready(
    members: Sequence[RunMember],
    now: datetime,
    latency_s: float,
    model: SharedGasModel = SharedGasModel(),
    plain: PlainMintGas = PlainMintGas(),
    target: float = 1.0,
) -> bool:
    """Send a shared run once it costs at most `target` × plain mints per action, or once its oldest member has
    waited `latency_s` (a lone small brand then pays more than a mint rather than wait without bound).

    NOTE: with one-line members the run beats plain mints from 3 members on (0.93×; 0.70× at 20); a `target`
    below 1 (or 0: always wait the bound) trades latency for more company.
    """
    if not members:
        return False
    shared = model.estimate([(m.fresh, m.existing) for m in members])
    if shared <= target * plain.cost(sum(m.fresh for m in members), sum(m.existing for m in members)):
        return True
    return (now - min(m.oldest for m in members)).total_seconds() >= latency_s


@dataclass(frozen=True)
class OutboxCredit:
    """A pending credit as the aggregator sees it (one `credit_outbox` row)."""

    id: int
    wallet: str
    amount: int
    action_id: str
    rule_id: str | None
    created_at: datetime


@dataclass
class TransferLine:
    """The sum of one wallet's pending credits: one on-chain transfer, every action kept for the manifest."""

    wallet: str
    amount: int = 0
    credits: list[OutboxCredit] = field(default_factory=list)

    @property
    def oldest(self) -> datetime:
        return min(c.created_at for c in self.credits)

    def entry(self) -> TransferEntry:
        return TransferEntry(self.wallet, self.amount)

    def manifest_lines(self) -> list[ManifestLine]:
        return [ManifestLine(c.action_id, c.wallet, c.amount, c.rule_id, c.id) for c in self.credits]


def unmintable(credit: OutboxCredit) -> str | None:
    """Why this credit can never be part of a `batchMint` (None: it can); such a credit is held, not retried."""
    if not 0 < credit.amount <= MAX_ENTRY_AMOUNT:
        return "its amount is outside what one mint can carry (1 to 2^96-1 base units)"
    try:  # the very encoders a batch uses: what fails here would fail the whole batch
        encode_entries([TransferEntry(credit.wallet, credit.amount)])
        leaf_hash(credit.action_id, credit.wallet, credit.amount)
    except (ManifestError, ValueError, TypeError, AttributeError) as exc:
        return f"it cannot be encoded for the chain ({str(exc)[:80]})"
    return None


def aggregate(credits: Iterable[OutboxCredit]) -> list[TransferLine]:
    """Collapse credits per wallet (summed), oldest line first; a sum that would pass 2^96-1 opens a new line."""
    open_lines: dict[str, TransferLine] = {}
    lines: list[TransferLine] = []
    for credit in sorted(credits, key=lambda c: (c.created_at, c.id)):
        line = open_lines.get(credit.wallet)
        if line is None or line.amount + credit.amount > MAX_ENTRY_AMOUNT:
            line = TransferLine(credit.wallet)
            open_lines[credit.wallet] = line
            lines.append(line)
        line.amount += credit.amount
        line.credits.append(credit)
    return lines


def gas_budget(block_gas_limit: int, share: float, headroom: float, slack: int = 0) -> int:
    """Gas a batch may be estimated at, so that estimate × headroom + slack fits the block share and the tx cap."""
    return int((min(block_gas_limit * share, TX_GAS_CAP) - slack) / headroom)


def gas_limit_for(estimate: int, headroom: float, model: GasModel) -> int:
    """The gas limit sent with a batch: the estimate with headroom, never above the per-transaction cap."""
    return min(int(estimate * headroom) + model.slack, TX_GAS_CAP)


@dataclass(frozen=True)
class BatchPlan:
    lines: list[TransferLine]
    fresh: int
    existing: int
    gas_estimate: int
    full: bool  # lines were left out: the batch is as large as gas or the recipient bound allow

    @property
    def credits(self) -> list[OutboxCredit]:
        return [c for line in self.lines for c in line.credits]


def plan_batch(
    lines: Sequence[TransferLine],
    is_fresh: Callable[[str], bool],
    budget: int,
    max_recipients: int,
    model: GasModel = GasModel(),
) -> BatchPlan:
    """Take lines in order (oldest first) while the gas estimate stays within `budget` and recipients within bound."""
    taken: list[TransferLine] = []
    fresh = existing = 0
    seen: set[str] = set()
    for line in lines:
        # NOTE: a wallet's second line in one batch (amount split at 2^96) finds its balance already non-zero.
        new_fresh = line.wallet not in seen and is_fresh(line.wallet)
        f, e = fresh + new_fresh, existing + (not new_fresh)
        if len(taken) >= max_recipients or model.estimate(f, e) > budget:
            return BatchPlan(taken, fresh, existing, model.estimate(fresh, existing), full=True)
        taken.append(line)
        seen.add(line.wallet)
        fresh, existing = f, e
    return BatchPlan(taken, fresh, existing, model.estimate(fresh, existing), full=False)


def should_flush(oldest: datetime, now: datetime, window_s: float, full: bool) -> bool:
    """Flush when the batch is full or its oldest credit has waited the whole window."""
    return full or (now - oldest).total_seconds() >= window_s
