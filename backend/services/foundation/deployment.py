"""Make sure the platform contracts (factory + coalition token) exist on the connected chain and are recorded."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.contracts import COALITION_BRAND_ID, Deployed, create_token, deploy_factory
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
    """The recorded factory and coalition token of the connected chain, if both still have code there."""
    with session_scope(sessions) as session:
        factory = _recorded(session, client.chain_id, "factory")
        coalition = _recorded(session, client.chain_id, "coalition")
    if factory is None or coalition is None or not (_has_code(client, factory) and _has_code(client, coalition)):
        return None
    return PlatformContracts(client.chain_id, factory, coalition)


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
    if not _has_code(client, factory):
        factory = deploy_factory(client, deployer, min_tip_wei)
        coalition = None
    if not _has_code(client, coalition):
        assert factory is not None
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
    contracts = PlatformContracts(chain_id, factory, coalition)
    if deployments_dir is not None:
        deployments_dir.mkdir(parents=True, exist_ok=True)
        (deployments_dir / f"{chain_id}.json").write_text(
            json.dumps({"chain_id": chain_id, "factory": asdict(factory), "coalition": asdict(coalition)}, indent=2)
            + "\n"
        )
    return contracts
