"""`GET /health`: database, chain and Redis status, and where the platform contracts live."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.entrypoints.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and dependencies (no authentication)")
def health(container: ContainerDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        with container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "dialect": container.engine.dialect.name}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": str(exc)[:200]}
    checks["chain"] = container.chain.health()
    if container.contracts is not None:
        checks["chain"]["factory"] = container.contracts.factory.address
        checks["chain"]["coalition_token"] = container.contracts.coalition.address
    if container.redis is None:
        checks["redis"] = {"ok": True, "configured": False}
    else:
        checks["redis"] = {"ok": container.redis.ping(), "configured": True}
    ok = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if ok else "degraded", **checks}
    return JSONResponse(body, status_code=200 if ok else 503)
