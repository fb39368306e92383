"""Gasless redemptions: prepare EIP-712 typed data, accept the holder's signature, relay `redeemWithSig`, settle.

`submit` verifies the signature off-chain, then in ONE transaction: moves the redemption prepared → pending with a
conditional UPDATE (a replayed id loses), serializes the wallet (row lock on its shopper row), re-checks limit
and balance, takes one unit of stock with `stock_left = stock_left - 1 WHERE stock_left > 0` and enqueues the
relay intent. `settle` consumes the relayer's terminal intents exactly once (compare-and-set on `settled`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import function_signature_to_4byte_selector
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.db import UnitOfWork
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.relayer import RelayIntent
from backend.adapters.orm.shoppers import Offer, Redemption, Shopper
from backend.config import Settings
from backend.domain.offers import OfferTerms
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.minting.token_views import TokenViews
from backend.services.relayer import Relayer
from backend.services.relayer.revert_decoder import RevertDecoder, revert_data_in_message
from backend.services.shoppers import offers as offer_service
from backend.services.shoppers.profiles import ensure_shopper

log = logging.getLogger("loyalty.redemptions")
PURPOSE = "redeem"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a counter
CODE_LENGTH = 10
_NAME = function_signature_to_4byte_selector("name()")
REDEEM_TYPES = [
    {"name": "holder", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "redemptionId", "type": "bytes32"},
    {"name": "offerRef", "type": "bytes32"},
    {"name": "deadline", "type": "uint256"},
]
DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


class OfferNotClaimable(Conflict):
    code = "offer-not-claimable"
    title = "This wallet cannot claim the offer now"


class OutOfStock(OfferNotClaimable):
    code = "out-of-stock"
    title = "The offer is out of stock"


class RedemptionReplayed(Conflict):
    code = "redemption-replayed"
    title = "This redemption was already submitted"


class RedemptionExpired(InvalidInput):
    code = "redemption-expired"
    title = "The redemption's signing deadline has passed"


class RedemptionWrongChain(InvalidInput):
    code = "redemption-wrong-chain"
    title = "The redemption was signed for another chain"


class RedemptionBadSignature(InvalidInput):
    code = "redemption-bad-signature"
    title = "The signature is not the holder's"


class NotYourRedemption(Forbidden):
    code = "not-your-wallet"
    title = "A shopper may only see their own redemptions"


@dataclass
class RedemptionDesk:
    """What taking redemptions needs: the database, the chain, settings and the relayer (built when first used)."""

    sessions: sessionmaker[Session]
    chain: ChainClient
    settings: Settings
    relayer: Callable[[], Relayer]
    token_names: dict[str, str] = field(default_factory=dict)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)


# ---------------------------------------------------------------------------------------------- typed data
def token_name(desk: RedemptionDesk, token: str) -> str:
    """The token's ERC-20 name (its EIP-712 domain name), read once per process."""
    names = desk.token_names
    if token not in names:
        raw = TokenViews(desk.chain).call(token, _NAME)
        offset, length = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")
        names[token] = raw[offset + 32 : offset + 32 + length].decode()
    return names[token]


def typed_data(desk: RedemptionDesk, r: Redemption) -> dict[str, Any]:
    """EIP-712 `Redeem` typed data (eth_signTypedData_v4 shape; uint256 values as decimal strings)."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPES, "Redeem": REDEEM_TYPES},
        "primaryType": "Redeem",
        "domain": {
            "name": token_name(desk, r.token_address),
            "version": "1",
            "chainId": r.chain_id,
            "verifyingContract": r.token_address,
        },
        "message": {
            "holder": r.wallet,
            "amount": str(r.amount),
            "redemptionId": r.id,
            "offerRef": r.offer_ref,
            "deadline": str(r.deadline),
        },
    }


def recover_signer(data: dict[str, Any], signature: str) -> str | None:
    try:
        return str(Account.recover_message(encode_typed_data(full_message=data), signature=signature))
    except Exception:  # malformed signature bytes, bad v/s: simply not the holder's
        return None


# ---------------------------------------------------------------------------------------------- prepare / submit
def _refuse_unless_claimable(availability: offer_service.Availability) -> None:
    if availability.reasons:
        cls = OutOfStock if availability.reasons == ["out_of_stock"] else OfferNotClaimable
        raise cls(
            f"cannot claim offer {availability.offer.id}: {', '.join(availability.reasons)}",
            reasons=availability.reasons,
        )


def prepare(desk: RedemptionDesk, session: Session, wallet: str, offer_id: int) -> tuple[Redemption, dict[str, Any]]:
    """A new redemption (random 32-byte id, deadline now + setting) and the typed data the holder signs."""
    offer = offer_service.get_offer(session, offer_id)
    _refuse_unless_claimable(offer_service.availability(desk.chain, session, offer, wallet))
    now = utcnow()
    r = Redemption(
        id="0x" + secrets.token_bytes(32).hex(),
        offer_id=offer.id,
        brand_id=offer.brand_id,
        wallet=wallet,
        chain_id=offer.chain_id,
        token_address=offer.token_address,
        amount=offer.cost,
        offer_ref=offer_service.offer_ref(offer.id),
        deadline=int(now.timestamp()) + desk.settings.redemption_deadline_s,
        status="prepared",
        created_at=now,
        updated_at=now,
    )
    session.add(r)
    ensure_shopper(session, wallet)
    return r, typed_data(desk, r)


def redeem_calldata(desk: RedemptionDesk, r: Redemption, signature: str) -> bytes:
    from backend.adapters.chain.contracts import token_contract

    call = token_contract(desk.chain, r.token_address).functions.redeemWithSig(
        r.wallet,
        r.amount,
        bytes.fromhex(r.id[2:]),
        bytes.fromhex(r.offer_ref[2:]),
        r.deadline,
        bytes.fromhex(signature.removeprefix("0x")),
    )
    return bytes.fromhex(call._encode_transaction_data()[2:])


def own(session: Session, wallet: str, redemption_id: str) -> Redemption:
    r = session.get(Redemption, redemption_id.lower())
    if r is None or (r.status == "prepared" and r.wallet != wallet):
        raise NotFound(f"redemption {redemption_id} not found")
    if r.wallet != wallet:
        raise NotYourRedemption(f"redemption {redemption_id} belongs to another wallet")
    return r


def submit(desk: RedemptionDesk, wallet: str, redemption_id: str, signature: str, chain_id: int | None = None) -> str:
    """Check the holder's signature, reserve stock and enqueue the relay in one transaction (committed here)."""
    with desk.uow() as uow:
        s = uow.session
        r = own(s, wallet, redemption_id)
        if r.status != "prepared":
            raise RedemptionReplayed(f"redemption {r.id} is already {r.status}")
        if chain_id is not None and chain_id != r.chain_id:
            raise RedemptionWrongChain(f"signed for chain {chain_id}; this redemption is on chain {r.chain_id}")
        if int(utcnow().timestamp()) >= r.deadline:
            raise RedemptionExpired(f"the deadline {r.deadline} has passed; prepare a new redemption")
        if recover_signer(typed_data(desk, r), signature) != r.wallet:
            raise RedemptionBadSignature(f"the signature does not recover to {r.wallet}")
        on_chain, _ = offer_service.on_chain_balance(desk.chain, s, r.chain_id, r.token_address, wallet)
        now = utcnow()
        won = s.execute(
            update(Redemption)
            .where(Redemption.id == r.id, Redemption.status == "prepared")
            .values(status="pending", signature=signature, submitted_at=now, updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            raise RedemptionReplayed(f"redemption {r.id} was submitted concurrently")
        # One wallet at a time from here (PostgreSQL row lock; SQLite already holds its write lock).
        s.execute(select(Shopper.wallet).where(Shopper.wallet == wallet).with_for_update())
        offer = s.get(Offer, r.offer_id, populate_existing=True)
        assert offer is not None
        pending = offer_service.pending_amount(s, wallet, r.token_address, exclude=r.id)
        claimed = offer_service.claimed_count(s, offer.id, wallet, exclude=r.id)
        terms = offer_service.terms_of(offer)
        reasons = _submit_reasons(terms, max(0, on_chain - pending), claimed, r.amount)
        if reasons:
            raise OfferNotClaimable(f"cannot claim offer {offer.id}: {', '.join(reasons)}", reasons=reasons)
        taken = s.execute(
            update(Offer)
            .where(Offer.id == offer.id, Offer.stock_left > 0)
            .values(stock_left=Offer.stock_left - 1, updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if taken != 1:
            raise OutOfStock(f"offer {offer.id} is out of stock", reasons=["out_of_stock"])
        relayer = desk.relayer()
        relayer.enqueue(
            s,
            purpose=PURPOSE,
            ref=r.id,
            to=r.token_address,
            data=redeem_calldata(desk, r, signature),
            gas_limit=desk.settings.redemption_gas_limit,
        )
        uow.commit()
        log.info("redemption %s of offer %s by %s pending relay", r.id, r.offer_id, wallet)
        return str(r.id)


def _submit_reasons(terms: OfferTerms, spendable: int, claimed: int, amount: int) -> list[str]:
    """The checks that may have changed since `prepare` (timing, limit, balance); stock is taken atomically."""
    now = utcnow()
    reasons = []
    if terms.starts_at is not None and now < terms.starts_at:
        reasons.append("not_started")
    if terms.ends_at is not None and now >= terms.ends_at:
        reasons.append("ended")
    if terms.per_wallet_limit is not None and claimed >= terms.per_wallet_limit:
        reasons.append("limit_reached")
    if spendable < max(amount, terms.min_balance):
        reasons.append("insufficient_balance")
    return reasons


# ---------------------------------------------------------------------------------------------- settle
def failure_reason(error: str | None) -> str:
    """The contract error's name (`ERC20InsufficientBalance`, `RedemptionExpired`, ...) from the relayer's text.

    NOTE: some nodes (eth-tester) report the revert data only inside the message, as a bytes literal; it is
    decoded here with the platform's ABIs so the shopper always sees a name.
    """
    if not error:
        return "unknown"
    data = revert_data_in_message(error) if error.startswith("reverted") else None
    if isinstance(data, bytes) and len(data) >= 4:
        error = RevertDecoder.for_platform().decode(data)
    return error.split("(", 1)[0].strip()[:60] or "unknown"


def new_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.scalar(select(Redemption.id).where(Redemption.code == code)) is None:
            return code


def history(session: Session, wallet: str) -> list[Redemption]:
    return list(
        session.scalars(
            select(Redemption)
            .where(Redemption.wallet == wallet, Redemption.status != "prepared")
            .order_by(Redemption.created_at.desc(), Redemption.id)
        )
    )


def brand_redemptions(session: Session, brand_id: int, status: str | None = None) -> list[Redemption]:
    query = select(Redemption).where(Redemption.brand_id == brand_id, Redemption.status != "prepared")
    if status is not None:
        query = query.where(Redemption.status == status)
    return list(session.scalars(query.order_by(Redemption.created_at.desc(), Redemption.id)))


def relay_of(session: Session, r: Redemption) -> RelayIntent | None:
    return session.scalar(select(RelayIntent).where(RelayIntent.purpose == PURPOSE, RelayIntent.ref == r.id))


def qr_payload(r: Redemption) -> str:
    """What the shop counter scans: the code and the redemption id (looked up by the brand)."""
    if r.code is None:
        raise Conflict(f"redemption {r.id} is {r.status}; a QR code exists once it is confirmed")
    return f"loyalty-redemption:{r.code}:{r.id}"


def parse_redemption_id(value: str) -> str:
    raw = value.lower()
    if len(raw) != 66 or not raw.startswith("0x"):
        raise InvalidInput("a redemption id is 0x followed by 64 hex digits")
    try:
        bytes.fromhex(raw[2:])
    except ValueError as exc:
        raise InvalidInput("a redemption id is 0x followed by 64 hex digits") from exc
    return raw
