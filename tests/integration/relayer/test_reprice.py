"""Fee replacement only where it helps: each wallet's lowest unmined nonce, and only while it pays too little."""

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
def test_only_the_lowest_unmined_nonce_per_wallet_is_repriced(env: RelayEnv) -> None:
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
    assert attempts == {(w, n): 2 if n == 0 else 1 for w, n in slots}  # nonce 1 cannot mine before nonce 0

    env.node.mine(1)  # the replacements of nonce 0 mine; nonce 1 is still priced out and now the lowest
    env.relayer.track()
    assert all(env.intent(slots[(w, 0)]).state == "included" for w in env.wallets)
    assert all(len(env.attempts(slots[(w, 1)])) == 2 for w in env.wallets)

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
