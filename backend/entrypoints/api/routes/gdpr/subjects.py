"""GDPR: `GET /v1/gdpr/export` and `POST /v1/gdpr/erase` for a wallet or a brand's customer id.

Admins may name any wallet, or a customer id together with its brand; a brand (manager or API key) only its own
customers' ids, and sees only its own rows; a signed-in shopper only their own wallet. Operators and keys need
the scope `gdpr:export` or `gdpr:erase`: API keys get them only when asked for by name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.domain.actions import Text
from backend.domain.addresses import Address
from backend.entrypoints.api.auth import InvalidCredentials, MissingScope, Principal, get_principal
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.strict_types import one_of
from backend.errors import Forbidden, InvalidInput
from backend.services.gdpr import subjects as gdpr

try:  # the shopper session (SIWE) lives in its own module; without it only operators and brands may ask
    from backend.entrypoints.api.shopper_auth import get_shopper
except ImportError:  # pragma: no cover
    get_shopper = None  # type: ignore[assignment]

router = APIRouter(tags=["gdpr"])
EXPORT_SCOPE = "gdpr:export"
ERASE_SCOPE = "gdpr:erase"


class Caller(BaseModel):
    principal: Principal | None = None
    shopper: str | None = None

    model_config = ConfigDict(arbitrary_types_allowed=True)


def get_caller(request: Request, container: ContainerDep) -> Caller:
    """An operator / brand principal, or else a shopper session."""
    try:
        return Caller(principal=get_principal(request, container))
    except InvalidCredentials:
        if get_shopper is None:
            raise
        try:
            return Caller(shopper=get_shopper(request, container))
        except InvalidCredentials:
            pass
        raise


CallerDep = Annotated[Caller, Depends(get_caller)]


class SubjectIn(BaseModel):
    # NOTE: the one-of is declared for clients (and the fuzzer) as well as enforced by `_one_subject`.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": one_of("wallet", "customer_id")})
    wallet: Address | None = None
    customer_id: Text | None = None
    brand_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="admins: the brand of a customer id (required with it)"
    )

    @model_validator(mode="after")
    def _one_subject(self) -> SubjectIn:
        if (self.wallet is None) == (self.customer_id is None):
            raise ValueError("name exactly one of wallet or customer_id")
        return self


def _subject(caller: Caller, body: SubjectIn, scope: str) -> gdpr.Subject:
    if caller.shopper is not None:
        if body.customer_id is not None or body.wallet is None or body.wallet != caller.shopper:
            raise Forbidden("a shopper may only ask about their own wallet")
        return gdpr.Subject(wallet=body.wallet)
    principal = caller.principal
    assert principal is not None
    if scope not in principal.scopes:
        raise MissingScope(f"this operation needs the scope {scope!r}")
    if principal.role == "admin":  # a brand_id scopes a wallet request too; a customer id needs one (422)
        return gdpr.Subject(wallet=body.wallet, customer_id=body.customer_id, brand_id=body.brand_id)
    if principal.role in ("brand_manager", "brand_api") and principal.brand_id is not None:
        if body.customer_id is None:
            raise Forbidden("brands ask by their own customer_id; wallets are asked about by the shopper or an admin")
        if body.brand_id is not None and body.brand_id != principal.brand_id:
            raise Forbidden(f"not allowed on brand {body.brand_id}")
        return gdpr.Subject(customer_id=body.customer_id, brand_id=principal.brand_id)
    raise Forbidden("GDPR requests are made by an admin, the brand of the customer or the shopper")


def _subject_of_query(wallet: str | None, customer_id: str | None, brand_id: int | None) -> SubjectIn:
    try:
        return SubjectIn(wallet=wallet, customer_id=customer_id, brand_id=brand_id)
    except ValueError as exc:
        raise InvalidInput(str(exc).splitlines()[0][:200]) from exc


@router.get("/v1/gdpr/export", summary="Everything held off-chain about a wallet or a customer id (JSON)")
def export_data(
    session: SessionDep,
    caller: CallerDep,
    wallet: Annotated[Address | None, Query()] = None,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
    brand_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    subject = _subject(caller, _subject_of_query(wallet, customer_id, brand_id), EXPORT_SCOPE)
    result = gdpr.export(session, subject, _who(caller))
    session.commit()
    return result


class EraseOut(BaseModel):
    erased: dict[str, int] = Field(description="rows changed per table")


@router.post("/v1/gdpr/erase", response_model=EraseOut, summary="Erase personal data off-chain (the ledger stays)")
def erase_data(body: SubjectIn, session: SessionDep, caller: CallerDep) -> EraseOut:
    subject = _subject(caller, body, ERASE_SCOPE)
    touched = gdpr.erase(session, subject, _who(caller))
    session.commit()
    return EraseOut(erased=touched)


def _who(caller: Caller) -> str:
    return caller.principal.subject if caller.principal is not None else f"shopper:{caller.shopper}"
