"""`POST /v1/actions` and `POST /v1/actions:batch`: brands report purchases, refunds, referrals, participation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request
from sqlalchemy.orm import Session

from backend.adapters.races import retry_on_race
from backend.bootstrap import Container
from backend.domain.actions import MAX_BATCH, ActionBatchIn, ActionIn
from backend.domain.rules import NO_CREDIT_REASONS
from backend.entrypoints.api.auth import Principal, require_scope
from backend.entrypoints.api.deps import SessionDep
from backend.entrypoints.api.json_response import FastJSONResponse
from backend.errors import Forbidden
from backend.services.earning import action_imports
from backend.services.earning.actions.recorder import record_actions
from backend.services.earning.actions.results import ActionError, ActionResult

router = APIRouter(tags=["actions"])
Writer = Annotated[Principal, Depends(require_scope("actions:write"))]
T = TypeVar("T")
ATTEMPTS = 3


class BrandKeyRequired(Forbidden):
    code = "brand-credentials-required"
    title = "Actions are sent with a brand's API key (or a brand manager's token)"


def _brand_of(principal: Principal) -> int:
    if principal.brand_id is None:
        raise BrandKeyRequired("the brand is taken from the credentials, and these belong to no brand")
    return principal.brand_id


def _with_retries(session: Session, work: Callable[[], T]) -> T:
    """Retry a request that lost a race (same idempotency key at once, deadlock, SQLite busy) from scratch."""

    def once() -> T:
        result = work()
        session.commit()
        return result

    return retry_on_race(once, ATTEMPTS, rollback=session.rollback)


_NO_CREDIT_REASON = {
    "type": "object",
    "required": ["code"],
    "properties": {"code": {"type": "string", "enum": list(NO_CREDIT_REASONS)}, "promotion_id": {"type": "integer"}},
}
_ACTION_OUT: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "credits": {"type": "array", "items": {"type": "object"}},
                    "no_credit_reasons": {
                        "type": "array",
                        "items": _NO_CREDIT_REASON,
                        "description": "present when `credits` is empty: why nothing was earned",
                    },
                },
            }
        }
    }
}


@router.post(
    "/v1/actions",
    status_code=201,
    summary="Record one action (201 created; 200 with the same body when the idempotency key is replayed)",
    description=(
        "The answer lists the action's `credits`. When there are none, `no_credit_reasons` says why, one entry per "
        'promotion considered (`{"code": ..., "promotion_id": ...}`; without `promotion_id` when the brand has '
        "no live promotion). Codes (stable): " + ", ".join(f"`{c}`" for c in NO_CREDIT_REASONS) + ". The same "
        "reasons appear in the shopper's `GET /v1/wallets/{address}/rewards` (`unrewarded_actions`) and, per "
        "action, in `:batch` results; a replay answers the reasons of the first request."
    ),
    responses={
        200: {"description": "replay of an earlier request with the same idempotency key and body", **_ACTION_OUT},
        201: {"description": "recorded", **_ACTION_OUT},
    },
)
async def create_action(action: ActionIn, request: Request, principal: Writer) -> FastJSONResponse:
    brand_id = _brand_of(principal)
    container: Container = request.app.state.container
    # NOTE: group commit: concurrent requests share one transaction; each answer is sent after that commit.
    result = await container.action_batcher.submit(brand_id, action)
    replayed = result.status == "replayed"
    return FastJSONResponse(
        result.body, status_code=200 if replayed else 201, headers={"Idempotent-Replayed": str(replayed).lower()}
    )


@router.post(
    "/v1/actions:batch",
    summary=f"Record up to {MAX_BATCH:,} actions in one request (or, with `Prefer: respond-async`, import them)",
    description=(
        f"At most {MAX_BATCH:,} actions per request (more → 422 problem; bodies above LOYALTY_MAX_BODY_BYTES → 413). "
        "Actions are applied in order, as if sent one by one. Each gets a result: `created`, `replayed` (same "
        "idempotency key and body as before) or `error` with a problem document (e.g. `idempotency-conflict`, "
        "`self-referral`, `unknown-order`); errors do not stop the other actions.\n\n"
        "With `Prefer: respond-async` (RFC 7240) every action is validated (422, nothing stored, if any is "
        "invalid), the request is stored as an import and answered at once with 202, a `Location` and the "
        "import's status; workers then record the actions in order (a brand's imports one after another) and "
        "`GET /v1/action-imports/{id}/results` lists each action's result as above."
    ),
    responses={202: {"description": "accepted as an import (`Prefer: respond-async`); results at the status URL"}},
)
def create_actions(
    batch: ActionBatchIn,
    session: SessionDep,
    principal: Writer,
    prefer: Annotated[str | None, Header(description="`respond-async`: import (202) instead of recording now")] = None,
) -> FastJSONResponse:
    brand_id = _brand_of(principal)
    if prefer and "respond-async" in {p.strip().lower() for p in prefer.split(",")}:
        imported = action_imports.accept(session, brand_id, batch.actions)
        body = action_imports.summary(imported)
        session.commit()
        headers = {"Location": body["status_url"], "Preference-Applied": "respond-async"}
        return FastJSONResponse(body, status_code=202, headers=headers)
    results = _with_retries(session, lambda: record_actions(session, brand_id, batch.actions))
    out: list[dict[str, Any]] = []
    counts = {"created": 0, "replayed": 0, "error": 0}
    for index, result in enumerate(results):
        if isinstance(result, ActionResult):
            counts[result.status] += 1
            out.append({"index": index, "status": result.status, "action": result.body})
        else:
            assert isinstance(result, ActionError)
            counts["error"] += 1
            out.append({"index": index, "status": "error", "problem": result.error.fields()})
    return FastJSONResponse({**counts, "results": out})


@router.get("/v1/action-imports", summary="The brand's action imports, newest first")
def list_imports(
    session: SessionDep,
    principal: Writer,
    state: Annotated[Literal["accepted", "done"] | None, Query(description="only imports in this state")] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="`cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> FastJSONResponse:
    return FastJSONResponse(action_imports.listing(session, _brand_of(principal), state, cursor, limit))


@router.get("/v1/action-imports/{import_id}", summary="An action import's progress and counts")
def get_import(import_id: str, session: SessionDep, principal: Writer) -> FastJSONResponse:
    imported = action_imports.find(session, _brand_of(principal), import_id)
    return FastJSONResponse(action_imports.summary(imported))


@router.get(
    "/v1/action-imports/{import_id}/results",
    summary="Each action's result, in request order (`queued` until recorded), a page at a time",
)
def get_import_results(
    import_id: str,
    session: SessionDep,
    principal: Writer,
    after: Annotated[int, Query(ge=-1, le=MAX_BATCH, description="last index already read (-1: start)")] = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH)] = 1000,
) -> FastJSONResponse:
    imported = action_imports.find(session, _brand_of(principal), import_id)
    return FastJSONResponse(action_imports.results(session, imported, after, limit))
