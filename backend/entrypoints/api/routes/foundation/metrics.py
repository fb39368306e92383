"""`GET /metrics`: Prometheus exposition of the default registry (pipeline, relayer and process metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from backend.entrypoints.api.deps import ContainerDep
from backend.services.earning import action_imports
from backend.services.minting.aggregator import pending_groups

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response)
def metrics(container: ContainerDep) -> Response:
    try:
        with container.uow() as uow:
            pending_groups(uow.session)  # NOTE: refreshes the pending gauges from the database at scrape time
            action_imports.backlog(uow.session)  # and the bulk-import backlog gauge
    except Exception:  # a scrape must still answer while the database is down
        pass
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
