"""Pure step accounting of the sustained benchmark: percentiles, per-step rates, latencies, backlog, blocks."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Credit:
    created: float  # epoch seconds the API accepted the action
    final: float | None  # epoch seconds its batch became final (None: not final)


@dataclass(frozen=True)
class Block:
    number: int
    timestamp: float
    our_txs: int  # transactions sent by our hot wallets


@dataclass
class Step:
    name: str
    offered_per_s: float  # the rate asked of the load generator
    started: float = 0.0  # epoch seconds
    ended: float = 0.0
    load: dict[str, Any] = field(default_factory=dict)  # the load generator's own report

    @property
    def duration_s(self) -> float:
        return max(1e-9, self.ended - self.started)


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def step_figures(
    step: Step, credits: Sequence[Credit], backlog: Sequence[tuple[float, int]], blocks: Sequence[Block]
) -> dict[str, Any]:
    """One row of the report: offered vs achieved, action → final latency of the credits accepted in the step,
    confirmations during the step, the largest sampled backlog and our transactions per block."""
    inside = [c for c in credits if step.started <= c.created < step.ended]
    latencies = [c.final - c.created for c in inside if c.final is not None]
    finals = sum(1 for c in credits if c.final is not None and step.started <= c.final < step.ended)
    samples = [n for t, n in backlog if step.started <= t <= step.ended]
    txs = [b.our_txs for b in blocks if step.started <= b.timestamp < step.ended]
    accepted = int(step.load.get("accepted", 0))
    return {
        "name": step.name,
        "offered_per_s": step.offered_per_s,
        "sent_per_s": _r(int(step.load.get("sent", 0)) / step.duration_s, 1),
        "achieved_per_s": _r(accepted / step.duration_s, 1),
        "final_per_s": _r(finals / step.duration_s, 1),
        "duration_s": _r(step.duration_s, 1),
        "accepted": accepted,
        "p50_s": _r(percentile(latencies, 50)),
        "p95_s": _r(percentile(latencies, 95)),
        "p99_s": _r(percentile(latencies, 99)),
        "not_final": len(inside) - len(latencies),
        "max_backlog": max(samples, default=0),
        "tx_per_block_mean": _r(statistics.fmean(txs) if txs else 0.0),
        "tx_per_block_max": max(txs, default=0),
        "load_generator_cpu_s": step.load.get("cpu_s"),
        "http_statuses": step.load.get("statuses", {}),
    }


def sustained_per_s(rows: Sequence[dict[str, Any]], carry_over: float = 0.1) -> float:
    """What the machine sustained: the best accepted rate of a step that finalized at least (1 - carry_over) of
    it during the step (the rest is latency carried into the next step); if no step did, the best final rate."""
    kept = [
        r["achieved_per_s"] or 0.0
        for r in rows
        if (r["final_per_s"] or 0.0) >= (1 - carry_over) * (r["achieved_per_s"] or 0.0)
    ]
    return max(kept or [r["final_per_s"] or 0.0 for r in rows] or [0.0])


def drain_time_s(backlog: Sequence[tuple[float, int]], load_stopped: float) -> float | None:
    """Seconds from the end of the load until the sampled backlog first reads 0 (None: it never did)."""
    for t, n in backlog:
        if t >= load_stopped and n == 0:
            return round(t - load_stopped, 1)
    return None


def gas_ratio(gas: int, actions: int, fresh_pairs: int, naive_fresh: float, naive_existing: float) -> float | None:
    """Our gas against a plain `mint` per action for the same mix of first and repeat credits per holder."""
    naive = fresh_pairs * naive_fresh + (actions - fresh_pairs) * naive_existing
    return round(gas / naive, 4) if naive > 0 else None
