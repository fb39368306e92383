"""LoyaltyMinter: several tokens' batches in one transaction, one run guard, the factory's MINTER_ROLE grant,
all-or-nothing reverts, and the calldata the backend builds (backend.domain.shared_mint)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_utils import keccak
from web3.contract import Contract
from web3.logs import DISCARD

from backend.domain.manifest import ManifestLine, TransferEntry, encode_entries, manifest_tree
from backend.domain.merkle import verify
from backend.domain.shared_mint import RunBatch, is_run_minted_calldata, mint_many_calldata, run_leaf, run_tree
from tests.contracts.conftest import Env
from tests.contracts.kit import deploy, expect_revert, load_artifact, transact

MINTER_ROLE = keccak(text="MINTER_ROLE")
RELAYER_ROLE = keccak(text="RELAYER_ROLE")
E18 = 10**18


@dataclass
class Shared:
    env: Env
    minter: Contract
    tokens: list[Contract]  # created after the factory learnt the minter, 18 decimals; the last one capped at 100

    def send(self, run_id: int, batches: list[RunBatch], sender: str | None = None) -> dict:
        """Send the backend's own calldata for the run (what the relayer will send)."""
        tx = {"from": sender or self.env.minter, "to": self.minter.address, "data": mint_many_calldata(run_id, batches)}
        w3 = self.env.w3
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))  # type: ignore[arg-type]
        assert receipt["status"] == 1
        return dict(receipt)


@pytest.fixture
def shared(env: Env) -> Shared:
    minter = deploy(env.w3, "LoyaltyMinter", env.admin, env.admin, [env.minter])
    env.tx(env.factory.functions.setSharedMinter(minter.address), env.admin)
    abi = load_artifact("LoyaltyToken")["abi"]
    tokens = []
    for i, cap in enumerate((0, 0, 100 * E18)):
        call = env.factory.functions.createToken(keccak(text=f"small:{i}"), f"S{i}", f"S{i}", 18, cap, env.admin, [])
        env.tx(call, env.admin)
        count = env.factory.functions.tokenCount().call()
        tokens.append(env.w3.eth.contract(address=env.factory.functions.tokenAt(count - 1).call(), abi=abi))
    return Shared(env, minter, tokens)


def batch(token: Contract, label: str, lines: list[tuple[str, int]]) -> RunBatch:
    manifest = [ManifestLine(f"{label}:{i}", wallet, amount) for i, (wallet, amount) in enumerate(lines)]
    entries = encode_entries(TransferEntry(wallet, amount) for wallet, amount in lines)
    return RunBatch(token.address, keccak(text=f"batch:{label}"), manifest_tree(manifest).root, entries)


def row(b: RunBatch) -> tuple[str, bytes, bytes, bytes]:
    """A batch as `mintMany`'s ABI tuple, for calls that bypass the backend's encoder."""
    return (b.token, b.batch_id, b.manifest_root, b.entries)


def test_the_factory_grants_its_shared_minter_minter_role_on_new_tokens_only(shared: Shared) -> None:
    env = shared.env
    assert env.factory.functions.sharedMinter().call() == shared.minter.address
    for token in shared.tokens:
        assert token.functions.hasRole(MINTER_ROLE, shared.minter.address).call()
    assert not env.token.functions.hasRole(MINTER_ROLE, shared.minter.address).call()  # created before
    with expect_revert(env.factory, "AccessControlUnauthorizedAccount", env.stranger, b"\x00" * 32):
        env.tx(env.factory.functions.setSharedMinter(env.stranger), env.stranger)


def test_one_run_credits_every_token_and_each_token_logs_its_own_batch(shared: Shared) -> None:
    env, (a, b, c) = shared.env, shared.tokens
    batches = [
        batch(a, "a", [(env.holder, 5 * E18)]),
        batch(b, "b", [(env.holder, 7 * E18), (env.other, 1)]),
        batch(c, "c", [(env.other, 3 * E18)]),
    ]
    receipt = shared.send(0, batches)
    assert a.functions.balanceOf(env.holder).call() == 5 * E18
    assert b.functions.balanceOf(env.other).call() == 1
    assert [t.functions.totalSupply().call() for t in (a, b, c)] == [5 * E18, 7 * E18 + 1, 3 * E18]
    tree = run_tree(batches)
    for token, sent in zip((a, b, c), batches, strict=True):
        logged = token.events.BatchMinted().process_receipt(receipt, errors=DISCARD)
        (event,) = [e for e in logged if e["address"] == token.address]  # the token's own log
        assert (event["args"]["batchId"], event["args"]["manifestRoot"]) == (sent.batch_id, sent.manifest_root)
        assert token.functions.batchManifestRoot(sent.batch_id).call() == b"\x00" * 32  # no per-batch root slot
        leaf = run_leaf(token.address, sent.batch_id, sent.manifest_root)
        assert verify(tree.root, leaf, tree.proof(leaf))
    (run,) = shared.minter.events.RunMinted().process_receipt(receipt, errors=DISCARD)
    assert dict(run["args"]) == {"runId": 0, "runRoot": tree.root, "batches": 3}
    assert shared.minter.functions.isRunMinted(0).call()
    assert not shared.minter.functions.isRunMinted(1).call()
    answer = env.w3.eth.call({"to": shared.minter.address, "data": is_run_minted_calldata(0)})
    assert int.from_bytes(answer, "big") == 1


def test_a_replayed_run_id_reverts_even_with_other_batches(shared: Shared) -> None:
    env, (a, b, _) = shared.env, shared.tokens
    shared.send(300, [batch(a, "first", [(env.holder, 1)])])
    call = shared.minter.functions.mintMany(
        300, keccak(text="r"), [(b.address, keccak(text="x"), keccak(text="m"), b"")]
    )
    with expect_revert(shared.minter, "RunAlreadyMinted", 300):
        env.tx(call)
    assert b.functions.totalSupply().call() == 0
    shared.send(301, [batch(a, "second", [(env.holder, 1)])])  # the next run of the same bitmap word
    assert a.functions.balanceOf(env.holder).call() == 2


def test_one_failing_batch_reverts_the_whole_run(shared: Shared) -> None:
    env, (a, b, capped) = shared.env, shared.tokens
    good = batch(a, "good", [(env.holder, 1)])
    over_cap = batch(capped, "over", [(env.holder, 101 * E18)])
    call = shared.minter.functions.mintMany(7, run_tree([good, over_cap]).root, [row(good), row(over_cap)])
    with expect_revert(capped, "ERC20ExceededCap", 101 * E18, 100 * E18):
        env.tx(call)
    env.tx(b.functions.pause(), env.admin)
    paused = batch(b, "paused", [(env.holder, 1)])
    with expect_revert(b, "EnforcedPause"):
        env.tx(shared.minter.functions.mintMany(7, run_tree([good, paused]).root, [row(good), row(paused)]))
    assert a.functions.totalSupply().call() == 0
    assert not shared.minter.functions.isRunMinted(7).call()  # the run id is free for a run without the culprit
    shared.send(7, [good])
    assert a.functions.totalSupply().call() == 1


def test_only_relayers_send_runs_and_only_minters_credit_batches(shared: Shared) -> None:
    env, a = shared.env, shared.tokens[0]
    one = batch(a, "x", [(env.holder, 1)])
    with expect_revert(shared.minter, "AccessControlUnauthorizedAccount", env.stranger, RELAYER_ROLE):
        env.tx(shared.minter.functions.mintMany(1, keccak(text="r"), [row(one)]), env.stranger)
    with expect_revert(a, "AccessControlUnauthorizedAccount", env.stranger, MINTER_ROLE):
        env.tx(a.functions.creditBatch(one.batch_id, one.manifest_root, one.entries), env.stranger)
    with expect_revert(shared.minter, "NoBatches"):
        env.tx(shared.minter.functions.mintMany(1, keccak(text="r"), []))
    with expect_revert(shared.minter, "ZeroRunRoot"):
        env.tx(shared.minter.functions.mintMany(1, b"\x00" * 32, [row(one)]))
    with expect_revert(a, "ZeroManifestRoot"):
        env.tx(
            shared.minter.functions.mintMany(
                1, keccak(text="r"), [(a.address, one.batch_id, b"\x00" * 32, one.entries)]
            )
        )
    with expect_revert(a, "MalformedEntries", 31):
        env.tx(
            shared.minter.functions.mintMany(
                1, keccak(text="r"), [(a.address, one.batch_id, one.manifest_root, b"\x01" * 31)]
            )
        )
    with expect_revert(shared.minter, "ZeroAdmin"):
        deploy(env.w3, "LoyaltyMinter", env.admin, "0x" + "00" * 20, [])
    assert transact(env.w3, shared.minter.functions.mintMany(1, keccak(text="r"), [row(one)]), env.minter)
