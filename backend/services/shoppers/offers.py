"""Offers: brands publish them; shoppers see which they may claim and, for the others, why not.

A wallet's spendable balance is its on-chain balance (the indexer mirror when it runs, else a live `balanceOf`)
minus what its pending redemptions will burn, so two claims cannot spend the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from eth_utils import keccak
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.adapters.chain.client import ChainClient
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.indexer import IdxBalance, IdxCursor
from backend.adapters.orm.shoppers import HOLDING_STATUSES, Offer, Redemption
from backend.domain.offers import OfferTerms, WalletFacts, ineligibility
from backend.domain.rules_amounts import check_tokens
from backend.domain.tiers import tier_rank
from backend.domain.timestamps import as_utc
from backend.errors import InvalidInput, NotFound
from backend.services.earning.tiers import tier_for
from backend.services.foundation.brands import get_brand
from backend.services.minting.token_views import TokenViews

ENDED_VISIBLE_FOR = timedelta(days=7)


def offer_ref(offer_id: int) -> str:
    """The `offerRef` signed into a redemption: keccak256 of the offer id (decimal text)."""
    return "0x" + keccak(text=str(offer_id)).hex()


def create_offer(
    session: Session,
    brand_id: int,
    *,
    title: str,
    description: str,
    cost_tokens: Decimal,
    stock: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
    per_wallet_limit: int | None,
    min_tier: str | None,
    min_balance_tokens: Decimal,
    created_by: str,
) -> Offer:
    brand = get_brand(session, brand_id)
    cost = check_tokens(cost_tokens, "cost", brand.token_decimals)
    min_balance = check_tokens(min_balance_tokens, "min_balance", brand.token_decimals)
    if cost <= 0:
        raise InvalidInput("cost must be positive")
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at")
    tier_rank(min_tier)  # validates the name
    offer = Offer(
        brand_id=brand.id,
        title=title,
        description=description,
        chain_id=brand.chain_id,
        token_address=brand.token_address,
        token_decimals=brand.token_decimals,
        cost=cost,
        starts_at=starts_at,
        ends_at=ends_at,
        stock_total=stock,
        stock_left=stock,
        per_wallet_limit=per_wallet_limit,
        min_tier=min_tier,
        min_balance=min_balance,
        created_by=created_by,
    )
    session.add(offer)
    session.flush()
    return offer


def get_offer(session: Session, offer_id: int) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} not found")
    return offer


def brand_offers(session: Session, brand_id: int) -> list[Offer]:
    return list(session.scalars(select(Offer).where(Offer.brand_id == brand_id).order_by(Offer.id)))


def terms_of(offer: Offer) -> OfferTerms:
    return OfferTerms(
        cost=offer.cost,
        stock_left=offer.stock_left,
        starts_at=as_utc(offer.starts_at),
        ends_at=as_utc(offer.ends_at),
        per_wallet_limit=offer.per_wallet_limit,
        min_tier=offer.min_tier,
        min_balance=offer.min_balance,
    )


@dataclass(frozen=True)
class SpendableBalance:
    token: str
    on_chain: int  # base units
    pending: int  # reserved by pending redemptions
    source: str  # "mirror" | "chain"

    @property
    def spendable(self) -> int:
        return max(0, self.on_chain - self.pending)


def on_chain_balance(chain: ChainClient, session: Session, chain_id: int, token: str, wallet: str) -> tuple[int, str]:
    """The indexer mirror's balance when the mirror runs on this chain, else `balanceOf` at the node's head.

    NOTE: burns of confirmed redemptions the mirror has not reached yet are subtracted, so a lagging mirror
    never lets a wallet spend the same tokens twice.
    """
    cursor = session.get(IdxCursor, chain_id)
    if cursor is None:
        return TokenViews(chain).balances(token, [wallet])[wallet], "chain"
    row = session.get(IdxBalance, (chain_id, token.lower(), wallet.lower()))
    balance = int(row.balance) if row is not None else 0
    unmirrored = session.scalars(
        select(Redemption.amount).where(
            Redemption.wallet == wallet,
            Redemption.token_address == token,
            Redemption.status == "confirmed",
            Redemption.block_number > cursor.block_number,
        )
    )
    return max(0, balance - sum(int(a) for a in unmirrored)), "mirror"


def pending_amount(session: Session, wallet: str, token: str, exclude: str | None = None) -> int:
    query = select(Redemption.amount).where(
        Redemption.wallet == wallet, Redemption.token_address == token, Redemption.status == "pending"
    )
    if exclude is not None:
        query = query.where(Redemption.id != exclude)
    return sum(int(a) for a in session.scalars(query))  # Uint256 is text on SQLite: sum in Python


def spendable_balance(
    chain: ChainClient, session: Session, chain_id: int, token: str, wallet: str, exclude: str | None = None
) -> SpendableBalance:
    on_chain, source = on_chain_balance(chain, session, chain_id, token, wallet)
    return SpendableBalance(token, on_chain, pending_amount(session, wallet, token, exclude), source)


def claimed_count(session: Session, offer_id: int, wallet: str, exclude: str | None = None) -> int:
    query = (
        select(func.count())
        .select_from(Redemption)
        .where(Redemption.offer_id == offer_id, Redemption.wallet == wallet, Redemption.status.in_(HOLDING_STATUSES))
    )
    if exclude is not None:
        query = query.where(Redemption.id != exclude)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class Availability:
    offer: Offer
    tier: str
    balance: SpendableBalance
    claimed: int
    reasons: list[str]

    @property
    def claimable(self) -> bool:
        return not self.reasons


def availability(
    chain: ChainClient,
    session: Session,
    offer: Offer,
    wallet: str,
    *,
    now: datetime | None = None,
    balances: dict[str, SpendableBalance] | None = None,
    exclude: str | None = None,
) -> Availability:
    balances = {} if balances is None else balances
    balance = balances.get(offer.token_address)
    if balance is None:
        balance = spendable_balance(chain, session, offer.chain_id, offer.token_address, wallet, exclude)
        balances[offer.token_address] = balance
    tier = tier_for(session, wallet, offer.brand_id)
    claimed = claimed_count(session, offer.id, wallet, exclude)
    facts = WalletFacts(spendable=balance.spendable, tier=tier, claimed=claimed)
    return Availability(offer, tier, balance, claimed, ineligibility(terms_of(offer), facts, now or utcnow()))


def available_offers(
    chain: ChainClient, session: Session, wallet: str, brand_id: int | None = None
) -> list[Availability]:
    """Offers of the chain (optionally one brand's) with the reasons this wallet may not claim them.

    Offers that ended more than `ENDED_VISIBLE_FOR` ago are left out (shown as `ended` until then).
    """
    chain_id = chain.chain_id
    now = utcnow()
    recent = or_(Offer.ends_at.is_(None), Offer.ends_at > now - ENDED_VISIBLE_FOR)
    query = select(Offer).where(Offer.chain_id == chain_id, recent).order_by(Offer.id)
    if brand_id is not None:
        query = query.where(Offer.brand_id == brand_id)
    balances: dict[str, SpendableBalance] = {}
    return [availability(chain, session, o, wallet, now=now, balances=balances) for o in session.scalars(query)]
