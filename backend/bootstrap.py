"""The one place that wires settings, database, chain, cache and keys — shared by API, worker, indexer, runner."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.cache import KeyedRedis, connect_redis
from backend.adapters.chain.client import ChainClient, connect
from backend.adapters.chain.keys import Signer, load_deployer, load_hot_wallets
from backend.adapters.db import UnitOfWork, make_engine, migrate, retry_lost_connection
from backend.config import Settings, get_settings
from backend.services.deployment import PlatformContracts, ensure_platform_contracts
from backend.services.operators import ensure_admin

log = logging.getLogger("loyalty.bootstrap")
GWEI = 10**9


@dataclass
class Container:
    """Everything a process needs; tests build one with their own settings, chain or fakes."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    chain: ChainClient
    redis: KeyedRedis | None
    deployer: Signer
    hot_wallets: list[Signer]
    contracts: PlatformContracts | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    @property
    def min_tip_wei(self) -> int:
        return int(self.settings.min_priority_fee_gwei * GWEI)

    def close(self) -> None:
        self.engine.dispose()
        if self.redis is not None:
            self.redis.client.close()


def bootstrap(
    settings: Settings | None = None,
    *,
    chain: ChainClient | None = None,
    run_migrations: bool = True,
    deploy: bool = True,
) -> Container:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    if run_migrations:
        migrate(engine)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    chain = chain or connect(settings.rpc_url_list)
    container = Container(
        settings=settings,
        engine=engine,
        sessions=sessions,
        chain=chain,
        redis=connect_redis(settings.redis_url, settings.redis_prefix),
        deployer=load_deployer(settings),
        hot_wallets=load_hot_wallets(settings),
    )
    retry_lost_connection(lambda: ensure_admin(engine, sessions, settings), "first operator account")
    if deploy:
        container.contracts = ensure_platform_contracts(
            chain,
            sessions,
            container.deployer,
            container.hot_wallets,
            settings.deployments_dir,
            container.min_tip_wei,
        )
        log.info(
            "platform contracts on chain %s: factory %s, coalition %s",
            container.contracts.chain_id,
            container.contracts.factory.address,
            container.contracts.coalition.address,
        )
    return container
