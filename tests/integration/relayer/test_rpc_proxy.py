"""The fault-injecting proxy itself: scripted faults happen in order, `forward` reaches the node, rates apply."""

from __future__ import annotations

import httpx
import pytest

from devtools.anvil import AnvilNode
from devtools.rpc_proxy import Fault, RpcProxy

pytestmark = [pytest.mark.anvil]


def _call(client: httpx.Client, url: str, method: str) -> httpx.Response:
    return client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []})


def test_scripted_faults_in_order_then_clean(node: AnvilNode) -> None:
    with RpcProxy(node.url) as proxy, httpx.Client(timeout=0.5) as client:
        proxy.script(
            "eth_blockNumber",
            Fault("error", message="boom"),
            Fault("http_error"),
            Fault("drop", forward=True),
            Fault("timeout", delay_s=1.0),
            Fault("delay", delay_s=0.05),
        )
        assert _call(client, proxy.url, "eth_blockNumber").json()["error"]["message"] == "boom"
        assert _call(client, proxy.url, "eth_blockNumber").status_code == 502
        with pytest.raises(httpx.TransportError):
            _call(client, proxy.url, "eth_blockNumber")
        with pytest.raises(httpx.TransportError):
            _call(client, proxy.url, "eth_blockNumber")
        assert "result" in _call(client, proxy.url, "eth_blockNumber").json()  # delayed, answered
        assert "result" in _call(client, proxy.url, "eth_blockNumber").json()  # script used up
        assert proxy.forwarded["eth_blockNumber"] == 3  # drop(forward), delay, clean
        assert "result" in _call(client, proxy.url, "eth_chainId").json()  # other methods untouched


def test_random_rates_only_hit_chosen_methods(node: AnvilNode) -> None:
    with RpcProxy(node.url, seed=5) as proxy, httpx.Client(timeout=2) as client:
        proxy.set_rates(methods={"eth_gasPrice"}, error=0.5)
        answers = [_call(client, proxy.url, "eth_gasPrice").json() for _ in range(40)]
        errors = sum("error" in a for a in answers)
        assert 5 < errors < 35
        assert all("result" in _call(client, proxy.url, "eth_chainId").json() for _ in range(10))
        with pytest.raises(ValueError):
            proxy.set_rates(error=0.7, drop=0.5)
