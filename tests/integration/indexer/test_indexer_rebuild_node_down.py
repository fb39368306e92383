"""After a lost database connection the indexer rebuilds its streamer; if the node is down at that moment too,
it waits for it instead of exiting.

Found by scripts/chaos.py: a database restart during an RPC outage made `loyalty indexer run` exit with
ChainUnavailable (eth_chainId) from the rebuild.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from backend.adapters.chain.client import connect
from backend.bootstrap import Container, indexer_streamer
from devtools.anvil import AnvilNode
from devtools.rpc_proxy import RpcProxy
from indexer.cli import _rebuild

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


@pytest.mark.parametrize("fault", ["drop", "error"])  # no answer; a JSON-RPC error answer
def test_rebuild_waits_for_the_node(anvil: AnvilNode, chain_platform: Container, fault: str) -> None:
    stop = threading.Event()
    built: list[Any] = []
    errors: list[BaseException] = []
    with RpcProxy(anvil.url, seed=2) as proxy:
        proxy.set_rates(**{fault: 1.0})  # every request fails
        chain_platform.chain = connect([proxy.url])

        def rebuild() -> None:
            try:
                built.append(_rebuild(lambda: indexer_streamer(chain_platform), stop))
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=rebuild)
        worker.start()
        worker.join(2.5)  # still waiting for the node, not crashed
        assert errors == [] and built == []
        proxy.set_rates()  # the node is back
        worker.join(60)
        stop.set()
    assert errors == [] and len(built) == 1
    built[0].close()
    built[0].store.close()
