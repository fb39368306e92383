"""`POST /rpc` (embedded chain): bodies that are not JSON-RPC get 4xx problems; batches are bounded.

Found by fuzzing: empty, invalid and non-UTF-8 bodies answered 500, and a 3,000-call batch was accepted.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.security.conftest import World

CALL = {"jsonrpc": "2.0", "method": "eth_chainId", "params": []}


@pytest.mark.parametrize(
    ("body", "code", "rpc_code"),
    [
        (b"", "rpc-parse-error", -32700),
        (b"{not json", "rpc-parse-error", -32700),
        (b'{"method": "eth_chainId", "x": "\xff\xfe"}', "rpc-parse-error", -32700),
        (b"\xff\xfe\x00\x00", "rpc-parse-error", -32700),
        (b"5", "rpc-invalid-request", -32600),
        (b'"eth_chainId"', "rpc-invalid-request", -32600),
        (b"[]", "rpc-invalid-request", -32600),
        (json.dumps([{**CALL, "id": i} for i in range(3_000)]).encode(), "rpc-batch-too-large", -32600),
        (json.dumps([{**CALL, "id": i} for i in range(101)]).encode(), "rpc-batch-too-large", -32600),
    ],
)
def test_bodies_that_are_not_json_rpc_get_a_problem(world: World, body: bytes, code: str, rpc_code: int) -> None:
    response = world.client.post("/rpc", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    assert problem["jsonrpc"] == "2.0" and problem["id"] is None and problem["error"]["code"] == rpc_code


def test_calls_and_batches_up_to_the_bound_are_answered(world: World) -> None:
    chain_id = hex(world.container.chain.chain_id)
    single = world.client.post("/rpc", json={**CALL, "id": 7})
    assert single.status_code == 200 and single.json() == {"jsonrpc": "2.0", "id": 7, "result": chain_id}
    batch = world.client.post("/rpc", json=[{**CALL, "id": i} for i in range(100)])
    assert batch.status_code == 200, batch.text
    assert [a["id"] for a in batch.json()] == list(range(100))
    mixed = world.client.post("/rpc", json=[1, {**CALL, "id": 2}])
    assert [a.get("error", {}).get("code") for a in mixed.json()] == [-32600, None]
