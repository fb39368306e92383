"""The operator dashboard: the page (`/dashboard`), its JSON summary, a mirror reconcile, and `/rpc`.

`POST /rpc` forwards JSON-RPC to the in-process chain (embedded default only), so auditors' tools and wallets
outside the process can read it: `loyalty audit verify --rpc-url http://127.0.0.1:8000/rpc ...`. Bodies that are
not JSON-RPC get 400 problems carrying the JSON-RPC error (-32700 parse error, -32600 invalid request); a batch
holds at most `LOYALTY_RPC_MAX_BATCH` calls (100).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.entrypoints.api.auth import Principal, require_scope
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.errors import Forbidden, NotFound
from backend.services.dashboard import read_model as dashboard_service
from backend.services.shoppers import rpc_passthrough

router = APIRouter(tags=["dashboard"])
STATIC = Path(__file__).resolve().parents[4] / "static"  # backend/static
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
# NOTE: the in-process chain unlocks the dev accounts (the hot wallets among them) and can rewind (`evm_revert`):
# only reads and already-signed transactions pass, so nobody outside spends a hot wallet's nonce or rewrites history.
RPC_NAMESPACES = ("eth_", "net_", "web3_")
RPC_REFUSED = frozenset(
    {"eth_sendTransaction", "eth_sign", "eth_signTransaction", "eth_signTypedData", "eth_signTypedData_v4"}
)
Reader = Annotated[Principal, Depends(require_scope("analytics:read"))]


@router.get("/dashboard", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:  # NOTE: a fixed list: no path from the URL ever reaches the filesystem
        raise NotFound(f"no dashboard asset {name!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


@router.get("/v1/dashboard/summary", summary="Queue, batches, gas, latency, hot wallets and per-brand analytics")
def summary(session: SessionDep, container: ContainerDep, principal: Reader) -> dict[str, Any]:
    return dashboard_service.summary(
        session, container.settings, container.chain, container.hot_wallets, brand_id=principal.brand_id
    )


@router.get("/v1/dashboard/reconcile", summary="Mirror vs chain: every mirrored balance and supply (operators)")
def reconcile(container: ContainerDep, principal: Reader) -> dict[str, Any]:
    if principal.brand_id is not None:
        raise Forbidden("reconciling the whole mirror is for platform operators and auditors")
    from indexer.fetch.rpc import transport_for
    from indexer.reconcile import reconcile_report

    transport = transport_for(container.chain)
    try:
        _, report = reconcile_report(container.engine, transport, container.chain.chain_id)
    finally:
        transport.close()
    return dict(report)


@router.post("/rpc", include_in_schema=False)
async def rpc(request: Request, container: ContainerDep) -> JSONResponse:
    if not container.chain.is_embedded:
        raise NotFound("the JSON-RPC passthrough exists only for the in-process chain; use your node's URL")
    calls, batched = rpc_passthrough.read_calls(await request.body(), container.settings.rpc_max_batch)
    answers = [await run_in_threadpool(_forward, container, call) for call in calls]
    return JSONResponse(answers if batched else answers[0])


def _forward(container: ContainerDep, call: Any) -> dict[str, Any]:
    if not isinstance(call, dict) or not isinstance(call.get("method"), str):
        return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": call.get("id")}
    method = call["method"]
    if not method.startswith(RPC_NAMESPACES) or method in RPC_REFUSED:
        reply["error"] = {"code": -32601, "message": f"method {method} is not available through /rpc"}
        return reply
    try:
        # NOTE: through web3's request pipeline: eth-tester answers in Python shapes (snake_case keys, ints) that
        # web3's middleware turns into the JSON-RPC field names; `_wire` then restores hex quantities and data.
        result = container.chain.w3.manager.request_blocking(method, call.get("params") or [])
    except Exception as exc:  # the node's own errors become JSON-RPC errors, as a real node answers them
        reply["error"] = {"code": -32000, "message": str(exc)}
        return reply
    reply["result"] = _wire(result)
    return reply


def _wire(value: Any) -> Any:
    """web3 values (ints, HexBytes, AttributeDict) in JSON-RPC wire format (hex quantities and data)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value
