"""Shared runs (LoyaltyMinter.mintMany): the run tree and calldata, and when a small brand's batch waits for company."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_abi import decode as abi_decode

from backend.domain.batching import (
    SHARED_RUN_LATENCY_S,
    GasModel,
    PlainMintGas,
    RunMember,
    SharedGasModel,
    needs_company,
    run_ready,
)
from backend.domain.hashing import keccak
from backend.domain.merkle import verify
from backend.domain.shared_mint import (
    MINT_MANY_SELECTOR,
    RunBatch,
    SharedRunError,
    mint_many_calldata,
    run_leaf,
    run_tree,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run_batch(i: int) -> RunBatch:
    token = "0x" + (1000 + i).to_bytes(20, "big").hex()
    return RunBatch(token, keccak(f"batch{i}".encode()), keccak(f"root{i}".encode()), bytes(31) + bytes([i + 1]))


def test_calldata_carries_every_batch_under_the_root_of_the_run_tree() -> None:
    batches = [run_batch(i) for i in range(5)]
    data = mint_many_calldata(42, batches)
    assert data[:4] == MINT_MANY_SELECTOR
    run_id, root, rows = abi_decode(["uint256", "bytes32", "(address,bytes32,bytes32,bytes)[]"], data[4:])
    assert (run_id, root) == (42, run_tree(batches).root)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (b.token, b.batch_id, b.manifest_root, b.entries) for b in batches
    ]


def test_each_batch_proves_its_inclusion_from_its_own_leaf_and_a_short_proof() -> None:
    batches = [run_batch(i) for i in range(20)]
    tree = run_tree(batches)
    for b in batches:
        leaf = run_leaf(b.token, b.batch_id, b.manifest_root)
        proof = tree.proof(leaf)
        assert len(proof) <= 5 and verify(tree.root, leaf, proof)
    # the leaf binds the token: the same batch claimed for another token is not in the tree
    moved = run_leaf(batches[1].token, batches[0].batch_id, batches[0].manifest_root)
    assert not verify(
        tree.root, moved, tree.proof(run_leaf(batches[0].token, batches[0].batch_id, batches[0].manifest_root))
    )


@pytest.mark.parametrize(
    "bad",
    [
        RunBatch("0x" + "00" * 20, b"\x01" * 32, b"\x02" * 32, b""),
        RunBatch("0x1234", b"\x01" * 32, b"\x02" * 32, b""),
        RunBatch("0x" + "11" * 20, b"\x00" * 32, b"\x02" * 32, b""),
        RunBatch("0x" + "11" * 20, b"\x01" * 32, b"\x02" * 31, b""),
    ],
)
def test_what_the_minter_or_a_token_would_refuse_is_refused_before_sending(bad: RunBatch) -> None:
    with pytest.raises(SharedRunError):
        mint_many_calldata(1, [bad])


def test_an_empty_run_or_a_negative_run_id_is_refused() -> None:
    with pytest.raises(SharedRunError):
        mint_many_calldata(1, [])
    with pytest.raises(SharedRunError):
        mint_many_calldata(-1, [run_batch(0)])


def test_a_one_line_batch_waits_for_company_and_two_lines_go_alone() -> None:
    assert needs_company(1, 0) and needs_company(0, 1)
    assert not needs_company(2, 0) and not needs_company(0, 2) and not needs_company(300, 200)


def test_a_run_goes_once_it_beats_plain_mints_or_its_oldest_member_waited_the_bound() -> None:
    now = T0 + timedelta(seconds=3)
    lone = [RunMember(0, 1, T0)]
    assert not run_ready(lone, now, SHARED_RUN_LATENCY_S)
    assert run_ready(lone, T0 + timedelta(seconds=SHARED_RUN_LATENCY_S), SHARED_RUN_LATENCY_S)
    # two existing one-line brands still cost more than two mints; a third makes the run cheaper than mints
    assert not run_ready(lone * 2, now, SHARED_RUN_LATENCY_S)
    assert run_ready(lone * 3, now, SHARED_RUN_LATENCY_S)
    assert not run_ready([], now, SHARED_RUN_LATENCY_S)
    # a lower target waits for more company: 3 members are not enough for 0.8 × plain mints, 10 are
    assert not run_ready(lone * 3, now, SHARED_RUN_LATENCY_S, target=0.8)
    assert run_ready(lone * 10, now, SHARED_RUN_LATENCY_S, target=0.8)
    assert not run_ready(lone * 20, now, SHARED_RUN_LATENCY_S, target=0)


def test_twenty_small_brands_cost_at_most_a_plain_mint_per_action_by_the_model() -> None:
    shared, plain = SharedGasModel(), PlainMintGas()
    assert shared.estimate([(0, 1)] * 20) / 20 <= plain.existing
    assert shared.estimate([(1, 0)] * 20) / 20 <= plain.fresh
    # lines cost the same in either path; only the fixed part differs
    assert shared.estimate([(3, 4)]) - shared.estimate([(0, 0)]) == GasModel().estimate(3, 4) - GasModel().base
