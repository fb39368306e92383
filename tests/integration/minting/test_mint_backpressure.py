"""Lazy building with backpressure: a batch is built only while the relayer has a free sending lane, at most one
built-but-unsent batch per token, tokens earliest deadline first; credit arriving meanwhile joins the next batch.

Under a backlog the old eager builder froze hundreds of small batches in the relayer's queue (issue 17: 211 batches
of ~19 recipients waiting); here the backlog stays pending credit and the next batch carries all of it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.adapters.orm.minting import CreditOutbox
from backend.bootstrap import Container
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]
ONE_LANE = {"hot_wallet_count": 1, "max_in_flight_per_wallet": 1, "redemption_reserved_lanes": 0}


def free_lanes(c: Container) -> int:
    with c.sessions() as s:
        return c.relayer.free_lanes(s)


def test_one_unsent_batch_per_token_and_none_without_a_free_lane(env: MintEnv) -> None:
    env.node.set_automine(False)
    c = env.container(**ONE_LANE)
    pipeline = env.pipeline(c)
    env.credit(env.brand_token, new_wallets(3), per_wallet=1)

    first = pipeline.builder.build()
    assert [b.recipients for b in first] == [3]
    assert pipeline.builder.build() == []  # its batch is not sent yet: new credit would join the next one

    assert pipeline.dispatch()  # the only lane is now taken by an unmined transaction
    env.credit(env.brand_token, new_wallets(4), per_wallet=1, prefix="b")
    env.credit(env.coalition, new_wallets(2), per_wallet=1, prefix="c")
    assert free_lanes(c) == 0
    assert pipeline.builder.build() == []  # backpressure: nothing is built while no lane is free
    env.credit(env.brand_token, new_wallets(5), per_wallet=1, prefix="d")

    env.node.mine(1)
    pipeline.track()  # mined: the lane is free again (finality is counted separately)
    assert free_lanes(c) == 1
    grown = pipeline.builder.build()
    # one lane: one batch, for the token whose credit waited longest; it carries all 9 recipients that arrived
    assert [(b.token, b.recipients) for b in grown] == [(env.brand_token, 9)]
    pending = env.fetch(select(CreditOutbox).where(CreditOutbox.state == "pending"))
    assert {p.token_address for p in pending} == {env.coalition}

    env.node.set_automine(True)
    env.drain(pipeline)
    env.assert_chain_matches_ledger()


def test_tokens_are_built_earliest_deadline_first(env: MintEnv) -> None:
    env.node.set_automine(False)
    c = env.container(**ONE_LANE)
    pipeline = env.pipeline(c)
    env.credit(env.coalition, new_wallets(2), per_wallet=1, prefix="old")
    env.credit(env.brand_token, new_wallets(6), per_wallet=1, prefix="new")

    built = pipeline.builder.build()

    assert [b.token for b in built] == [env.coalition]  # older credit first, although the other token has more
    env.node.set_automine(True)
    env.drain(pipeline)
    env.assert_chain_matches_ledger()
