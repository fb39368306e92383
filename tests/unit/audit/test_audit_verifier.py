"""The verifier on synthetic chain data: a clean history passes, every tampering is named precisely."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from backend.audit.manifest_file import manifest_root
from backend.audit.records import ZERO_ADDRESS, MirrorSnapshot, TransferLog
from backend.audit.verifier import AuditResult
from tests.unit.audit.synthetic_chain import CHAIN_ID, TOKEN, SyntheticChain, batch_id, edit_manifest, wallet

A, B, C = wallet(0xA), wallet(0xB), wallet(0xC)


@pytest.fixture
def chain() -> SyntheticChain:
    c = SyntheticChain(manifest_root)
    c.batch_mint(1, [("act-1", A, 100), ("act-2", B, 50), ("act-3", A, 7)])
    c.batch_mint(2, [("act-4", C, 1_000), ("act-5", B, 1)])
    return c


def manifest_path(root: Path, n: int) -> Path:
    return root / str(CHAIN_ID) / TOKEN / f"{batch_id(n)}.json"


def codes(result: AuditResult) -> list[str]:
    return sorted(f.code for f in result.findings)


def test_a_fully_explained_history_has_no_findings(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.transfer(A, B, 10)
    chain.transfer(B, ZERO_ADDRESS, 5)  # a redemption burn
    result = chain.verify(chain.export(tmp_path))
    assert result.ok, result.findings
    stats = result.tokens[TOKEN.lower()]
    assert (stats.minted, stats.burned, stats.total_supply, stats.batches) == (1158, 5, 1153, 2)
    assert result.actions == 5


def test_an_altered_amount_names_the_batch_wallet_and_action(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.export(tmp_path)
    edit_manifest(manifest_path(tmp_path, 2), lambda d: d["entries"][0].update(amount="999"))
    result = chain.verify(tmp_path)
    assert codes(result) == ["manifest-root-mismatch", "mint-amount-mismatch"]
    mismatch = next(f for f in result.findings if f.code == "mint-amount-mismatch")
    assert (mismatch.batch_id, mismatch.wallet, mismatch.action_id) == (batch_id(2), C, "act-4")
    assert mismatch.details["on_chain"] == "1000" and mismatch.details["manifest"] == "999"


def test_a_dropped_line_names_the_wallet_left_short(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.export(tmp_path)
    edit_manifest(manifest_path(tmp_path, 1), lambda d: d["entries"].pop(2))  # act-3, A, 7
    result = chain.verify(tmp_path)
    assert codes(result) == ["manifest-root-mismatch", "mint-amount-mismatch"]
    mismatch = next(f for f in result.findings if f.code == "mint-amount-mismatch")
    assert (mismatch.batch_id, mismatch.wallet) == (batch_id(1), A)
    assert mismatch.details == {"on_chain": "107", "manifest": "100", "actions": ["act-1"]}


def test_a_duplicated_line_names_the_action(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.export(tmp_path)
    edit_manifest(manifest_path(tmp_path, 1), lambda d: d["entries"].append(dict(d["entries"][1])))
    result = chain.verify(tmp_path)
    assert codes(result) == ["duplicate-action", "manifest-root-mismatch", "mint-amount-mismatch"]
    dup = next(f for f in result.findings if f.code == "duplicate-action")
    assert (dup.action_id, dup.batch_id) == ("act-2", batch_id(1))


def test_a_duplicated_manifest_names_the_batch_and_both_files(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.export(tmp_path)
    original = manifest_path(tmp_path, 1)
    copy = original.with_name("copy.json")
    shutil.copy(original, copy)
    result = chain.verify(tmp_path)
    assert codes(result) == ["duplicate-batch-id", "manifest-misplaced"]
    dup = next(f for f in result.findings if f.code == "duplicate-batch-id")
    assert dup.batch_id == batch_id(1)
    assert sorted(dup.details["paths"]) == sorted([str(original), str(copy)])


def test_an_action_credited_in_two_batches(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.batch_mint(3, [("act-1", A, 100)])
    result = chain.verify(chain.export(tmp_path))
    assert codes(result) == ["duplicate-action"]
    assert result.findings[0].action_id == "act-1"
    assert sorted(result.findings[0].details["batches"]) == sorted([batch_id(1), batch_id(3)])


def test_one_action_may_credit_several_lines(chain: SyntheticChain, tmp_path: Path) -> None:
    # base points + a promotion bonus to the buyer, a referral bonus to the referrer, the rest in a later batch
    chain.batch_mint(3, [("buy-1", A, 10, "base"), ("buy-1", A, 5, "promo-7"), ("buy-1", B, 2, "referral")])
    chain.batch_mint(4, [("buy-1", C, 1, "referral-2")])
    result = chain.verify(chain.export(tmp_path))
    assert result.ok, result.findings


def test_a_stray_mint_is_unexplained(chain: SyntheticChain, tmp_path: Path) -> None:
    tx_hash = chain.mint(B, 42)
    result = chain.verify(chain.export(tmp_path))
    assert codes(result) == ["unexplained-mint"]
    f = result.findings[0]
    assert (f.tx_hash, f.wallet, f.details["amount"]) == (tx_hash, B, "42")


def test_a_mint_in_a_batch_transaction_after_its_batch_is_unexplained(chain: SyntheticChain, tmp_path: Path) -> None:
    # one transaction (a multicall) holding two batches and then a plain mint: only the mint is unexplained
    shared = "0x" + "77" * 32
    chain.batch_mint(3, [("act-6", A, 5)], tx_hash=shared)
    chain.batch_mint(4, [("act-7", B, 6)], tx_hash=shared)
    chain.history.transfers.append(TransferLog(chain.token, shared, 99, chain.block, ZERO_ADDRESS, C.lower(), 3))
    chain.history.total_supply += 3
    result = chain.verify(chain.export(tmp_path))
    assert codes(result) == ["unexplained-mint"]
    assert result.findings[0].wallet == C


def test_a_batch_without_manifest(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.export(tmp_path)
    manifest_path(tmp_path, 2).unlink()
    result = chain.verify(tmp_path)
    assert codes(result) == ["batch-without-manifest"]
    assert result.findings[0].batch_id == batch_id(2)


def test_a_manifest_never_minted_or_reorged_out(chain: SyntheticChain, tmp_path: Path) -> None:
    lost = chain.batch_mint(3, [("act-9", A, 1)])
    chain.history.batches.pop()  # the batch left the canonical chain ...
    chain.history.transfers.pop()
    chain.history.total_supply -= 1
    chain.history.onchain_roots[lost.batch_id] = "0x" + "00" * 32  # ... and its root is unset again
    result = chain.verify(chain.export(tmp_path))
    assert codes(result) == ["manifest-not-on-chain"]
    assert result.findings[0].batch_id == batch_id(3)


def test_manifests_beyond_the_audited_block_or_range_are_not_findings(chain: SyntheticChain, tmp_path: Path) -> None:
    later = chain.batch_mint(3, [("act-9", A, 1)])
    chain.history.batches.pop()
    chain.history.transfers.pop()
    chain.history.total_supply -= 1
    chain.history.onchain_roots[later.batch_id] = "0x" + "00" * 32
    chain.manifests[-1] = replace(later, block_number=chain.block + 100)
    result = chain.verify(chain.export(tmp_path))
    assert result.ok, result.findings
    assert any("after block" in n for n in result.notes)


def test_roots_are_checked_against_the_event_and_the_contract(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.export(tmp_path)
    chain.history.onchain_roots[batch_id(1)] = "0x" + "11" * 32
    edit_manifest(manifest_path(tmp_path, 2), lambda d: d.update(manifest_root="0x" + "22" * 32))
    result = chain.verify(tmp_path)
    assert codes(result) == ["manifest-declared-root-mismatch", "onchain-root-mismatch"]
    assert {f.batch_id for f in result.findings} == {batch_id(1), batch_id(2)}


def test_supply_mismatch_is_found_and_skipped_for_partial_ranges(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.export(tmp_path)
    chain.history.total_supply += 1  # e.g. a mint the logs do not show
    result = chain.verify(tmp_path)
    assert codes(result) == ["supply-mismatch"]
    assert result.findings[0].details == {"minted": "1158", "burned": "0", "total_supply": "1159"}
    chain.history.complete = False
    partial = chain.verify(tmp_path)
    assert partial.ok and any("supply not recomputed" in n for n in partial.notes)


def test_invalid_and_foreign_manifests(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.export(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    foreign = manifest_path(tmp_path, 1).read_text().replace(f'"chain_id": {CHAIN_ID}', '"chain_id": 137')
    (tmp_path / "137").mkdir()
    (tmp_path / "137" / "other.json").write_text(foreign)
    result = chain.verify(tmp_path)
    assert codes(result) == ["manifest-invalid"]
    assert result.findings[0].path == str(tmp_path / "broken.json")
    assert result.manifests_skipped == 1


def _mirror_of(chain: SyntheticChain, cursor: int | None = None) -> MirrorSnapshot:
    transfers = {(t.tx_hash, t.log_index): t for t in chain.history.transfers}
    balances: dict[tuple[str, str], int] = {}
    for t in chain.history.transfers:
        if not t.is_mint:
            balances[(t.token, t.from_addr)] = balances.get((t.token, t.from_addr), 0) - t.value
        if not t.is_burn:
            balances[(t.token, t.to_addr)] = balances.get((t.token, t.to_addr), 0) + t.value
    return MirrorSnapshot(chain.block if cursor is None else cursor, transfers, balances)


def test_a_faithful_mirror_passes(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.transfer(A, B, 10)
    result = chain.verify(chain.export(tmp_path), mirror=_mirror_of(chain))
    assert result.ok, result.findings
    assert result.mirror_checked_to == chain.block


def test_mirror_differences_are_named(chain: SyntheticChain, tmp_path: Path) -> None:
    chain.transfer(A, B, 10)
    mirror = _mirror_of(chain)
    first, second = sorted(mirror.transfers)[:2]
    del mirror.transfers[first]
    t = mirror.transfers[second]
    mirror.transfers[second] = TransferLog(t.token, t.tx_hash, t.log_index, t.block_number, t.from_addr, t.to_addr, 1)
    extra = TransferLog(chain.token, "0x" + "99" * 32, 0, chain.block, A.lower(), C.lower(), 3)
    mirror.transfers[(extra.tx_hash, 0)] = extra
    mirror.balances[(chain.token, C.lower())] += 3
    result = chain.verify(chain.export(tmp_path), mirror=mirror)
    assert codes(result) == [
        "mirror-balance-mismatch",
        "mirror-transfer-extra",
        "mirror-transfer-mismatch",
        "mirror-transfer-missing",
    ]
    assert next(f for f in result.findings if f.code == "mirror-transfer-missing").tx_hash == first[0]
    assert next(f for f in result.findings if f.code == "mirror-balance-mismatch").wallet == C


def test_a_lagging_mirror_is_compared_up_to_its_cursor(chain: SyntheticChain, tmp_path: Path) -> None:
    lag_block = chain.block
    mirror = _mirror_of(chain)
    chain.transfer(A, B, 10)  # not indexed yet
    result = chain.verify(chain.export(tmp_path), mirror=mirror)
    assert result.ok, result.findings
    assert result.mirror_checked_to == lag_block


def test_an_empty_mirror_is_a_finding(chain: SyntheticChain, tmp_path: Path) -> None:
    result = chain.verify(chain.export(tmp_path), mirror=MirrorSnapshot(None, {}, {}))
    assert codes(result) == ["mirror-not-indexed"]
