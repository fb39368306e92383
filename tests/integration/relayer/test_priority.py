"""Under a backlog of mint batches, a shopper's redemption (signing deadline, shopper waiting) is signed first."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.anvil import AnvilNode
from tests.integration.relayer.conftest import SQLITE_ONLY, make_env

pytestmark = [pytest.mark.anvil]


@SQLITE_ONLY
def test_a_queued_redemption_is_signed_before_older_batches(node: AnvilNode, db_url: str, tmp_path: Path) -> None:
    env = make_env(node, db_url, tmp_path, hot_wallet_count=1, max_in_flight_per_wallet=1)
    try:
        node.set_automine(False)  # what is signed stays in flight: one slot, so the order is visible
        for ref in ("batch-1", "batch-2", "batch-3"):
            env.enqueue(ref)
        with env.container.uow() as uow:
            env.relayer.enqueue(uow.session, purpose="redeem", ref="r-1", to=env.wallets[0], data=b"", gas_limit=21_000)
            uow.commit()
        env.relayer.dispatch()
        signed = sorted((i.purpose, i.ref) for i in env.intents() if i.state != "queued")
        assert signed == [("redeem", "r-1")]
        node.set_automine(True)
        env.drive(env.all_final, mine=2)  # then the batches, oldest first, all of them
        assert {i.state for i in env.intents()} == {"confirmed"}
    finally:
        env.container.close()
