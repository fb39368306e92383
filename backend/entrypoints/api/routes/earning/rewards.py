"""`GET /v1/wallets/{address}/rewards`: the shopper's view (public by wallet, no personal data)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from backend.domain.addresses import Address
from backend.entrypoints.api.deps import SessionDep
from backend.services.earning import rewards

router = APIRouter(tags=["rewards"])


@router.get(
    "/v1/wallets/{address}/rewards",
    summary="Pending credit (with state and reason), minted, reversed, debt per token; history (cursor pages)",
)
def wallet_rewards(
    address: Address,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    return rewards.wallet_rewards(session, address, cursor, limit)
