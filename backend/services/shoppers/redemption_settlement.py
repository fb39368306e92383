"""Settlement of gasless redemptions: terminal `redeem` relay intents become confirmed or failed redemptions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.db import UnitOfWork
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.relayer import RelayIntent
from backend.adapters.orm.shoppers import Offer, Redemption
from backend.services.minting.alerts import raise_alert
from backend.services.minting.token_views import TokenViews
from backend.services.notifications.events import record_redemption_confirmed
from backend.services.shoppers.redemptions import PURPOSE, failure_reason, new_code

log = logging.getLogger("loyalty.redemptions")
_IS_REDEEMED = function_signature_to_4byte_selector("isRedeemed(address,bytes32)")


@dataclass(frozen=True)
class SettledRedemption:
    redemption_id: str
    status: str  # confirmed | failed


class RedemptionSettlement:
    """Consumes terminal `redeem` intents: confirmed → code; failed → stock back (unless the burn did land)."""

    def __init__(self, sessions: sessionmaker[Session], chain: ChainClient) -> None:
        self.sessions = sessions
        self.chain = chain
        self.views = TokenViews(chain)

    def settle(self, limit: int = 100) -> list[SettledRedemption]:
        with UnitOfWork(self.sessions) as uow:
            ids = list(
                uow.session.scalars(
                    select(RelayIntent.id)
                    .where(
                        RelayIntent.purpose == PURPOSE,
                        RelayIntent.settled.is_(False),
                        RelayIntent.state.in_(("confirmed", "failed")),
                    )
                    .order_by(RelayIntent.id)
                    .limit(limit)
                )
            )
        done = [self._settle_one(i) for i in ids]
        return [d for d in done if d is not None]

    def __call__(self) -> bool:
        return bool(self.settle())

    def _settle_one(self, intent_id: int) -> SettledRedemption | None:
        with UnitOfWork(self.sessions) as uow:
            s = uow.session
            claimed = s.execute(
                text("UPDATE relay_intents SET settled = :yes WHERE id = :id AND settled = :no"),
                {"yes": True, "no": False, "id": intent_id},
            ).rowcount  # type: ignore[attr-defined]
            if claimed != 1:
                return None  # another settler got it
            intent = s.get(RelayIntent, intent_id, populate_existing=True)
            assert intent is not None
            r = s.get(Redemption, intent.ref, with_for_update=True)
            if r is not None and r.status != "pending" and intent.reorgs:
                self._settled_again(s, r, intent)
                uow.commit()
                return None
            if r is None or r.status != "pending":
                log.error("redeem intent %s refers to %s redemption %s", intent_id, r and r.status, intent.ref)
                uow.commit()
                return None
            now = utcnow()
            if intent.state == "confirmed" or self._landed(r):
                r.status, r.code, r.reason = "confirmed", new_code(s), None
                r.tx_hash, r.block_number = intent.tx_hash, intent.block_number
                record_redemption_confirmed(s, r)  # webhooks + live feed, in this transaction
            else:
                if not self._can_never_land(r, intent):
                    return None  # rolled back: looked at again on the next run
                r.status, r.reason = "failed", failure_reason(intent.error)
                r.tx_hash, r.block_number = intent.tx_hash, intent.block_number
                s.execute(update(Offer).where(Offer.id == r.offer_id).values(stock_left=Offer.stock_left + 1))
            r.settled_at = r.updated_at = now
            uow.commit()
        log.info("redemption %s %s (%s)", r.id, r.status, r.reason or r.code)
        return SettledRedemption(r.id, r.status)

    @staticmethod
    def _settled_again(s: Session, r: Redemption, intent: RelayIntent) -> None:
        """A deep reorg re-opened a settled redemption's intent (see `relayer.reorg_watch`): the outcome the shopper
        saw stands; if the burn did not land again the operator must decide (the code is out already)."""
        burned = intent.state == "confirmed"
        if (r.status == "confirmed") == burned:
            log.info("redemption %s %s again after a reorg", r.id, r.status)
            if burned:
                r.tx_hash, r.block_number = intent.tx_hash, intent.block_number
            return
        damage = "tokens burned after the offer was restocked" if burned else "code issued, tokens not burned"
        outcome = "landed" if burned else "did not land"
        raise_alert(
            s,
            "deep-reorg",
            f"redemption {r.id} was {r.status}, but after a reorg its burn {outcome} (tx {intent.tx_hash}): {damage}",
            severity="critical",
        )

    def _landed(self, r: Redemption) -> bool:
        """Whether the chain recorded this burn anyway (e.g. an earlier attempt mined before a failed replacement)."""
        word = bytes.fromhex(r.wallet[2:]).rjust(32, b"\x00") + bytes.fromhex(r.id[2:])
        return int.from_bytes(self.views.call(r.token_address, _IS_REDEEMED + word) or b"\x00", "big") != 0

    def _can_never_land(self, r: Redemption, intent: RelayIntent) -> bool:
        if intent.block_number is not None or intent.nonce is None or not intent.wallet:
            return True  # reverted in a block, or never signed
        if int(datetime.now(UTC).timestamp()) > r.deadline + 60:
            return True  # the signature expired: no transaction can burn it any more
        used = self.chain.w3.eth.get_transaction_count(to_checksum_address(intent.wallet), "latest")
        return used > int(intent.nonce) and not self._landed(r)


# ---------------------------------------------------------------------------------------------- reads
