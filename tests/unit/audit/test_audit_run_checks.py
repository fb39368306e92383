"""The shared-run check on synthetic records: a run's RunMinted must match the batches its transaction holds."""

from __future__ import annotations

from backend.audit.manifest_file import run_root
from backend.audit.records import BatchMintedLog, ChainSnapshot, RunMintedLog, SharedRun
from backend.audit.run_check import RunCheck
from backend.audit.run_reader import RUN_MINTED, decode_run

TX = "0x" + "aa" * 32
MINTER = "0x" + "cc" * 20


def batch(n: int) -> BatchMintedLog:
    return BatchMintedLog("0x" + f"{n:040x}", TX, n, 7, "0x" + f"{n:064x}", "0x" + f"{n + 100:064x}", 1, 5)


def run(batches: list[BatchMintedLog], declared: int, root: str | None = None) -> tuple[list[str], RunCheck]:
    leaves = [(b.token, b.batch_id, b.manifest_root) for b in batches]
    event = RunMintedLog(MINTER, TX, 99, 7, 3, root or run_root(leaves), declared)
    found: list[str] = []
    chain = ChainSnapshot(1, 0, 10, {}, {TX: SharedRun(event, batches)})
    check = RunCheck(chain, lambda code, message, **where: found.append(code), run_root)
    check.run()
    return found, check


def test_a_run_that_matches_its_batches_has_no_findings_and_covers_each_batch() -> None:
    found, check = run([batch(1), batch(2)], 2)
    assert found == []
    assert check.covers(batch(1)) and not check.covers(batch(3))


def test_a_run_that_declares_another_count_or_another_root_is_named() -> None:
    assert run([batch(1), batch(2)], 3)[0] == ["run-batch-count-mismatch"]
    assert run([batch(1)], 1, root="0x" + "11" * 32)[0] == ["run-root-mismatch"]


def test_run_minted_logs_are_decoded_and_other_shapes_ignored() -> None:
    raw = {
        "address": MINTER,
        "topics": [RUN_MINTED, "0x" + f"{3:064x}"],
        "data": "0x" + "ab" * 32 + f"{2:064x}",
        "transactionHash": TX,
        "logIndex": "0x5",
        "blockNumber": "0x7",
    }
    event = decode_run(raw)
    assert event is not None and (event.run_id, event.run_root, event.batches) == (3, "0x" + "ab" * 32, 2)
    assert decode_run({**raw, "topics": raw["topics"][:1]}) is None
    assert decode_run({**raw, "removed": True}) is None
