"""Brand onboarding (token deployed through the factory, or the coalition token) and cross-brand consents."""

from __future__ import annotations

import re

from eth_utils import to_checksum_address
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.contracts import brand_id_bytes, create_token, factory_contract
from backend.adapters.chain.keys import Signer
from backend.adapters.db import session_scope
from backend.adapters.orm.earning import Brand, BrandConsent
from backend.errors import Conflict, NotFound
from backend.services.foundation.deployment import COALITION_SYMBOL, TOKEN_DECIMALS, PlatformContracts

ZERO_ADDRESS = "0x" + "0" * 40


class SlugTaken(Conflict):
    code = "slug-taken"
    title = "A brand with this slug exists"


def default_symbol(slug: str) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", slug).upper()
    return (letters or "LOYAL")[:11]


def onboard_brand(
    sessions: sessionmaker[Session],
    chain: ChainClient,
    contracts: PlatformContracts | None,
    deployer: Signer,
    minters: list[Signer],
    min_tip_wei: int,
    *,
    name: str,
    slug: str,
    contact_email: str,
    use_coalition_token: bool = False,
    token_symbol: str | None = None,
) -> Brand:
    """Create a brand; its token is deployed by the factory (reused if the factory already has one for the slug).

    NOTE: the chain transaction runs outside any database transaction (it takes a block); the factory's
    one-token-per-brand rule plus `tokenOf` makes a retry after a crash reuse the token instead of failing.
    """
    assert contracts is not None, "platform contracts are not deployed"
    with session_scope(sessions) as session:
        if session.scalar(select(Brand.id).where(Brand.slug == slug)) is not None:
            raise SlugTaken(f"brand slug {slug!r} is taken")
    chain_id = contracts.chain_id
    if use_coalition_token:
        token_address, symbol = contracts.coalition.address, COALITION_SYMBOL
    else:
        symbol = token_symbol or default_symbol(slug)
        factory = factory_contract(chain, contracts.factory.address)
        onchain_id = brand_id_bytes(slug)
        existing = factory.functions.tokenOf(onchain_id).call()
        if existing and int(existing, 16) != 0:
            token_address = to_checksum_address(existing)
        else:
            token_address = create_token(
                chain,
                contracts.factory.address,
                deployer,
                onchain_id,
                f"{name} Loyalty",
                symbol,
                TOKEN_DECIMALS,
                0,
                deployer.address,
                [w.address for w in minters],
                min_tip_wei,
            ).address
    brand = Brand(
        slug=slug,
        name=name,
        contact_email=contact_email,
        chain_id=chain_id,
        token_address=to_checksum_address(token_address),
        token_symbol=symbol,
        token_decimals=TOKEN_DECIMALS,
        is_coalition=use_coalition_token,
    )
    try:
        with session_scope(sessions) as session:
            session.add(brand)
    except IntegrityError as exc:
        raise SlugTaken(f"brand slug {slug!r} is taken") from exc
    return brand


def get_brand(session: Session, brand_id: int) -> Brand:
    brand = session.get(Brand, brand_id)
    if brand is None:
        raise NotFound(f"brand {brand_id} not found")
    return brand


def list_brands(session: Session, only: int | None = None) -> list[Brand]:
    query = select(Brand).order_by(Brand.id)
    if only is not None:
        query = query.where(Brand.id == only)
    return list(session.scalars(query))


def grant_consent(
    session: Session, *, token_address: str, grantee_brand_id: int, granted_by_brand_id: int | None, granted_by: str
) -> BrandConsent:
    """Record that promotions of `grantee_brand_id` may pay in `token_address` (idempotent)."""
    get_brand(session, grantee_brand_id)
    existing = session.scalar(
        select(BrandConsent).where(
            BrandConsent.token_address == token_address, BrandConsent.grantee_brand_id == grantee_brand_id
        )
    )
    if existing is not None:
        return existing
    consent = BrandConsent(
        token_address=token_address,
        grantee_brand_id=grantee_brand_id,
        granted_by_brand_id=granted_by_brand_id,
        granted_by=granted_by,
    )
    session.add(consent)
    session.flush()
    return consent


def list_consents(session: Session, brand: Brand) -> list[BrandConsent]:
    """Consents granted on the brand's token and consents granted to the brand."""
    return list(
        session.scalars(
            select(BrandConsent)
            .where(or_(BrandConsent.token_address == brand.token_address, BrandConsent.grantee_brand_id == brand.id))
            .order_by(BrandConsent.id)
        )
    )


def has_consent(session: Session, token_address: str, grantee_brand_id: int) -> bool:
    return (
        session.scalar(
            select(BrandConsent.id).where(
                BrandConsent.token_address == token_address, BrandConsent.grantee_brand_id == grantee_brand_id
            )
        )
        is not None
    )
