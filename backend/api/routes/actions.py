"""`POST /v1/actions` and `POST /v1/actions:batch`: brands report purchases, refunds, referrals, participation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from backend.api.auth import Principal, require_scope
from backend.api.deps import SessionDep
from backend.api.json_response import FastJSONResponse
from backend.bootstrap import Container
from backend.domain.actions import MAX_BATCH, ActionBatchIn, ActionIn
from backend.errors import Forbidden, LoyaltyError
from backend.services.action_batcher import action_batcher
from backend.services.actions import ActionError, ActionResult, record_actions

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
    for attempt in range(ATTEMPTS):
        try:
            result = work()
            session.commit()
            return result
        except (IntegrityError, OperationalError):
            session.rollback()
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _problem(error: LoyaltyError) -> dict[str, Any]:
    return {"status": error.status, "code": error.code, "title": error.title, "detail": error.detail}


@router.post(
    "/v1/actions",
    status_code=201,
    summary="Record one action (201 created; 200 with the same body when the idempotency key is replayed)",
    responses={200: {"description": "replay of an earlier request with the same idempotency key and body"}},
)
async def create_action(action: ActionIn, request: Request, principal: Writer) -> FastJSONResponse:
    brand_id = _brand_of(principal)
    container: Container = request.app.state.container
    # NOTE: group commit: concurrent requests share one transaction; each answer is sent after that commit.
    result = await action_batcher(container.extras, container.sessions).submit(brand_id, action)
    replayed = result.status == "replayed"
    return FastJSONResponse(
        result.body, status_code=200 if replayed else 201, headers={"Idempotent-Replayed": str(replayed).lower()}
    )


@router.post(
    "/v1/actions:batch",
    summary=f"Record up to {MAX_BATCH:,} actions in one request",
    description=(
        f"At most {MAX_BATCH:,} actions per request (more → 422 problem; bodies above LOYALTY_MAX_BODY_BYTES → 413). "
        "Actions are applied in order, as if sent one by one. Each gets a result: `created`, `replayed` (same "
        "idempotency key and body as before) or `error` with a problem document (e.g. `idempotency-conflict`, "
        "`self-referral`, `unknown-order`); errors do not stop the other actions."
    ),
)
def create_actions(batch: ActionBatchIn, session: SessionDep, principal: Writer) -> FastJSONResponse:
    brand_id = _brand_of(principal)
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
            out.append({"index": index, "status": "error", "problem": _problem(result.error)})
    return FastJSONResponse({**counts, "results": out})
