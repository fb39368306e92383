"""Property: any valid batch (duplicates included) credits exactly what a Python ledger model predicts."""

from __future__ import annotations

from collections import Counter

from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import Env
from tests.contracts.kit import encode_entries

# A small pool so that batches often credit the same holder twice, and later batches hit existing holders.
POOL = [Account.from_key(keccak(text=f"pool:{i}")).address for i in range(6)]

credits_strategy = st.lists(
    st.tuples(st.sampled_from(POOL), st.integers(min_value=1, max_value=2**96 - 1)), min_size=1, max_size=10
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(credits_strategy, min_size=1, max_size=2))
def test_random_batches_match_the_ledger_model(env: Env, batches: list[list[tuple[str, int]]]) -> None:
    token = env.token
    # NOTE: hypothesis examples share one chain snapshot, so the model starts from the chain's current state.
    model = Counter({holder: token.functions.balanceOf(holder).call() for holder in POOL})
    supply = token.functions.totalSupply().call()
    for credits in batches:
        batch_id = keccak(text=f"prop:{supply}:{credits}")
        # NOTE: an explicit gas limit skips eth-tester's binary-search estimate (most of this test's time).
        env.tx(token.functions.batchMint(batch_id, keccak(text="root"), encode_entries(credits)), gas=2_000_000)
        for holder, amount in credits:
            model[holder] += amount
            supply += amount
    assert {holder: token.functions.balanceOf(holder).call() for holder in POOL} == dict(model)
    assert token.functions.totalSupply().call() == supply
