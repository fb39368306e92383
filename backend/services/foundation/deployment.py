"""Make sure the platform contracts (factory, shared minter, coalition token) exist on the connected chain and are
recorded in the `deployments` table (names "factory", "minter", "coalition")."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.contracts import (
    COALITION_BRAND_ID,
    Deployed,
    create_token,
    deploy_factory,
    deploy_minter,
    grant_minter_role,
    use_shared_minter,
)
from backend.adapters.chain.keys import Signer
from backend.adapters.db import session_scope
from backend.adapters.orm.deployments import Deployment

COALITION_NAME = "Coalition Loyalty"
COALITION_SYMBOL = "LOYAL"
TOKEN_DECIMALS = 18


@dataclass(frozen=True)
class PlatformContracts:
    chain_id: int
    factory: Deployed
    coalition: Deployed
    minter: Deployed  # LoyaltyMinter: small brands' batches share one `mintMany` transaction through it


def _recorded(session: Session, chain_id: int, name: str) -> Deployed | None:
    row = session.scalar(select(Deployment).where(Deployment.chain_id == chain_id, Deployment.name == name))
    return Deployed(row.address, row.tx_hash, row.block_number) if row else None


def _record(session: Session, chain_id: int, name: str, deployed: Deployed) -> None:
    row = session.scalar(select(Deployment).where(Deployment.chain_id == chain_id, Deployment.name == name))
    if row is None:
        row = Deployment(chain_id=chain_id, name=name)
        session.add(row)
    row.address, row.tx_hash, row.block_number = deployed.address, deployed.tx_hash, deployed.block_number


def _has_code(client: ChainClient, deployed: Deployed | None) -> bool:
    return deployed is not None and len(client.w3.eth.get_code(deployed.address)) > 0  # type: ignore[arg-type]


def recorded_platform_contracts(client: ChainClient, sessions: sessionmaker[Session]) -> PlatformContracts | None:
    """The recorded factory, coalition token and minter of the connected chain, if all still have code there."""
    with session_scope(sessions) as session:
        factory = _recorded(session, client.chain_id, "factory")
        coalition = _recorded(session, client.chain_id, "coalition")
        minter = _recorded(session, client.chain_id, "minter")
    if factory is None or coalition is None or minter is None:
        return None
    if not (_has_code(client, factory) and _has_code(client, coalition) and _has_code(client, minter)):
        return None
    return PlatformContracts(client.chain_id, factory, coalition, minter)


def ensure_platform_contracts(
    client: ChainClient,
    sessions: sessionmaker[Session],
    deployer: Signer,
    minters: list[Signer],
    deployments_dir: Path | None = None,
    min_tip_wei: int = 0,
) -> PlatformContracts:
    """Reuse recorded deployments whose code is still on chain; deploy what is missing (idempotent)."""
    chain_id = client.chain_id
    with session_scope(sessions) as session:
        factory = _recorded(session, chain_id, "factory")
        coalition = _recorded(session, chain_id, "coalition")
        minter = _recorded(session, chain_id, "minter")
    if not _has_code(client, factory):
        factory = deploy_factory(client, deployer, min_tip_wei)
        coalition = None
    assert factory is not None
    if not _has_code(client, minter):
        minter = deploy_minter(client, deployer, [m.address for m in minters], min_tip_wei)
    assert minter is not None
    # NOTE: before the coalition token is created, so the factory's own grant covers it; an older coalition
    # token (deployed before the minter existed) gets the role from its admin, the deployer.
    use_shared_minter(client, factory.address, deployer, minter.address, min_tip_wei)
    if _has_code(client, coalition):
        assert coalition is not None
        grant_minter_role(client, coalition.address, deployer, minter.address, min_tip_wei)
    else:
        coalition = create_token(
            client,
            factory.address,
            deployer,
            COALITION_BRAND_ID,
            COALITION_NAME,
            COALITION_SYMBOL,
            TOKEN_DECIMALS,
            0,
            deployer.address,
            [m.address for m in minters],
            min_tip_wei,
        )
    assert factory is not None and coalition is not None
    with session_scope(sessions) as session:
        _record(session, chain_id, "factory", factory)
        _record(session, chain_id, "coalition", coalition)
        _record(session, chain_id, "minter", minter)
    contracts = PlatformContracts(chain_id, factory, coalition, minter)
    if deployments_dir is not None:
        deployments_dir.mkdir(parents=True, exist_ok=True)
        (deployments_dir / f"{chain_id}.json").write_text(
            json.dumps(
                {
                    "chain_id": chain_id,
                    "factory": asdict(factory),
                    "coalition": asdict(coalition),
                    "minter": asdict(minter),
                },
                indent=2,
            )
            + "\n"
        )
    return contracts
