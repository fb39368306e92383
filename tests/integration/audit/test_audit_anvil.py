"""`loyalty audit` against a real anvil node: a clean history passes; every tampering fails with a named finding."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backend.audit.manifest_file import Manifest, ManifestEntry, write_manifest
from backend.entrypoints.cli.main import app
from devtools.flaky_rpc import Faults, FlakyRpc
from tests.integration.audit.conftest import Platform, cli, verify
from tests.integration.audit.history import batch_mint

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("audit-anvil")]


@pytest.fixture
def chain_snapshot(platform: Platform) -> Iterator[None]:
    """Tests that add transactions roll the node back afterwards."""
    snapshot = platform.node.snapshot()
    yield
    platform.node.revert(snapshot)


def manifest_of(p: Platform, root: Path, n: int) -> Path:
    batch = p.batches[n]
    return next(root.rglob(f"{batch.batch_id}.json"))


def copy_manifests(p: Platform, tmp_path: Path) -> Path:
    target = tmp_path / "manifests"
    shutil.copytree(p.manifests, target)
    return target


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=1))


def findings(report: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["code"] == code]


def test_exported_manifests_explain_the_whole_chain(platform: Platform, tmp_path: Path) -> None:
    files = sorted(platform.manifests.rglob("*.json"))
    assert len(files) == 3
    doc = json.loads(manifest_of(platform, platform.manifests, 0).read_text())
    assert doc["tx_hash"] == platform.batches[0].tx_hash and doc["manifest_root"] == platform.batches[0].root
    assert {e["action_id"] for e in doc["entries"]} == {"order-1", "order-2", "order-3"}
    assert not any(k in json.dumps(doc) for k in ("email", "customer"))

    report = verify(platform, platform.manifests, tmp_path)
    assert report["exit_code"] == 0, report["output"]
    assert report["ok"] is True and report["findings"] == []
    assert report["summary"]["tokens"] == 2 and report["summary"]["batches"] == 3 and report["summary"]["actions"] == 6
    coalition = next(t for t in report["tokens"] if t["address"] == platform.coalition)
    assert coalition["minted"] == str(10**18 + 5 + 7 + 42 + 1) and coalition["burned"] == "2"
    assert coalition["total_supply"] == str(10**18 + 5 + 7 + 42 + 1 - 2)
    assert "OK" in report["output"]


def test_explicit_tokens_and_the_mirror_database(platform: Platform, tmp_path: Path) -> None:
    report = verify(
        platform, platform.manifests, tmp_path, "--token", platform.coalition, "--mirror-db", platform.db_url
    )
    assert report["exit_code"] == 0, report["output"]
    assert report["summary"]["mirror_checked_to_block"] is not None


def test_an_altered_amount_is_named(platform: Platform, tmp_path: Path) -> None:
    root = copy_manifests(platform, tmp_path)
    edit(manifest_of(platform, root, 1), lambda d: d["entries"][0].update(amount="43"))  # ref-1: 42 → 43
    report = verify(platform, root, tmp_path)
    assert report["exit_code"] == 1
    assert report["summary"]["by_code"] == {"manifest-root-mismatch": 1, "mint-amount-mismatch": 1}
    (mismatch,) = findings(report, "mint-amount-mismatch")
    assert mismatch["batch_id"] == platform.batches[1].batch_id and mismatch["action_id"] == "ref-1"
    assert mismatch["wallet"] == platform.holders[2].address
    assert "mint-amount-mismatch" in report["output"] and "FAILED" in report["output"]


def test_a_dropped_line_is_named(platform: Platform, tmp_path: Path) -> None:
    root = copy_manifests(platform, tmp_path)
    edit(manifest_of(platform, root, 0), lambda d: d["entries"].pop(1))  # order-2 (wallet 6, 5 units)
    report = verify(platform, root, tmp_path)
    assert report["summary"]["by_code"] == {"manifest-root-mismatch": 1, "mint-amount-mismatch": 1}
    (mismatch,) = findings(report, "mint-amount-mismatch")
    assert mismatch["wallet"] == platform.holders[1].address
    assert mismatch["details"] == {"on_chain": "5", "manifest": "0", "actions": []}


def test_a_duplicated_line_is_named(platform: Platform, tmp_path: Path) -> None:
    root = copy_manifests(platform, tmp_path)
    edit(manifest_of(platform, root, 0), lambda d: d["entries"].append(dict(d["entries"][2])))  # order-3 twice
    report = verify(platform, root, tmp_path)
    assert report["exit_code"] == 1
    (dup,) = findings(report, "duplicate-action")
    assert dup["action_id"] == "order-3" and dup["batch_id"] == platform.batches[0].batch_id
    assert set(report["summary"]["by_code"]) == {"duplicate-action", "manifest-root-mismatch", "mint-amount-mismatch"}


def test_a_duplicated_manifest_is_named(platform: Platform, tmp_path: Path) -> None:
    root = copy_manifests(platform, tmp_path)
    original = manifest_of(platform, root, 2)
    shutil.copy(original, original.parent / "copy-of-batch-3.json")
    report = verify(platform, root, tmp_path)
    assert report["exit_code"] == 1
    (dup,) = findings(report, "duplicate-batch-id")
    assert dup["batch_id"] == platform.batches[2].batch_id and dup["token"] == platform.brand_token
    assert set(report["summary"]["by_code"]) == {"duplicate-batch-id", "manifest-misplaced"}


def test_a_missing_manifest_is_named(platform: Platform, tmp_path: Path) -> None:
    root = copy_manifests(platform, tmp_path)
    manifest_of(platform, root, 1).unlink()
    report = verify(platform, root, tmp_path)
    (missing,) = findings(report, "batch-without-manifest")
    assert missing["batch_id"] == platform.batches[1].batch_id and missing["tx_hash"] == platform.batches[1].tx_hash


@pytest.mark.usefixtures("chain_snapshot")
def test_a_stray_mint_is_unexplained(platform: Platform, tmp_path: Path) -> None:
    receiver = platform.holders[3].address
    sent = platform.send(
        platform.minter, platform.coalition, platform.token(platform.coalition).functions.mint(receiver, 9)
    )
    report = verify(platform, platform.manifests, tmp_path)
    assert report["exit_code"] == 1
    assert report["summary"]["by_code"] == {"unexplained-mint": 1}
    (stray,) = report["findings"]
    assert (stray["tx_hash"], stray["wallet"], stray["token"]) == (sent["tx_hash"], receiver, platform.coalition)


@pytest.mark.usefixtures("chain_snapshot")
def test_a_reorged_out_batch_leaves_its_manifest_unexplained(platform: Platform, tmp_path: Path) -> None:
    root = copy_manifests(platform, tmp_path)
    wallet = platform.holders[0].address
    lost = batch_mint(platform.container, platform.brand_token, "reorged", [("scan-9", wallet, 4)], record=False)
    manifest = Manifest(
        platform.container.chain.chain_id,
        platform.brand_token,
        lost.batch_id,
        lost.root,
        (ManifestEntry("scan-9", wallet, 4, "rule-1"),),
        lost.tx_hash,
        lost.block_number,
    )
    write_manifest(root, manifest)
    assert verify(platform, root, tmp_path)["exit_code"] == 0
    platform.node.reorg(1)  # the batch's block leaves the canonical chain
    report = verify(platform, root, tmp_path)
    assert report["summary"]["by_code"] == {"manifest-not-on-chain": 1}
    assert report["findings"][0]["batch_id"] == lost.batch_id


def test_a_manifest_no_batch_ever_had(platform: Platform, tmp_path: Path) -> None:
    root = copy_manifests(platform, tmp_path)
    doc = json.loads(manifest_of(platform, root, 2).read_text())
    doc.update(batch_id="0x" + "ee" * 32, tx_hash=None, block_number=None)
    doc["entries"][0]["action_id"] = "scan-never"
    (manifest_of(platform, root, 2).parent / f"{doc['batch_id']}.json").write_text(json.dumps(doc))
    report = verify(platform, root, tmp_path)
    assert report["summary"]["by_code"] == {"manifest-not-on-chain": 1}


def test_the_mirror_is_compared_transfer_by_transfer(platform: Platform, tmp_path: Path) -> None:
    copy = tmp_path / "mirror.db"
    src = sqlite3.connect(platform.db_url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    w8 = platform.holders[3].address.lower()
    dropped = dst.execute(
        "SELECT tx_hash, log_index FROM idx_transfers WHERE to_addr = ? AND from_addr != ?", (w8, "0x" + "0" * 40)
    ).fetchone()
    dst.execute("UPDATE idx_balances SET balance = '11' WHERE wallet = ?", (w8,))
    dst.execute("DELETE FROM idx_transfers WHERE tx_hash = ? AND log_index = ?", dropped)
    dst.commit()
    dst.close()
    report = verify(platform, platform.manifests, tmp_path, "--mirror-db", f"sqlite:///{copy}")
    assert report["summary"]["by_code"] == {"mirror-balance-mismatch": 1, "mirror-transfer-missing": 1}
    assert findings(report, "mirror-transfer-missing")[0]["tx_hash"] == dropped[0]
    assert findings(report, "mirror-balance-mismatch")[0]["wallet"] == platform.holders[3].address


def test_a_flaky_provider_with_a_range_limit_gives_the_same_verdict(platform: Platform, tmp_path: Path) -> None:
    faults = Faults(max_log_range=3, error_rate=0.1, http_error_rate=0.1, drop_rate=0.05, seed=11)
    with FlakyRpc(platform.node.url, faults) as proxy:
        report = verify(platform, platform.manifests, tmp_path, rpc_url=proxy.url)
    assert report["exit_code"] == 0, report["output"]
    assert report["summary"]["batches"] == 3
    assert faults.counts.get("range", 0) > 0
    assert report["rpc_url"] == proxy.url  # no path or query (where provider keys live) in the report


@pytest.mark.usefixtures("chain_snapshot")
def test_a_reorg_during_the_audit_is_not_a_clean_audit(platform: Platform, tmp_path: Path) -> None:
    class ReorgOnFirstCall(FlakyRpc):
        done = False

        def handle(self, body: bytes) -> tuple[int, bytes]:
            if b"eth_call" in body and not self.done:
                self.done = True
                platform.node.reorg(1)  # the audited head block is replaced mid-audit
            return super().handle(body)

    platform.node.mine(1)  # an empty head to replace (the snapshot's own block must survive for the rollback)
    with ReorgOnFirstCall(platform.node.url) as proxy:
        code, output = cli(
            "audit", "verify", "--rpc-url", proxy.url, "--manifests", str(platform.manifests),
            "--factory", platform.factory,
        )  # fmt: skip
    assert code == 3 and "reorganized during the audit" in output


def test_an_unreachable_node_is_not_a_clean_audit(platform: Platform, tmp_path: Path) -> None:
    code, output = cli(
        "audit", "verify", "--rpc-url", "http://127.0.0.1:9", "--manifests", str(platform.manifests),
        "--factory", platform.factory,
    )  # fmt: skip
    assert code == 3 and "could not run" in output
    code, output = cli(
        "audit", "verify", "--rpc-url", platform.node.url, "--manifests", str(platform.manifests),
        "--factory", platform.factory, "--mirror-db", "sqlite:////nonexistent/dir/mirror.db",
    )  # fmt: skip
    assert code == 3 and "could not run" in output


def test_usage_errors(platform: Platform) -> None:
    code, output = cli("audit", "verify", "--rpc-url", platform.node.url, "--manifests", str(platform.manifests))
    assert code == 2 and "--factory" in output
    code, output = cli(
        "audit", "verify", "--rpc-url", platform.node.url, "--manifests", str(platform.manifests), "--token", "0x12"
    )
    assert code == 2 and "0x followed by 40 hex digits" in output
    code, output = cli(
        "audit", "verify", "--rpc-url", platform.node.url, "--manifests", str(platform.manifests),
        "--factory", platform.factory, "--to-block", "999999",
    )  # fmt: skip
    assert code == 2 and "beyond the node's head" in output


def test_the_json_report_can_go_to_stdout(platform: Platform) -> None:
    args = ["audit", "verify", "--rpc-url", platform.node.url, "--manifests", str(platform.manifests)]
    result = CliRunner().invoke(app, [*args, "--factory", platform.factory, "--json", "-"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True  # the table went to stderr


def test_a_second_export_rewrites_the_same_files(platform: Platform, tmp_path: Path) -> None:
    again = tmp_path / "again"
    code, _ = cli("audit", "export", "--out", str(again), "--database-url", platform.db_url)
    assert code == 0
    before = {p.relative_to(platform.manifests): p.read_bytes() for p in platform.manifests.rglob("*.json")}
    after = {p.relative_to(again): p.read_bytes() for p in again.rglob("*.json")}
    assert before == after


def test_export_filters_by_token_and_state(platform: Platform, tmp_path: Path) -> None:
    out = tmp_path / "brand"
    code, output = cli(
        "audit", "export", "--out", str(out), "--database-url", platform.db_url, "--token", platform.brand_token.lower()
    )  # fmt: skip
    assert code == 0 and "wrote 1 manifest file(s)" in output
    assert [p.name for p in out.rglob("*.json")] == [f"{platform.batches[2].batch_id}.json"]
    failed_only = ["--state", "failed"]
    code, output = cli("audit", "export", "--out", str(tmp_path / "x"), "--database-url", platform.db_url, *failed_only)
    assert code == 0 and "wrote 0 manifest file(s)" in output
