"""Sign-In with Ethereum (EIP-4361): server nonces (single use, short-lived, in the database) and verification.

Each refusal has its own problem code, so a wallet UI can tell the shopper what went wrong. The checks run cheapest
first: the message's shape and caps (microseconds, `backend.domain.siwe_message`) → domain → URI origin → chain →
message times → the nonce was issued here, unused and fresh (one primary-key read) → the `siwe` library's parse →
signature → the nonce is consumed last, with a conditional UPDATE, so a nonce burns only on a valid sign-in and two
concurrent verifies of one message cannot both pass.

NOTE: the library's ABNF parser is super-linear (1,000 characters of garbage: 20 s of CPU; a well-formed 1 KB
message: seconds), so it is never used: its regular-expression parser reads a message that already passed the
strict line grammar, and the message must be exactly the library's own rendering of what it parsed (the text the
signature is checked against).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from eth_utils import to_checksum_address
from siwe import siwe as siwe_lib
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.shoppers import SiweNonce
from backend.domain.addresses import parse_address
from backend.domain.siwe_message import NotASiweMessage, SiweFields, read_fields
from backend.domain.siwe_message import message_text as message_text  # NOTE: written in the domain: the client signs it
from backend.domain.timestamps import as_utc
from backend.errors import InvalidInput, Unauthorized

CLOCK_SKEW = timedelta(seconds=60)  # a wallet's clock may run this far ahead of ours (`Issued At`)


class SiweError(Unauthorized):
    code = "siwe-error"
    title = "Sign-in refused"


class SiweMalformed(InvalidInput):
    code = "siwe-malformed"
    title = "Not a valid EIP-4361 message"


class SiweWrongDomain(SiweError):
    code = "siwe-wrong-domain"
    title = "The message is for another domain"


class SiweWrongChain(SiweError):
    code = "siwe-wrong-chain"
    title = "The message is for another chain"


class SiweExpired(SiweError):
    code = "siwe-expired"
    title = "The message or its nonce expired"


class SiweNotYetValid(SiweError):
    code = "siwe-not-yet-valid"
    title = "The message is not valid yet"


class SiweIssuedInFuture(SiweError):
    code = "siwe-issued-in-future"
    title = "The message's issue time is in the future"


class SiweWrongUri(SiweError):
    code = "siwe-wrong-uri"
    title = "The message's URI is on another origin"


class SiweBadSignature(SiweError):
    code = "siwe-bad-signature"
    title = "The signature is not the address's"


class SiweNonceUsed(SiweError):
    code = "siwe-nonce-used"
    title = "The nonce was already used"


class SiweNonceUnknown(SiweError):
    code = "siwe-nonce-unknown"
    title = "The nonce was not issued by this server"


def issue_nonce(session: Session, ttl_s: int) -> SiweNonce:
    """A fresh alphanumeric nonce (EIP-4361 wants ≥ 8 characters; this has 96 bits)."""
    now = utcnow()
    row = SiweNonce(nonce=secrets.token_hex(12), created_at=now, expires_at=now + timedelta(seconds=ttl_s))
    session.add(row)
    return row


@dataclass(frozen=True)
class SignedIn:
    wallet: str  # checksummed
    chain_id: int


def precheck(message: str, *, domain: str, chain_id: int, now: datetime) -> SiweFields:
    """What can be refused without I/O or the parser: shape and caps, domain, URI origin, chain, times."""
    try:
        fields = read_fields(message)
    except NotASiweMessage as exc:
        raise SiweMalformed(str(exc)) from exc
    parse_address(fields.address)  # the account line like every address: 422 invalid-address(-checksum)
    if fields.domain != domain or fields.scheme not in (None, "http", "https"):
        raise SiweWrongDomain(f"message is for {fields.domain!r}, this server is {domain!r}")
    if fields.uri_origin not in (f"http://{domain.lower()}", f"https://{domain.lower()}"):
        raise SiweWrongUri(f"the URI must be on this server's origin (http(s)://{domain})")
    if fields.chain_id != chain_id:
        raise SiweWrongChain(f"message is for chain {fields.chain_id}, this server runs on chain {chain_id}")
    if fields.issued_at > now + CLOCK_SKEW:
        raise SiweIssuedInFuture("the message's Issued At is later than now")
    if fields.expiration_time is not None and fields.expiration_time <= now:
        raise SiweExpired("the message's expiration time has passed")
    if fields.not_before is not None and fields.not_before > now:
        raise SiweNotYetValid("the message's not-before time is in the future")
    return fields


def parse(message: str) -> siwe_lib.SiweMessage:
    """The library's reading of a message that passed `precheck` (so short and regular: linear time)."""
    try:
        parsed = siwe_lib.SiweMessage.from_message(message=message, abnf=False)
    except Exception as exc:  # the regex parser and pydantic raise many kinds; all mean "malformed"
        raise SiweMalformed(f"cannot parse the message: {str(exc)[:200]}") from exc
    if parsed.prepare_message() != message:
        raise SiweMalformed("the message is not in EIP-4361's exact form")
    return parsed


def check_signature(message: str, signature: str, *, now: datetime) -> siwe_lib.SiweMessage:
    """Parse a prechecked message and check its signer."""
    parsed = parse(message)
    try:
        parsed.verify(signature, timestamp=now)
    except siwe_lib.ExpiredMessage as exc:
        raise SiweExpired("the message's expiration time has passed") from exc
    except siwe_lib.NotYetValidMessage as exc:
        raise SiweNotYetValid("the message's not-before time is in the future") from exc
    except siwe_lib.InvalidSignature as exc:
        raise SiweBadSignature(f"the signature was not made by {parsed.address}") from exc
    except siwe_lib.VerificationError as exc:
        raise SiweMalformed(f"message refused: {type(exc).__name__}") from exc
    except Exception as exc:  # eth_keys' BadSignature and friends escape the library: not the address's signature
        raise SiweBadSignature(f"the signature is invalid: {type(exc).__name__}") from exc
    return parsed


def check_message(message: str, signature: str, *, domain: str, chain_id: int, now: datetime) -> siwe_lib.SiweMessage:
    """Everything about a signed message except its nonce: format, domain, URI, chain, times, signer (no I/O)."""
    precheck(message, domain=domain, chain_id=chain_id, now=now)
    return check_signature(message, signature, now=now)


def verify(
    session: Session,
    *,
    message: str,
    signature: str,
    domain: str,
    chain_id: int,
    now: datetime | None = None,
    admit: Callable[[str], None] | None = None,
) -> SignedIn:
    """Check a signed SIWE message and consume its nonce (the caller commits).

    `admit(wallet)` runs once the signature is proven the wallet's and its nonce is fresh, before the nonce burns
    (the per-wallet rate limit: neither someone else's signatures nor a replayed message use up a wallet's sign-ins).
    """
    now = as_utc(now or utcnow())
    fields = precheck(message, domain=domain, chain_id=chain_id, now=now)
    row = session.get(SiweNonce, fields.nonce)
    if row is None:
        raise SiweNonceUnknown("ask POST /v1/auth/siwe/nonce for a nonce first")
    if row.used_at is not None:
        raise SiweNonceUsed("this nonce was already used to sign in; ask for a new one")
    if as_utc(row.expires_at) <= now:
        raise SiweExpired("the nonce expired; ask for a new one")
    parsed = check_signature(message, signature, now=now)
    wallet = to_checksum_address(parsed.address)
    if admit is not None:
        admit(wallet)
    consumed = session.execute(
        update(SiweNonce)
        .where(SiweNonce.nonce == row.nonce, SiweNonce.used_at.is_(None))
        .values(used_at=now, used_by=wallet)
    ).rowcount  # type: ignore[attr-defined]
    if consumed != 1:
        raise SiweNonceUsed("this nonce was already used to sign in; ask for a new one")
    return SignedIn(wallet=wallet, chain_id=chain_id)
