"""Two indexers on one mirror (a Celery beat task beside `loyalty indexer run`): a brand token created while both
run is followed by both, whichever of them mirrored its creation."""

from __future__ import annotations

import pytest

from backend.bootstrap import Container, indexer_streamer
from devtools.anvil import AnvilNode
from tests.integration.indexer.conftest import (
    batch_mint,
    canonical_transfers,
    mirrored_transfers,
    new_brand_token,
    random_wallet,
)

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


@pytest.mark.parametrize("finalized", [True, False], ids=["backfill", "tail"])
def test_a_token_discovered_by_the_other_writer_is_followed(
    anvil: AnvilNode, chain_platform: Container, finalized: bool
) -> None:
    assert chain_platform.contracts is not None
    coalition = chain_platform.contracts.coalition.address
    # backfill: every block is final at once (depth 0); tail: nothing is, blocks are read one hash at a time
    options = {"use_finalized_tag": False, "reorg_depth": 0 if finalized else 1_000}
    first, second = indexer_streamer(chain_platform, **options), indexer_streamer(chain_platform, **options)
    try:
        batch_mint(chain_platform, coalition, {random_wallet(): 5 for _ in range(3)})
        while first.step():
            pass
        assert not second.step()  # caught up: it has seen the cursor the first one wrote

        brand = new_brand_token(chain_platform, "twowriters")
        anvil.mine(1)
        while first.step():  # the first writer mirrors the TokenCreated event ...
            pass
        batch_mint(chain_platform, brand, {random_wallet(): 7 for _ in range(4)})
        anvil.mine(1)
        while second.step():  # ... and the second one mirrors the brand's mints right after it
            pass

        tokens = [coalition, brand]
        assert mirrored_transfers(chain_platform) == canonical_transfers(anvil.url, tokens)
        assert len(canonical_transfers(anvil.url, [brand])) == 4
    finally:
        first.close()
        second.close()
