"""Ledger arithmetic: entry kinds, how each moves a balance, refund pro-rata, debt netting, recomputation.

Balances per (wallet, chain, token), all in token base units:
- `credited`  = Σ credit − Σ debt_offset − Σ reversal   (what went to the mint outbox and still stands)
- `reversed`  = Σ reversal                               (credit cancelled before it was minted)
- `debt`      = Σ debt − Σ debt_offset                   (refunded credit that was already minted)
- `lifetime_earned` = Σ credit                           (gross, never decreases; tiers use it)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

CREDIT, REVERSAL, DEBT, DEBT_OFFSET = "credit", "reversal", "debt", "debt_offset"
KINDS = (CREDIT, REVERSAL, DEBT, DEBT_OFFSET)
BalanceKey = tuple[str, int, str]  # wallet, chain id, token address


@dataclass
class Balance:
    credited: int = 0
    reversed: int = 0
    debt: int = 0
    lifetime_earned: int = 0

    def apply(self, kind: str, amount: int) -> None:
        if kind == CREDIT:
            self.credited += amount
            self.lifetime_earned += amount
        elif kind == DEBT_OFFSET:
            self.credited -= amount
            self.debt -= amount
        elif kind == REVERSAL:
            self.credited -= amount
            self.reversed += amount
        elif kind == DEBT:
            self.debt += amount
        else:
            raise ValueError(f"unknown ledger entry kind {kind!r}")

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.credited, self.reversed, self.debt, self.lifetime_earned)


def recompute(entries: Iterable[tuple[str, int, str, str, int]]) -> dict[BalanceKey, Balance]:
    """Balances from ledger rows `(wallet, chain_id, token, kind, amount)`."""
    balances: dict[BalanceKey, Balance] = {}
    for wallet, chain_id, token, kind, amount in entries:
        balances.setdefault((wallet, chain_id, token), Balance()).apply(kind, amount)
    return balances


def offset_debt(amount: int, debt: int) -> int:
    """How much of a new credit pays off outstanding debt (the rest goes to the outbox)."""
    return max(0, min(amount, debt))


def clawback(credit: int, purchase: Decimal, refunded_before: Decimal, refund_now: Decimal) -> int:
    """Pro-rata share of `credit` a refund takes back; cumulative, so partial refunds add up to the full credit."""
    if purchase <= 0:
        return 0
    total = Fraction(purchase)
    before = Fraction(min(refunded_before, purchase)) / total
    after = Fraction(min(refunded_before + refund_now, purchase)) / total
    return int(credit * after) - int(credit * before)


@dataclass(frozen=True)
class RefundSplit:
    reversal: int  # taken from a still-pending outbox row (that row is cancelled)
    reissue: int  # what stays pending (re-issued as a new outbox row)
    debt: int  # already batched or minted: nets against future credit


def split_refund(claw: int, pending_outbox: int | None) -> RefundSplit:
    """Take the clawback from the pending outbox amount first; the rest becomes debt."""
    if pending_outbox is None:
        return RefundSplit(0, 0, claw)
    reversal = min(claw, pending_outbox)
    return RefundSplit(reversal, pending_outbox - reversal, claw - reversal)
