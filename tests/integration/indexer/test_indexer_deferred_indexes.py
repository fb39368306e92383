"""A cold backfill runs without the mirror's secondary indexes and builds them before the first live block — also
when the process is SIGKILLed mid-backfill and restarted (the missing indexes are the state; no marker)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest

from backend.bootstrap import Container, indexer_streamer
from devtools.anvil import AnvilNode
from indexer.store import open_store
from indexer.store.base import MirrorStore
from indexer.store.deferred_indexes import deferred_indexes
from tests.integration.indexer.conftest import (
    batch_mint,
    canonical_transfers,
    mirrored_count,
    mirrored_transfers,
    new_brand_token,
    random_wallet,
    start,
)
from tests.integration.indexer.kill_before_commit import KILL_BEFORE_COMMIT_ENV

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]
ALL = sorted(str(i.name) for i in deferred_indexes())
# every block final at once (depth 1, no finality tag) and small ranges, so a backfill takes many batches
BACKFILL = {"use_finalized_tag": False, "reorg_depth": 1, "max_range": 4}
BACKFILL_ENV = {
    "LOYALTY_INDEXER_FINALITY_TAG": "false",
    "LOYALTY_REORG_DEPTH": "1",
    "LOYALTY_INDEXER_MAX_RANGE": "4",
    "LOYALTY_INDEXER_DEFER_INDEXES_BLOCKS": "10",
}


@pytest.fixture
def store(chain_platform: Container) -> Iterator[MirrorStore]:
    opened = open_store(chain_platform.engine)
    yield opened
    opened.build_indexes(chain_platform.chain.chain_id)  # the run's shared database keeps its indexes, pass or fail
    opened.close()


def _history(anvil: AnvilNode, container: Container) -> list[str]:
    assert container.contracts is not None
    tokens = [container.contracts.coalition.address, new_brand_token(container, "deferco")]
    for i in range(10):
        batch_mint(container, tokens[i % 2], {random_wallet(): 10 + i for _ in range(15)})
        anvil.mine(2)
    return [t.lower() for t in tokens]


def test_cold_backfill_defers_secondary_indexes_and_builds_them_before_going_live(
    anvil: AnvilNode, chain_platform: Container, store: MirrorStore
) -> None:
    tokens = _history(anvil, chain_platform)
    streamer = indexer_streamer(chain_platform, defer_indexes_blocks=10, **BACKFILL)
    try:
        assert streamer.step()
        assert sorted(store.missing_indexes()) == ALL  # dropped: the mirror was empty and far behind
        while streamer.step():
            pass
        assert store.missing_indexes() == []  # built before the first unfinalized block
    finally:
        streamer.close()
        streamer.store.close()
    expected = canonical_transfers(anvil.url, tokens)
    assert mirrored_transfers(chain_platform) == expected
    assert mirrored_count(chain_platform) == len(expected)


def test_no_deferral_on_a_mirror_that_has_rows_or_a_short_gap(
    anvil: AnvilNode, chain_platform: Container, store: MirrorStore
) -> None:
    _history(anvil, chain_platform)
    short = indexer_streamer(chain_platform, defer_indexes_blocks=10_000, **BACKFILL)  # gap below the threshold
    try:
        assert short.step()
        assert store.missing_indexes() == []
        while mirrored_count(chain_platform) == 0:  # the first blocks deploy contracts: step on to the first mint
            assert short.step()
    finally:
        short.close()
        short.store.close()
    anvil.mine(50)
    resumed = indexer_streamer(chain_platform, defer_indexes_blocks=10, **BACKFILL)  # far behind, but not empty
    try:
        while resumed.step():
            assert store.missing_indexes() == []
    finally:
        resumed.close()
        resumed.store.close()


def test_sigkill_mid_backfill_then_restart_ends_with_every_index_and_no_gap_or_duplicate(
    anvil: AnvilNode, chain_platform: Container, store: MirrorStore
) -> None:
    tokens = _history(anvil, chain_platform)
    # killed after the third batch's rows are written, before its COMMIT: indexes dropped, mirror half done
    # NOTE: the third, not the second: the first batch (4 blocks) holds only deployments, no transfer
    proc = start(chain_platform, **BACKFILL_ENV, **{KILL_BEFORE_COMMIT_ENV: "3"})
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-3000:]
    assert sorted(store.missing_indexes()) == ALL
    assert 0 < mirrored_count(chain_platform) < len(canonical_transfers(anvil.url, tokens))
    # restarted: it resumes without the indexes (the mirror is no longer empty) and builds them at catch-up
    proc = start(chain_platform, "--until-caught-up", **BACKFILL_ENV)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert store.missing_indexes() == []
    expected = canonical_transfers(anvil.url, tokens)
    assert mirrored_transfers(chain_platform) == expected
    assert mirrored_count(chain_platform) == len(expected)


def test_finalized_batches_commit_asynchronously_and_live_blocks_durably(
    anvil: AnvilNode, chain_platform: Container
) -> None:
    assert chain_platform.contracts is not None
    token = chain_platform.contracts.coalition.address
    batch_mint(chain_platform, token, {random_wallet(): 3 for _ in range(5)})
    anvil.mine(6)
    streamer = indexer_streamer(chain_platform, use_finalized_tag=False, reorg_depth=3)
    seen: list[tuple[int, str]] = []
    streamer.store.on_before_commit = lambda batch: seen.append(
        (batch.to_block, streamer.store.q("SHOW synchronous_commit")[0][0])
    )
    try:
        while streamer.step():
            pass
    finally:
        streamer.close()
        streamer.store.close()
    safe = anvil.block_number() - 3
    assert {mode for block, mode in seen if block <= safe} == {"off"}
    assert {mode for block, mode in seen if block > safe} == {"on"}
