"""Under a backlog one build call returns after its time slice, so dispatch and track run in between.

Found by scripts/chaos.py: with ~90,000 pending credits a Celery build task drained the whole backlog in one
call, hit the 300 s task time limit, and no batch was sent or confirmed meanwhile.
"""

from __future__ import annotations

import pytest

from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


def test_build_returns_after_its_slice_and_the_next_call_continues(env: MintEnv) -> None:
    env.overrides["batch_max_recipients"] = 3
    pipeline = env.pipeline(env.container())
    env.credit(env.brand_token, new_wallets(12), per_wallet=1)  # four batches are due at once
    pipeline.builder.slice_s = 0.0  # as if each batch took the whole slice

    sizes = [len(pipeline.builder.build()) for _ in range(5)]

    assert sizes == [1, 1, 1, 1, 0]
    env.drain(pipeline)
    env.assert_chain_matches_ledger()
