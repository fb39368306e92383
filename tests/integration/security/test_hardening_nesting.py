"""Deeply nested JSON: refused before any parser sees it, by a real server process that stays up.

Found by fuzzing the embedded default: one unauthenticated body of 100,000 nested `[` crashed the process
(SIGSEGV in the C JSON decoder, the recursion limit having been raised to 100,000 by py_ecc).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.processes import free_port

REPO = Path(__file__).resolve().parents[3]
DEEP = 100_000
BODIES = {
    "array": b"[" * DEEP + b"]" * DEEP,
    "unclosed": b"[" * DEEP,
    "object": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "in a field": b'{"preferences": ' + b"[" * DEEP + b"]" * DEEP + b"}",
}
# (method, path, content type): authenticated routes too, unauthenticated callers parse bodies before auth
TARGETS = [
    ("POST", "/v1/actions", "application/json"),
    ("POST", "/v1/actions:batch", "application/json"),
    ("POST", "/v1/auth/siwe/verify", "application/json"),
    ("PATCH", "/v1/me/profile", "application/json"),
    ("POST", "/rpc", None),  # read as JSON whatever the content type
    ("POST", "/v1/brands", "text/plain"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`uvicorn --factory backend.entrypoints.api.app:create_app`, the embedded default's app, in its own process."""
    tmp = tmp_path_factory.mktemp("nesting")
    port = free_port()
    env = {
        **os.environ,
        "LOYALTY_ENV": "test",
        "LOYALTY_DATABASE_URL": f"sqlite:///{tmp / 'nesting.db'}",
        "LOYALTY_RPC_URLS": "eth-tester://",
        "LOYALTY_DEPLOYMENTS_DIR": str(tmp / "deployments"),
        "LOYALTY_RATE_LIMIT_PER_IP": "0",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "backend.entrypoints.api.app:create_app",
        "--factory",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the server did not start")
        time.sleep(0.5)
    yield base, process
    process.terminate()
    process.wait(30)


@pytest.mark.parametrize("shape", sorted(BODIES))
def test_deep_bodies_get_a_problem_and_the_server_stays_up(
    server: tuple[str, subprocess.Popen[bytes]], shape: str
) -> None:
    base, process = server
    with httpx.Client(base_url=base, timeout=60) as client:
        for method, path, content_type in TARGETS:
            headers = {"Content-Type": content_type} if content_type else {}
            try:
                response = client.request(method, path, content=BODIES[shape], headers=headers)
            except httpx.HTTPError as exc:
                pytest.fail(f"{method} {path} ({shape}): no answer ({exc!r}); server exit code {process.poll()}")
            assert response.status_code == 422, (method, path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "json-too-deep"
        assert process.poll() is None
        assert client.get("/health").status_code in (200, 503)


def test_bodies_within_the_limit_still_reach_the_route(server: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, _ = server
    nested = b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": ' + b"[" * 60 + b"]" * 60 + b"}"
    response = httpx.post(f"{base}/rpc", content=nested, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == 1
    # Brackets inside strings are no nesting.
    text = b'{"message": "' + b"[{" * 5_000 + b'\\"]", "signature": "0x00"}'
    refused = httpx.post(f"{base}/v1/auth/siwe/verify", content=text, timeout=30)
    assert refused.status_code == 422 and refused.json()["code"] != "json-too-deep", refused.text


RECURSION_PROBE = """
import sys
import py_ecc  # raises the limit to 100,000 on import
import backend
after_import = sys.getrecursionlimit()
from backend.adapters.chain.client import connect
connect(["eth-tester://"])  # imports eth-tester, py-evm (which raise it again)
print(after_import, sys.getrecursionlimit())
"""


def test_the_recursion_limit_stays_sane_after_the_backend_and_the_embedded_chain_load() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RECURSION_PROBE], cwd=REPO, capture_output=True, text=True, timeout=300, check=True
    )
    after_import, after_chain = map(int, result.stdout.split())
    assert after_import <= 10_000 and after_chain <= 10_000, result.stdout
