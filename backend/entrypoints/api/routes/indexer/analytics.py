"""Brand analytics, leaderboard and cross-brand analytics (scope `analytics:read`), read from the chain mirror.

A brand sees its own token's numbers and, cross-brand, only the pairs involving its token as counts; wallet lists
across brands are for admins and auditors only.
"""

from __future__ import annotations

from typing import Annotated

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from backend.entrypoints.api.auth import PLATFORM_ROLES, Principal, ensure_brand_access, require_scope
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.strict_types import PathId
from backend.services.foundation import brands as brand_service
from indexer import analytics

router = APIRouter(tags=["analytics"])
AnalyticsReader = Annotated[Principal, Depends(require_scope("analytics:read"))]


class DayOut(BaseModel):
    day: str
    minted: str
    burned: str
    redeemed: str
    transfers: int
    active_wallets: int


class BrandAnalyticsOut(BaseModel):
    brand_id: int
    token: str
    indexed_block: int | None
    issued: str
    redeemed: str
    burned: str
    circulating: str
    holders: int
    redemption_rate: str  # redeemed / issued, 4 decimals
    series: list[DayOut]


class LeaderOut(BaseModel):
    rank: int
    wallet: str
    earned: str
    balance: str


class LeaderboardOut(BaseModel):
    brand_id: int
    token: str
    leaders: list[LeaderOut]


def _amounts(row: dict, *keys: str) -> dict:
    return {k: (str(v) if k in keys else v) for k, v in row.items()}


@router.get("/v1/brands/{brand_id}/analytics", summary="Issued, redeemed, holders and the daily series of a brand")
def brand_analytics(brand_id: PathId, principal: AnalyticsReader, session: SessionDep) -> BrandAnalyticsOut:
    ensure_brand_access(principal, brand_id)
    brand = brand_service.get_brand(session, brand_id)
    data = analytics.token_analytics(session, brand.chain_id, brand.token_address.lower())
    return BrandAnalyticsOut(
        brand_id=brand_id,
        token=to_checksum_address(data["token"]),
        indexed_block=analytics.indexed_block(session, brand.chain_id),
        issued=str(data["issued"]),
        redeemed=str(data["redeemed"]),
        burned=str(data["burned"]),
        circulating=str(data["circulating"]),
        holders=data["holders"],
        redemption_rate=str(data["redemption_rate"]),
        series=[DayOut(**_amounts(d, "minted", "burned", "redeemed")) for d in data["series"]],
    )


@router.get("/v1/brands/{brand_id}/leaderboard", summary="Top earners of a brand's token (the brand and admins)")
def brand_leaderboard(
    brand_id: PathId,
    principal: AnalyticsReader,
    session: SessionDep,
    limit: int = Query(10, ge=1, le=100),
) -> LeaderboardOut:
    ensure_brand_access(principal, brand_id)
    brand = brand_service.get_brand(session, brand_id)
    rows = analytics.leaderboard(session, brand.chain_id, brand.token_address.lower(), limit)
    return LeaderboardOut(
        brand_id=brand_id,
        token=brand.token_address,
        leaders=[
            LeaderOut(
                rank=r["rank"],
                wallet=to_checksum_address(r["wallet"]),
                earned=str(r["earned"]),
                balance=str(r["balance"]),
            )
            for r in rows
        ],
    )


@router.get("/v1/analytics/cross-brand", summary="Multi-brand shoppers, brand overlap and redemption flows")
def cross_brand(principal: AnalyticsReader, container: ContainerDep, session: SessionDep) -> dict:
    chain_id = container.contracts.chain_id if container.contracts else container.chain.chain_id
    platform = principal.role in PLATFORM_ROLES
    token: str | None = None
    if not platform and principal.brand_id is not None:
        token = brand_service.get_brand(session, principal.brand_id).token_address.lower()
    data = analytics.cross_brand(session, chain_id, analytics.Scope(token=token, wallets=platform))
    return {
        "chain_id": chain_id,
        "indexed_block": analytics.indexed_block(session, chain_id),
        "scope": "platform" if platform else ("brand" if token else "aggregate"),
        "multi_brand_holders": data["multi_brand_holders"],
        "overlap": [
            {
                "token_a": to_checksum_address(o["token_a"]),
                "token_b": to_checksum_address(o["token_b"]),
                "wallets": o["wallets"],
            }
            for o in data["overlap"]
        ],
        "redemption_flows": [
            {
                "earned_token": to_checksum_address(f["earned_token"]),
                "redeemed_token": to_checksum_address(f["redeemed_token"]),
                "wallets": f["wallets"],
                "redeemed": str(f["redeemed"]),
            }
            for f in data["redemption_flows"]
        ],
        **(
            {
                "multi_brand_wallets": [
                    {"wallet": to_checksum_address(w["wallet"]), "tokens": w["tokens"]}
                    for w in data["multi_brand_wallets"]
                ]
            }
            if "multi_brand_wallets" in data
            else {}
        ),
    }
