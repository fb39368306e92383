"""Wiring: a `Streamer` on an engine and a chain (API process, Celery worker, embedded runner, CLI)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from backend.adapters.chain.client import ChainClient
from backend.adapters.orm.deployments import Deployment
from backend.config import Settings
from backend.errors import ConfigurationError
from indexer.fetch.rpc import Transport, transport_for
from indexer.store import open_store
from indexer.streamer import Streamer


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


def build_streamer(
    engine: Engine,
    chain: ChainClient,
    settings: Settings,
    *,
    factory: tuple[str, int] | None = None,
    transport: Transport | None = None,
    **overrides: Any,
) -> Streamer:
    """A streamer on `chain` into `engine`'s database, following `factory` (address, block; default: the recorded
    one); `overrides` tune it (tests, benchmarks)."""
    address, start = factory or factory_location(engine, chain.chain_id)
    options: dict[str, Any] = {
        "reorg_depth": settings.reorg_depth,
        "use_finalized_tag": settings.indexer_finality_tag,
        "max_range": settings.indexer_max_range,
        "defer_indexes_blocks": settings.indexer_defer_indexes_blocks,
    }
    options.update(overrides)
    return Streamer(
        transport=transport or transport_for(chain),
        store=open_store(engine),
        chain_id=chain.chain_id,
        factory=address,
        start_block=start,
        **options,
    )
