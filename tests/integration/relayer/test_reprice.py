"""Fee replacement only where it helps: a wallet's lowest unmined nonce (and the underpriced nonces queued behind
it), and only while it pays too little."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.integration.relayer.conftest import SQLITE_ONLY, RelayEnv

pytestmark = [pytest.mark.anvil]


def _by_wallet_nonce(env: RelayEnv, refs: list[str]) -> dict[tuple[str, int], str]:
    out = {}
    for ref in refs:
        intent = env.intent(ref)
        assert intent.wallet is not None and intent.nonce is not None
        out[(intent.wallet, intent.nonce)] = ref
    return out


@SQLITE_ONLY
def test_a_repriced_lowest_nonce_takes_the_underpriced_nonces_behind_it_along(env: RelayEnv) -> None:
    env.node.set_automine(False)
    refs = [f"r{i}" for i in range(4)]
    for ref in refs:
        env.enqueue(ref)
    env.relayer.dispatch()
    slots = _by_wallet_nonce(env, refs)
    per_wallet = defaultdict(list)
    for wallet, nonce in slots:
        per_wallet[wallet].append(nonce)
    assert sorted(per_wallet) == sorted(env.wallets) and all(sorted(n) == [0, 1] for n in per_wallet.values())
    priced = env.attempts("r0")[0].max_fee_per_gas
    env.node.rpc("anvil_setNextBlockBaseFeePerGas", hex(priced * 20))  # every signed tx is priced out
    env.node.mine(3)  # replace_after_blocks
    assert not any(env.mined(env.attempts(r)[0].tx_hash) for r in refs)

    env.relayer.track()
    env.relayer.track()  # a second pass at the same head changes nothing
    attempts = {slot: len(env.attempts(ref)) for slot, ref in slots.items()}
    assert attempts == {slot: 2 for slot in slots}  # nonce 0 repriced, and nonce 1 behind it in the same pass

    env.node.mine(1)  # both replacements mine in one block: no nonce waits for the one below, then 3 blocks more
    env.relayer.track()
    assert all(env.intent(ref).state == "included" for ref in refs)

    env.drive(env.all_final)
    assert all(env.intent(r).state == "confirmed" for r in refs)
    assert all(env.nonce(w) == 2 for w in env.wallets)


@SQLITE_ONLY
def test_a_lowest_nonce_that_pays_enough_waits_instead_of_being_repriced(env: RelayEnv) -> None:
    env.node.set_automine(False)
    env.enqueue("fine", data=b"\xff" * 3_000, gas_limit=100_000)  # ~69k gas of calldata, signed ~76k
    env.relayer.dispatch()
    # the pool keeps the tx but no block can take it: unmined for reasons a higher fee does not fix
    env.node.rpc("anvil_setBlockGasLimit", hex(60_000))
    env.node.mine(5)
    first = env.attempts("fine")[0]
    assert not env.mined(first.tx_hash)
    assert not env.relayer.track()
    assert len(env.attempts("fine")) == 1  # waited past replace_after_blocks: its fees still cover the chain
    env.node.rpc("anvil_setBlockGasLimit", hex(30_000_000))
    env.drive(env.all_final)
    assert env.intent("fine").tx_hash == first.tx_hash and len(env.attempts("fine")) == 1
