"""The one place that wires settings, database, chain, cache and keys — shared by API, worker, indexer, runner.

`bootstrap()` only connects: it never migrates the database nor deploys contracts. Those are explicit steps
(`migrate`, `deploy`; `loyalty migrate`, `loyalty deploy`), so two processes starting at once cannot race to
do them. Components that cost something to build (the relayer, the pipeline, the webhook dispatcher's HTTP
pool, the indexer's streamer) are built once, on first use, under the container's lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.cache import KeyedRedis, connect_redis
from backend.adapters.chain.client import ChainClient, connect
from backend.adapters.chain.keys import Signer, load_deployer, load_hot_wallets
from backend.adapters.db import UnitOfWork, alembic_config, make_engine, retry_lost_connection
from backend.adapters.db import migrate as upgrade_schema
from backend.adapters.orm.deployments import Deployment
from backend.config import Settings, get_settings
from backend.errors import ConfigurationError
from backend.services.earning.action_batcher import ActionBatcher
from backend.services.foundation.api_keys import ApiKeyCache
from backend.services.foundation.deployment import (
    PlatformContracts,
    ensure_platform_contracts,
    recorded_platform_contracts,
)
from backend.services.foundation.login_throttle import LoginThrottle, ThrottlePolicy
from backend.services.foundation.operators import ensure_admin
from backend.services.foundation.rate_limit import RateLimiter
from backend.services.minting.pipeline import MintingPipeline
from backend.services.notifications.feed import FeedHub
from backend.services.notifications.webhook_dispatcher import WebhookDispatcher
from backend.services.qr.claims import keyring
from backend.services.relayer import build_relayer
from backend.services.relayer.leadership import leadership_for
from backend.services.relayer.loop import RelayerLoop
from backend.services.shoppers.redemption_settlement import RedemptionSettlement
from backend.services.shoppers.redemptions import RedemptionDesk
from indexer.fetch.rpc import Transport, transport_for
from indexer.service import build_streamer
from indexer.streamer import Streamer

log = logging.getLogger("loyalty.bootstrap")
GWEI = 10**9
T = TypeVar("T")


class SchemaNotReady(ConfigurationError):
    """The database has no schema, or an older one than this code."""


class ContractsNotDeployed(ConfigurationError):
    """No platform contracts are recorded for the connected chain."""


class _Component(Generic[T]):
    """A container field built on first use, once per container even when threads race for it."""

    def __init__(self, build: Callable[[Container], T]) -> None:
        self.build = build
        self.name = build.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _Component[T]: ...
    @overload
    def __get__(self, obj: Container, objtype: type | None = None) -> T: ...
    def __get__(self, obj: Container | None, objtype: type | None = None) -> T | _Component[T]:
        if obj is None:
            return self
        found = obj.__dict__.get(self.name)
        if found is None:
            with obj.lock:
                found = obj.__dict__.get(self.name)
                if found is None:
                    found = obj.__dict__[self.name] = self.build(obj)
        return found  # type: ignore[no-any-return]


def component(build: Callable[[Container], T]) -> T:
    """Declare a lazily built component (typed as what `build` returns); a test may assign its own."""
    return _Component(build)  # type: ignore[return-value]


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
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    contracts_looked_up_at: float = field(default=-1e9, repr=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    @property
    def min_tip_wei(self) -> int:
        return int(self.settings.min_priority_fee_gwei * GWEI)

    # NOTE: not annotated, so the dataclass does not take them for constructor fields; each is typed by its builder.

    relayer = component(lambda c: build_relayer(c.sessions, c.chain, c.hot_wallets, c.settings, c.min_tip_wei))
    pipeline = component(
        lambda c: MintingPipeline(
            c.sessions,
            c.chain,
            c.settings,
            c.relayer,
            minter=lambda: shared_minter(c),
        )
    )
    webhook_dispatcher = component(lambda c: WebhookDispatcher(c.sessions, c.settings))
    redemption_settlement = component(lambda c: RedemptionSettlement(c.sessions, c.chain))
    relayer_loop = component(
        lambda c: RelayerLoop(
            c.pipeline,
            c.redemption_settlement,
            c.chain.head,
            leadership_for(c.engine, c.chain.chain_id),
            c.settings.relayer_poll_s,
        )
    )
    redemptions = component(lambda c: RedemptionDesk(c.sessions, c.chain, c.settings, lambda: c.relayer))
    streamer = component(lambda c: indexer_streamer(c))
    qr_keyring = component(lambda c: keyring(c.settings))
    api_key_cache = component(lambda c: ApiKeyCache(c.sessions))
    action_batcher = component(lambda c: ActionBatcher(c.sessions))
    feed_hub = component(lambda c: FeedHub(c.sessions, c.settings.feed_poll_s))
    login_throttle = component(
        lambda c: LoginThrottle(
            c.redis,
            ThrottlePolicy(
                c.settings.login_free_per_account, c.settings.login_free_per_ip, c.settings.login_delay_cap_s
            ),
        )
    )

    @property
    def rate_limiter(self) -> RateLimiter:
        """The process's limiter for route-level checks (rebuilt if `redis` was replaced, e.g. by a test)."""
        with self.lock:
            limiter: RateLimiter | None = self.__dict__.get("_rate_limiter")
            if limiter is None or limiter.redis is not self.redis:
                limiter = self.__dict__["_rate_limiter"] = RateLimiter(self.redis, self.settings.rate_limit_window_s)
            return limiter

    def built(self, name: str) -> Any:
        """The component `name` if it was built (or assigned), else None; builds nothing."""
        return self.__dict__.get(name)

    def close(self) -> None:
        dispatcher = self.built("webhook_dispatcher")
        if dispatcher is not None:  # its HTTP pool and threads, before the database they write to
            dispatcher.close()
        loop = self.built("relayer_loop")
        if loop is not None:  # give up the chain's relayer lock: a standby (or the next container) leads
            loop.leadership.close()
        self.engine.dispose()
        if self.redis is not None:
            self.redis.client.close()


def factory_location(engine: Engine, chain_id: int) -> tuple[str, int]:
    """Factory address and deployment block recorded in the `deployments` table (by `loyalty deploy`)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(Deployment.address, Deployment.block_number).where(
                Deployment.chain_id == chain_id, Deployment.name == "factory"
            )
        ).first()
    if row is None:
        raise ConfigurationError(f"no factory recorded for chain {chain_id}; run `loyalty deploy` first")
    return str(row[0]), int(row[1])


def indexer_streamer(
    container: Container,
    *,
    factory: tuple[str, int] | None = None,
    transport: Transport | None = None,
    **overrides: Any,
) -> Streamer:
    """A new streamer on the container's database and chain, following its factory (or `factory`: address,
    block); `overrides` tune it (tests, benchmarks)."""
    chain, settings = container.chain, container.settings
    contracts = container.contracts
    if factory is None and contracts is not None:
        factory = (contracts.factory.address, contracts.factory.block_number)
    options: dict[str, Any] = {
        "reorg_depth": settings.reorg_depth,
        "use_finalized_tag": settings.indexer_finality_tag,
        "max_range": settings.indexer_max_range,
        "defer_indexes_blocks": settings.indexer_defer_indexes_blocks,
        **overrides,
    }
    return build_streamer(
        container.engine,
        transport or transport_for(chain),
        chain.chain_id,
        factory or factory_location(container.engine, chain.chain_id),
        **options,
    )


def bootstrap(settings: Settings | None = None, *, chain: ChainClient | None = None) -> Container:
    """Connect to the database, chain and Redis; migrates nothing and deploys nothing (see `migrate`, `deploy`)."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
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
    return container


def migrate(engine: Engine, settings: Settings) -> None:
    """Bring the schema to the newest revision and create the first operator (the `loyalty migrate` step)."""
    upgrade_schema(engine)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    retry_lost_connection(lambda: ensure_admin(engine, sessions, settings), "first operator account")


def deploy(container: Container) -> PlatformContracts:
    """Deploy (or reuse) the factory, shared minter and coalition token and record them (the `loyalty deploy` step)."""
    contracts = ensure_platform_contracts(
        container.chain,
        container.sessions,
        container.deployer,
        container.hot_wallets,
        container.settings.deployments_dir,
        container.min_tip_wei,
    )
    container.contracts = contracts
    log.info(
        "platform contracts on chain %s: factory %s, coalition %s, shared minter %s",
        contracts.chain_id,
        contracts.factory.address,
        contracts.coalition.address,
        contracts.minter.address,
    )
    return contracts


def require_schema(container: Container) -> None:
    """Refuse to serve on a database that `loyalty migrate` has not brought to this code's revision."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())

    def current() -> set[str]:
        with container.engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())

    found = retry_lost_connection(current, "schema check")
    if found != heads:
        state = "has no schema" if not found else "is not at the newest revision"
        raise SchemaNotReady(f"the database {state}; run `loyalty migrate` first")


def shared_minter(container: Container) -> str | None:
    """The shared minter's address; a process started without the contracts (relayer, worker) looks them up in
    the deployments table, again at most every 30 s while `loyalty deploy` has not run."""
    if container.contracts is None:
        if time.monotonic() - container.contracts_looked_up_at < 30:
            return None
        container.contracts_looked_up_at = time.monotonic()
        container.contracts = recorded_platform_contracts(container.chain, container.sessions)
    return container.contracts.minter.address if container.contracts else None


def require_contracts(container: Container) -> PlatformContracts:
    """Attach the recorded platform contracts; refuse if `loyalty deploy` has not run on this chain."""
    contracts = recorded_platform_contracts(container.chain, container.sessions)
    if contracts is None:
        raise ContractsNotDeployed(
            f"no platform contracts recorded for chain {container.chain.chain_id}; run `loyalty deploy` first"
        )
    container.contracts = contracts
    return contracts


def ready(settings: Settings | None = None, *, chain: ChainClient | None = None, contracts: bool = True) -> Container:
    """A container for a serving process (API, worker): the schema and, if asked, the contracts must exist.

    NOTE: fail rather than wait: a supervisor restarts the process, and a process that waits looks healthy while
    it cannot serve. The one exception is an in-process chain (`eth-tester://`): it lives and dies with this
    process, so no other process could deploy to it, and this process sets up its own database and contracts.
    """
    container = bootstrap(settings, chain=chain)
    try:
        if contracts and container.chain.is_embedded:
            migrate(container.engine, container.settings)
            deploy(container)
            return container
        require_schema(container)
        if contracts:
            require_contracts(container)
    except BaseException:
        container.close()
        raise
    return container


def provision(
    settings: Settings | None = None, *, chain: ChainClient | None = None, with_contracts: bool = True
) -> Container:
    """Connect, migrate and (unless `with_contracts=False`) deploy: for a process that owns its database and chain (the
    embedded `loyalty up`, scripts, tests); serving processes use `ready` and leave these steps to the CLI."""
    container = bootstrap(settings, chain=chain)
    try:
        migrate(container.engine, container.settings)
        if with_contracts:
            deploy(container)
    except BaseException:
        container.close()
        raise
    return container
