"""The tracker's batched reads say the same as one call at a time: receipts, pool membership, nonces."""

from __future__ import annotations

import pytest

from backend.services.relayer.chain_reads import ChainReads
from tests.integration.relayer.conftest import SQLITE_ONLY, RelayEnv

pytestmark = [pytest.mark.anvil]
UNKNOWN = "0x" + "ab" * 32


@SQLITE_ONLY
def test_batched_reads_match_single_calls_for_mined_pending_and_unknown_transactions(env: RelayEnv) -> None:
    env.enqueue("mined")
    env.relayer.dispatch()  # automine: in a block at once
    env.node.rpc("evm_setAutomine", False)
    env.enqueue("pending")
    env.relayer.dispatch()  # in the pool, not in a block
    mined, pending = env.intent("mined").tx_hash, env.intent("pending").tx_hash
    assert mined and pending
    wallets = env.wallets

    batched, single = ChainReads(env.container.chain), ChainReads(env.container.chain, use_batch=False)
    hashes = [mined, pending, UNKNOWN]
    for reads in (batched, single):
        receipts = reads.receipts(hashes)
        assert set(receipts) == {mined}
        receipt = receipts[mined]
        assert receipt["status"] == 1 and receipt["gasUsed"] == 21_000 and receipt["effectiveGasPrice"] > 0
        raw = env.node.rpc("eth_getTransactionReceipt", mined)
        assert (receipt["blockNumber"], receipt["blockHash"]) == (int(raw["blockNumber"], 16), raw["blockHash"])
        assert reads.known(hashes) == {mined, pending}
        nonces = reads.nonces(wallets)
        assert {w: (n.latest, n.pending) for w, n in nonces.items()} == {
            w: (env.nonce(w), env.nonce(w, "pending")) for w in wallets
        }
    assert batched.receipts(hashes) == single.receipts(hashes)
    assert any(n.pending > n.latest for n in batched.nonces(wallets).values())  # the pooled tx counts as pending

    env.node.rpc("evm_setAutomine", True)
    env.node.mine(1)
    env.drive(env.all_final)
    assert {i.state for i in env.intents()} == {"confirmed"}
