"""Through a real proxy that injects provider faults (errors, 502s, dropped connections, slow answers, range
limits) and behind a dead first endpoint, the mirror still equals the chain."""

from __future__ import annotations

import random

import pytest

from backend.bootstrap import Container, indexer_streamer
from devtools.anvil import AnvilNode
from devtools.flaky_rpc import Faults, FlakyRpc
from indexer.fetch.rpc import HttpTransport, RetryPolicy
from indexer.reconcile import reconcile
from tests.integration.indexer.conftest import (
    batch_mint,
    canonical_transfers,
    mirrored_count,
    mirrored_transfers,
    new_brand_token,
    random_wallet,
)

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]
DEAD_ENDPOINT = "http://127.0.0.1:9"  # discard port: connection refused


def test_faults_timeouts_range_limits_and_failover(anvil: AnvilNode, chain_platform: Container) -> None:
    assert chain_platform.contracts is not None
    rng = random.Random(5)
    tokens = [chain_platform.contracts.coalition.address, new_brand_token(chain_platform, "flaky")]
    for i in range(8):
        batch_mint(chain_platform, tokens[i % 2], {random_wallet(): rng.randint(1, 10**6) for _ in range(25)})
        anvil.mine(rng.randint(1, 20))
    faults = Faults(
        error_rate=0.15, http_error_rate=0.1, drop_rate=0.05, slow_rate=0.05, slow_s=1.5, max_log_range=16, seed=3
    )
    with FlakyRpc(anvil.url, faults) as proxy:
        transport = HttpTransport([DEAD_ENDPOINT, proxy.url], timeout_s=1.0)
        streamer = indexer_streamer(
            chain_platform,
            transport=transport,
            retry=RetryPolicy(attempts=12, base_s=0.01, cap_s=0.1),
            reorg_depth=2,  # a backfill of all but the tip: ranged eth_getLogs under the provider's limit
        )
        while streamer.step():
            pass
        assert mirrored_transfers(chain_platform) == canonical_transfers(anvil.url, [t.lower() for t in tokens])
        assert mirrored_count(chain_platform) == len(canonical_transfers(anvil.url, [t.lower() for t in tokens]))
        report = reconcile(transport, streamer.store, chain_platform.chain.chain_id)
        assert report.ok, report.as_dict()
        streamer.close()
        streamer.store.close()
        transport.close()
    assert faults.counts.get("range", 0) > 0  # the provider's limit was hit and honoured
    assert sum(faults.counts.values()) > faults.counts.get("range", 0)
