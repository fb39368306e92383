"""`GET /v1/wallets/{address}/balances`: every loyalty token a wallet holds, across brands (public, from the mirror)."""

from __future__ import annotations

from eth_utils import to_checksum_address
from fastapi import APIRouter
from pydantic import BaseModel

from backend.domain.addresses import Address
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from indexer import analytics

router = APIRouter(tags=["wallets"])


class TokenBalanceOut(BaseModel):
    token: str
    name: str | None
    symbol: str | None
    decimals: int | None
    brand: str | None
    balance: str  # base units (uint256 as a decimal string)
    earned: str
    redeemed: str


class WalletBalancesOut(BaseModel):
    wallet: str
    chain_id: int
    indexed_block: int | None
    balances: list[TokenBalanceOut]


@router.get("/v1/wallets/{address}/balances", summary="Loyalty balances of a wallet across all brands (public)")
def wallet_balances(address: Address, container: ContainerDep, session: SessionDep) -> WalletBalancesOut:
    wallet = address
    chain_id = container.contracts.chain_id if container.contracts else container.chain.chain_id
    rows = analytics.wallet_balances(session, chain_id, wallet.lower())
    return WalletBalancesOut(
        wallet=wallet,
        chain_id=chain_id,
        indexed_block=analytics.indexed_block(session, chain_id),
        balances=[
            TokenBalanceOut(
                token=to_checksum_address(r["token"]),
                name=r["name"],
                symbol=r["symbol"],
                decimals=r["decimals"],
                brand=r["brand"],
                balance=str(r["balance"]),
                earned=str(r["earned"]),
                redeemed=str(r["redeemed"]),
            )
            for r in rows
        ],
    )
