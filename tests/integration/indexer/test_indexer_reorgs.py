"""Reorgs on a real node: random depths while transfers keep flowing; the mirror must equal the canonical chain."""

from __future__ import annotations

import random

import pytest

from backend.bootstrap import Container, indexer_streamer
from devtools.anvil import AnvilNode
from indexer.errors import ReorgBeyondDepth
from indexer.fetch.rpc import transport_for
from indexer.reconcile import reconcile
from tests.integration.indexer.conftest import (
    batch_mint,
    canonical_transfers,
    mirrored_transfers,
    new_brand_token,
    random_wallet,
    transfer_call_data,
)

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


def catch_up(streamer) -> None:  # type: ignore[no-untyped-def]
    while streamer.step():
        pass


def test_random_reorgs_leave_a_mirror_equal_to_the_canonical_chain(anvil: AnvilNode, chain_platform: Container) -> None:
    rng = random.Random(1234)
    assert chain_platform.contracts is not None
    minter = chain_platform.hot_wallets[0].address
    tokens = [chain_platform.contracts.coalition.address, new_brand_token(chain_platform, "reorgia")]
    for token in tokens:
        batch_mint(
            chain_platform, token, {minter: 10**24, **{random_wallet(): rng.randint(1, 10**6) for _ in range(5)}}
        )
    streamer = indexer_streamer(chain_platform)
    catch_up(streamer)
    for _round in range(8):
        for _ in range(rng.randint(2, 6)):  # transfers keep flowing, some indexed before the reorg, some not
            token = rng.choice(tokens)
            anvil.rpc(
                "eth_sendTransaction",
                {"from": minter, "to": token, "data": transfer_call_data(random_wallet(), rng.randint(1, 999))},
            )
            if rng.random() < 0.5:
                streamer.step()
        depth = rng.randint(1, 10)
        replacement = {
            "from": minter,
            "to": rng.choice(tokens),
            "data": transfer_call_data(random_wallet(), rng.randint(1, 999)),
        }
        anvil.rpc("anvil_reorg", depth, [[replacement, rng.randint(0, depth - 1)]])
        if rng.random() < 0.5:
            batch_mint(chain_platform, rng.choice(tokens), {random_wallet(): rng.randint(1, 10**6) for _ in range(3)})
        catch_up(streamer)
    assert streamer.stats.reorgs >= 4
    lowered = [t.lower() for t in tokens]
    assert mirrored_transfers(chain_platform) == canonical_transfers(anvil.url, lowered)
    report = reconcile(transport_for(chain_platform.chain), streamer.store, chain_platform.chain.chain_id)
    assert report.ok, report.as_dict()
    streamer.close()
    streamer.store.close()


def test_reorg_deeper_than_the_kept_window_stops_loudly(anvil: AnvilNode, chain_platform: Container) -> None:
    assert chain_platform.contracts is not None
    token = chain_platform.contracts.coalition.address
    batch_mint(chain_platform, token, {random_wallet(): 5})
    anvil.mine(10)
    streamer = indexer_streamer(chain_platform, use_finalized_tag=False, reorg_depth=3)
    catch_up(streamer)
    before = mirrored_transfers(chain_platform)
    anvil.rpc("anvil_reorg", 6, [])
    with pytest.raises(ReorgBeyondDepth):
        catch_up(streamer)
    assert mirrored_transfers(chain_platform) == before  # nothing guessed, nothing deleted
    streamer.close()
    streamer.store.close()
