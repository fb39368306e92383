"""What an action would earn from one promotion right now, without writing anything."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from backend.adapters.orm.base import utcnow
from backend.domain.actions import ActionIn
from backend.domain.rules import EarnedCredit, Evaluator
from backend.services.earning.actions.errors import UnknownPromotion
from backend.services.earning.actions.state import facts, load_state
from backend.services.earning.promotions import promotion_cache


def preview_action(
    session: Session, brand_id: int, promotion_id: int, action: ActionIn, *, now: datetime | None = None
) -> list[EarnedCredit]:
    """What `action` would earn from one promotion right now; reads only."""
    now = now or utcnow()
    promotions = [p for p in promotion_cache.get(session, brand_id) if p.promotion_id == promotion_id]
    if not promotions:
        raise UnknownPromotion(f"promotion {promotion_id} not found")
    wallets = {action.wallet} | ({action.referrer} if action.referrer else set())
    state, _ = load_state(session, brand_id, wallets, promotions, now, lock=False)
    if action.type == "refund":
        return []
    return Evaluator(promotions, state).evaluate(facts(action, now))
