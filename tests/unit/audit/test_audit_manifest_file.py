"""Manifest files: a stable, strict format that round-trips and refuses anything else (personal data included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address

from backend.audit.manifest_file import (
    Manifest,
    ManifestEntry,
    ManifestFormatError,
    load_manifests,
    parse_manifest,
    read_manifest,
    write_manifest,
)
from backend.audit.records import checksum
from tests.unit.audit.synthetic_chain import CHAIN_ID, TOKEN, batch_id, wallet

ROOT = "0x" + "ab" * 32


def sample() -> Manifest:
    entries = (ManifestEntry("act-1", wallet(1), 10**18, "welcome"), ManifestEntry("act-2", wallet(2), 5, None))
    return Manifest(CHAIN_ID, TOKEN, batch_id(1), ROOT, entries, "0x" + "cd" * 32, 12)


def doc(**changes: Any) -> dict[str, Any]:
    d = sample().to_json()
    d.update(changes)
    return d


def test_round_trip_at_the_canonical_path(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, sample())
    assert path == tmp_path / str(CHAIN_ID) / TOKEN / f"{batch_id(1)}.json"
    raw = json.loads(path.read_text())
    assert raw["entries"][0] == {"action_id": "act-1", "wallet": wallet(1), "amount": str(10**18), "rule_id": "welcome"}
    loaded = read_manifest(path)
    assert loaded.manifest == sample() and not loaded.misplaced
    assert [p.name for p in tmp_path.rglob("*")] == [str(CHAIN_ID), TOKEN, f"{batch_id(1)}.json"]  # no temp files


def test_an_unminted_batch_has_no_transaction() -> None:
    m = parse_manifest(doc(tx_hash=None, block_number=None))
    assert (m.tx_hash, m.block_number) == (None, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "unsupported version"),
        ({"format": "csv"}, "format must be"),
        ({"customer_email": "a@b.c"}, "unknown keys: customer_email"),
        ({"entries": []}, "entries must be a non-empty list"),
        ({"batch_id": "0x1234"}, "batch_id must be"),
        ({"token": "0x" + "00" * 20}, "token must be a non-zero"),
        ({"chain_id": "137"}, "chain_id must be an integer"),
    ],
)
def test_header_violations_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestFormatError, match=message):
        parse_manifest(doc(**change))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"email": "shopper@example.com"}, r"entries\[0\] has unknown keys email"),
        ({"customer_id": 7}, "unknown keys customer_id"),
        ({"amount": 5}, "amount must be a decimal string"),
        ({"amount": "1.5"}, "amount must be a decimal string"),
        ({"amount": "007"}, "amount must be a decimal string"),
        ({"amount": "0"}, r"amount must be in 1..2\^96-1"),
        ({"amount": str(2**96)}, r"amount must be in 1..2\^96-1"),
        ({"wallet": wallet(1).replace("0x", "0X")}, "wallet must be"),
        ({"wallet": "0x" + TOKEN[2:].swapcase()}, "wrong checksum"),
        ({"action_id": ""}, "action_id must be"),
        ({"action_id": "x" * 65}, "action_id must be"),
    ],
)
def test_entry_violations_are_named(entry: dict[str, Any], message: str) -> None:
    d = doc()
    d["entries"][0].update(entry)
    with pytest.raises(ManifestFormatError, match=message):
        parse_manifest(d)


def test_single_case_addresses_are_accepted_and_checksummed() -> None:
    d = doc(token=TOKEN.lower())
    d["entries"][0]["wallet"] = wallet(1).lower()
    d["entries"][1]["wallet"] = "0x" + wallet(2)[2:].upper()
    m = parse_manifest(d)
    assert m.token == TOKEN and m.entries[0].wallet == wallet(1) and m.entries[1].wallet == wallet(2)


def test_loading_a_directory_separates_invalid_files(tmp_path: Path) -> None:
    write_manifest(tmp_path, sample())
    (tmp_path / "notes.json").write_text("[1, 2]")
    good, bad = load_manifests(tmp_path)
    assert len(good) == 1
    assert bad == [(tmp_path / "notes.json", "a manifest must be a JSON object")]


@pytest.mark.parametrize("n", [1, 0xABCDEF, 2**160 - 1, 0x52908400098527886E0F7030069857D2E4169EE7])
def test_checksums_match_eip55(n: int) -> None:
    address = f"0x{n:040x}"
    assert checksum(address) == to_checksum_address(address)
