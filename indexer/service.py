"""Wiring: a `Streamer` for a container (API process, Celery worker, embedded runner, CLI) and `index_once`."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from backend.adapters.orm.deployments import Deployment
from backend.bootstrap import Container
from backend.errors import ConfigurationError
from indexer.fetch.rpc import Transport, transport_for
from indexer.store import open_store
from indexer.streamer import Streamer

EXTRAS_KEY = "indexer.streamer"
_build_lock = threading.Lock()


def factory_location(container: Container) -> tuple[str, int]:
    """Factory address and deployment block: from the container, else the `deployments` table."""
    if container.contracts is not None:
        return container.contracts.factory.address, container.contracts.factory.block_number
    chain_id = container.chain.chain_id
    with container.uow() as uow:
        row = uow.session.execute(
            select(Deployment.address, Deployment.block_number).where(
                Deployment.chain_id == chain_id, Deployment.name == "factory"
            )
        ).first()
    if row is None:
        raise ConfigurationError(f"no factory recorded for chain {chain_id}; run `loyalty deploy` first")
    return str(row[0]), int(row[1])


def build_streamer(container: Container, transport: Transport | None = None, **overrides: Any) -> Streamer:
    """A streamer on the container's chain and database; `overrides` tune it (tests, benchmarks)."""
    settings = container.settings
    factory, start = factory_location(container)
    options: dict[str, Any] = {
        "reorg_depth": settings.reorg_depth,
        "use_finalized_tag": settings.indexer_finality_tag,
        "max_range": settings.indexer_max_range,
        "defer_indexes_blocks": settings.indexer_defer_indexes_blocks,
    }
    options.update(overrides)
    return Streamer(
        transport=transport or transport_for(container.chain),
        store=open_store(container.engine),
        chain_id=container.chain.chain_id,
        factory=factory,
        start_block=start,
        **options,
    )


def streamer_for(container: Container) -> Streamer:
    """The container's streamer, built once (one DB connection and one RPC client per process)."""
    with _build_lock:
        streamer = container.extras.get(EXTRAS_KEY)
        if streamer is None:
            streamer = build_streamer(container)
            container.extras[EXTRAS_KEY] = streamer
        return streamer


def index_once(container: Container) -> bool:
    """Mirror the next range (Celery beat task / embedded runner); True if it did work and should run again."""
    return streamer_for(container).step()
