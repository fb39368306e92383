"""`loyalty audit verify` on batches credited through the shared LoyaltyMinter: a run's batches are explained by
their manifests and the run root; a batch credited outside any run, or a run root that does not match, is named."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from backend.adapters.chain.transactions import send_and_wait
from backend.audit.manifest_file import Manifest, ManifestEntry, manifest_root, write_manifest
from backend.domain.manifest import TransferEntry, encode_entries
from backend.domain.shared_mint import MINT_MANY_SELECTOR, RunBatch, mint_many_calldata
from tests.integration.audit.conftest import Platform, verify

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("audit-anvil")]


@pytest.fixture
def chain_snapshot(platform: Platform) -> Iterator[None]:
    snapshot = platform.node.snapshot()
    yield
    platform.node.revert(snapshot)


def _batch(token: str, tag: str, lines: list[tuple[str, str, int]]) -> tuple[RunBatch, tuple[ManifestEntry, ...]]:
    entries = tuple(ManifestEntry(action, wallet, amount, "rule-1") for action, wallet, amount in lines)
    root = bytes.fromhex(manifest_root(entries)[2:])
    packed = encode_entries(TransferEntry(e.wallet, e.amount) for e in entries)
    return RunBatch(token, keccak(text=f"shared-{tag}"), root, packed), entries


def _record(p: Platform, root: Path, batch: RunBatch, entries: tuple[ManifestEntry, ...], receipt: Any) -> None:
    manifest = Manifest(
        p.container.chain.chain_id,
        batch.token,
        "0x" + batch.batch_id.hex(),
        "0x" + batch.manifest_root.hex(),
        entries,
        receipt["transactionHash"].to_0x_hex(),
        receipt["blockNumber"],
    )
    write_manifest(root, manifest)


def _send(p: Platform, to: str, data: bytes) -> Any:
    return send_and_wait(p.container.chain, p.minter, {"to": to, "data": data})


def _manifests(p: Platform, tmp_path: Path) -> Path:
    root = tmp_path / "manifests"
    shutil.copytree(p.manifests, root)
    return root


def test_a_shared_run_is_explained_by_its_manifests_and_its_run_root(
    platform: Platform, chain_snapshot: None, tmp_path: Path
) -> None:
    p = platform
    w5, w6 = p.holders[0].address, p.holders[1].address
    contracts = p.container.contracts
    assert contracts is not None
    coalition = _batch(p.coalition, "c", [("run-1", w5, 4), ("run-2", w6, 6), ("run-3", w5, 1)])
    brand = _batch(p.brand_token, "b", [("run-4", w6, 9)])
    receipt = _send(p, contracts.minter.address, mint_many_calldata(0, [coalition[0], brand[0]]))
    root = _manifests(p, tmp_path)
    for batch, entries in (coalition, brand):
        _record(p, root, batch, entries, receipt)
    report = verify(p, root, tmp_path)
    assert report["exit_code"] == 0, report["output"]
    assert report["summary"]["batches"] == 5

    # a tampered manifest of a run's batch is still caught by its own root
    (path,) = root.rglob(f"0x{brand[0].batch_id.hex()}.json")
    path.write_text(path.read_text().replace('"9"', '"8"'))
    assert "manifest-root-mismatch" in {f["code"] for f in verify(p, root, tmp_path)["findings"]}


def test_a_batch_outside_any_run_and_a_wrong_run_root_are_named(
    platform: Platform, chain_snapshot: None, tmp_path: Path
) -> None:
    p = platform
    contracts = p.container.contracts
    assert contracts is not None
    root = _manifests(p, tmp_path)
    # a hot wallet (MINTER_ROLE on the token) credits a batch itself: no batchManifestRoot, no run
    lone, lone_entries = _batch(p.brand_token, "lone", [("lone-1", p.holders[2].address, 3)])
    call = p.token(p.brand_token).functions.creditBatch(lone.batch_id, lone.manifest_root, lone.entries)
    _record(p, root, lone, lone_entries, _send(p, p.brand_token, call._encode_transaction_data()))
    # a run whose RunMinted commits a root its batches do not hash to
    forged, forged_entries = _batch(p.coalition, "forged", [("forged-1", p.holders[3].address, 2)])
    good = mint_many_calldata(1, [forged])
    wrong_root = good[:36] + keccak(text="not the run root") + good[68:]
    assert good[:4] == MINT_MANY_SELECTOR
    _record(p, root, forged, forged_entries, _send(p, contracts.minter.address, wrong_root))
    findings = verify(p, root, tmp_path)["findings"]
    assert {(f["code"], f.get("batch_id")) for f in findings if f["code"] == "onchain-root-mismatch"} == {
        ("onchain-root-mismatch", "0x" + lone.batch_id.hex())
    }
    (run,) = [f for f in findings if f["code"] == "run-root-mismatch"]
    assert run["details"]["run_id"] == 1
    assert len(findings) == 2, findings
