"""Promotion budgets: reserved atomically at write time, trimming a call's credits when a concurrent one spent them.

The budget only grows through `UPDATE ... SET spent = spent + x WHERE spent + x <= budget` (PostgreSQL), or a
compare-and-set under the SQLite write lock.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Numeric, Table, literal, select, type_coerce, update
from sqlalchemy.orm import Session

from backend.adapters.bulk import is_postgres
from backend.adapters.orm.earning import Promotion
from backend.domain.rules import ActivePromotion, EarnedCredit, EvaluatorState, NoCredit
from backend.errors import Conflict
from backend.services.earning.actions.state import PendingAction
from backend.services.notifications.events import note_budget_spend

PROMOTIONS: Table = Promotion.__table__  # type: ignore[assignment]


def reserve(session: Session, promotion_id: int, amount: int) -> bool:
    """Atomically add `amount` to the promotion's `spent` unless that would exceed its budget."""
    table = PROMOTIONS
    if is_postgres(session):
        # NOTE: Uint256 is a String type in Python; coerce so SQLAlchemy emits numeric `+`, not `||`.
        spent, budget = type_coerce(table.c.spent, Numeric(78, 0)), type_coerce(table.c.budget, Numeric(78, 0))
        delta = literal(Decimal(amount), Numeric(78, 0))  # above 2^63: must travel as numeric, not bigint
        result = session.execute(
            update(table).where(table.c.id == promotion_id, spent + delta <= budget).values(spent=spent + delta)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
    # SQLite stores uint256 as text (no exact SQL arithmetic); we hold the write lock, so compare-and-set.
    budget, spent = session.execute(select(table.c.budget, table.c.spent).where(table.c.id == promotion_id)).one()
    if budget is not None and spent + amount > budget:
        return False
    session.execute(update(table).where(table.c.id == promotion_id).values(spent=spent + amount))
    return True


def budget_left(session: Session, promotion_id: int) -> int:
    table = PROMOTIONS
    query = select(table.c.budget, table.c.spent).where(table.c.id == promotion_id)
    if is_postgres(session):
        query = query.with_for_update()
    budget, spent = session.execute(query).one()
    return max(0, budget - spent) if budget is not None else 0


def apply_budgets(
    session: Session,
    brand_id: int,
    promotions: list[ActivePromotion],
    pending: list[PendingAction],
    state: EvaluatorState,
) -> None:
    """Reserve what the pending credits spend of their promotions' budgets, trimming them to what is left."""
    budgeted = {p.promotion_id for p in promotions if p.spec.budget is not None}
    totals: dict[int, int] = defaultdict(int)
    for item in pending:
        for credit in item.credits:
            if credit.promotion_id in budgeted:
                totals[credit.promotion_id] += credit.amount
    for pid, total in sorted(totals.items()):
        if total == 0 or reserve(session, pid, total):
            continue
        # NOTE: a concurrent request spent the budget since we read it: trim this request's credits in
        # order to what is left (row now locked), then reserve exactly that.
        left = budget_left(session, pid)
        for item in pending:
            trimmed = []
            for credit in item.credits:
                if credit.promotion_id == pid:
                    keep = min(credit.amount, left)
                    left -= keep
                    _forget(state, credit, credit.amount - keep)
                    if keep == 0:
                        item.reasons.append(NoCredit("budget-exhausted", pid))
                        continue
                    credit = EarnedCredit(**{**credit.__dict__, "amount": keep})
                trimmed.append(credit)
            item.credits = trimmed
        kept = sum(c.amount for item in pending for c in item.credits if c.promotion_id == pid)
        if kept and not reserve(session, pid, kept):
            raise Conflict("promotion budget changed concurrently; retry")
    spends = [(c.promotion_id, c.amount) for p in pending for c in p.credits if c.promotion_id in budgeted]
    note_budget_spend(session, brand_id, spends)  # promotion.budget_low event at 90 %


def _forget(state: EvaluatorState, credit: EarnedCredit, amount: int) -> None:
    """Undo the usage and lifetime the evaluator counted for credit that the budget took away."""
    if amount <= 0:
        return
    state.wallet(credit.wallet).lifetime_earned -= amount
    for key in list(state.usage):
        if key[0] == credit.promotion_id and key[1] == credit.wallet:
            state.usage[key] -= amount
