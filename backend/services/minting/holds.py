"""Credit a batch must leave out: credit no batch could ever carry (held, with an operator alert) and credit above
the token's cap room (waits, with the reason)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.minting import CreditOutbox
from backend.domain.batching import OutboxCredit, unmintable
from backend.services.minting.alerts import raise_alert
from backend.services.minting.reasons import REASONS


def within_cap(session: Session, credits: list[OutboxCredit], room: int | None) -> list[OutboxCredit]:
    """The credits (oldest first) that fit the token's cap room; the others wait, with the reason.

    NOTE: one credit larger than the room would revert the whole batch, again on every retry."""
    if room is None or sum(c.amount for c in credits) <= room:
        return credits
    fit: list[OutboxCredit] = []
    wait: list[int] = []
    for credit in sorted(credits, key=lambda c: (c.created_at, c.id)):
        if credit.amount <= room:
            fit.append(credit)
            room -= credit.amount
        else:
            wait.append(credit.id)
    for start in range(0, len(wait), 5000):
        session.execute(
            update(CreditOutbox)
            .where(CreditOutbox.id.in_(wait[start : start + 5000]), CreditOutbox.state == "pending")
            .values(reason=REASONS["ERC20ExceededCap"])
        )
    return fit


def hold_unmintable(session: Session, token: str, credits: list[OutboxCredit]) -> list[OutboxCredit]:
    """Quarantine (`pending → held`, reason, one operator alert) the credits no batch could carry; the rest."""
    bad = {c.id: (c, why) for c in credits if (why := unmintable(c)) is not None}
    if not bad:
        return credits
    now = utcnow()
    held: list[int] = []
    for credit, why in bad.values():
        reason = f"held: {why}; the operators were alerted"
        result = session.execute(
            update(CreditOutbox)
            .where(CreditOutbox.id == credit.id, CreditOutbox.state == "pending")
            .values(state="held", reason=reason[:200], updated_at=now)
            .returning(CreditOutbox.id)
        )
        held += result.scalars()
    if held:
        details = "; ".join(
            f"credit {i} (action {bad[i][0].action_id}, amount {str(bad[i][0].amount)[:40]}): {bad[i][1]}"
            for i in held[:3]
        )
        raise_alert(
            session,
            "credit-held",
            f"{len(held)} credit(s) of token {token} can never be minted and were held: {details}",
            severity="critical",
        )
    return [c for c in credits if c.id not in bad]
