"""Batch manifest files: what an auditor needs, besides an RPC URL, to explain every minted token.

Format (version 1, stable; a breaking change gets a new `version`). One UTF-8 JSON file per batch at
`<dir>/<chain_id>/<token>/<batch_id>.json` (`token` checksummed, `batch_id` lowercase 0x-hex)::

    {
      "format": "loyalty-batch-manifest",
      "version": 1,
      "chain_id": 137,                      # EIP-155 chain id
      "token": "0xAbC…",                     # checksummed ERC-20 address that minted the batch
      "batch_id": "0x…",                     # bytes32 passed to batchMint (lowercase 0x-hex, 64 digits)
      "manifest_root": "0x…",                # the Merkle root passed to batchMint (as computed by the exporter)
      "tx_hash": "0x…" | null,               # the mined batchMint transaction (null: not mined when exported)
      "block_number": 123 | null,            # its block
      "entries": [                           # one line per credit (an action may have several), any order
        {"action_id": "ord-42", "wallet": "0xAbC…", "amount": "1000000000000000000", "rule_id": "r1" | null}
      ]
    }

`amount` is a decimal string of token base units (> 0, < 2^96: batchMint packs amounts in 96 bits); `wallet`
is checksummed and non-zero; `action_id` is the action's public id (1–64 printable characters). One action may
credit several lines (one per rule and wallet: base points + a promotion bonus, both sides of a referral), but a
line (action_id, rule_id, wallet) is credited once per token, across all manifests. Manifests carry NO personal
data: no customer ids, e-mails or names — wallets and amounts are public on chain anyway, and an action id is an
opaque public reference.

Merkle tree (the same definition as the minting pipeline, `backend.domain.merkle`; OpenZeppelin
StandardMerkleTree, sorted pairs): leaf = keccak256(bytes.concat(keccak256(abi.encode(bytes32
keccak256(utf8 action_id), address wallet, uint256 amount)))), so a proof checks with the token's
`verifyManifestLeaf(batchId, leaf, proof)`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import is_hex_address

from backend.audit.errors import AuditError
from backend.audit.records import checksum
from backend.domain.manifest import leaf_hash
from backend.domain.merkle import MerkleTree
from backend.domain.shared_mint import run_leaf
from backend.errors import InvalidInput

FORMAT = "loyalty-batch-manifest"
VERSION = 1
MAX_AMOUNT = 2**96 - 1  # batchMint packs each amount into 96 bits
_BYTES32 = re.compile(r"^0x[0-9a-f]{64}$")
_ACTION_ID = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$")
_TOP_KEYS = {
    "format",
    "version",
    "chain_id",
    "token",
    "batch_id",
    "manifest_root",
    "tx_hash",
    "block_number",
    "entries",
}
_ENTRY_KEYS = {"action_id", "wallet", "amount", "rule_id"}


class ManifestFormatError(AuditError, InvalidInput):
    """A manifest file that does not follow the format above; the message names the field."""

    code = "invalid-manifest"
    title = "Invalid manifest file"


@dataclass(frozen=True)
class ManifestEntry:
    action_id: str
    wallet: str  # checksummed
    amount: int  # base units
    rule_id: str | None = None


@dataclass(frozen=True)
class Manifest:
    chain_id: int
    token: str  # checksummed
    batch_id: str  # lowercase 0x-hex bytes32
    manifest_root: str  # lowercase 0x-hex bytes32
    entries: tuple[ManifestEntry, ...]
    tx_hash: str | None = None
    block_number: int | None = None

    def relative_path(self) -> Path:
        return Path(str(self.chain_id)) / self.token / f"{self.batch_id}.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "chain_id": self.chain_id,
            "token": self.token,
            "batch_id": self.batch_id,
            "manifest_root": self.manifest_root,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "entries": [
                {"action_id": e.action_id, "wallet": e.wallet, "amount": str(e.amount), "rule_id": e.rule_id}
                for e in self.entries
            ],
        }


@dataclass(frozen=True)
class ManifestFile:
    """A manifest as read from disk, with where it was found (findings name the file)."""

    path: Path
    manifest: Manifest

    @property
    def misplaced(self) -> bool:
        """True when the file's location does not say what its content says (e.g. a copied file)."""
        expected = self.manifest.relative_path().parts
        return tuple(self.path.parts[-3:]) != expected


def entry_leaf(entry: ManifestEntry) -> bytes:
    return leaf_hash(entry.action_id, entry.wallet, entry.amount)


def manifest_tree(entries: Sequence[ManifestEntry]) -> MerkleTree:
    """The batch's Merkle tree, built by the minting pipeline's own code (one definition of the leaf and tree)."""
    return MerkleTree([entry_leaf(e) for e in entries])


def manifest_root(entries: Sequence[ManifestEntry]) -> str:
    return "0x" + manifest_tree(entries).root.hex()


def run_root(batches: Sequence[tuple[str, str, str]]) -> str:
    """A shared run's root over its (token, batch id, manifest root) triples, by the minting pipeline's own code."""
    leaves = [run_leaf(token, bytes.fromhex(b[2:]), bytes.fromhex(r[2:])) for token, b, r in batches]
    return "0x" + MerkleTree(leaves).root.hex()


def _bytes32(value: Any, field: str, *, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not _BYTES32.match(value.lower()):
        raise ManifestFormatError(f"{field} must be a 0x-prefixed 32-byte hex string, got {value!r}")
    return value.lower()


def _address(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or not is_hex_address(value) or int(value, 16) == 0:
        raise ManifestFormatError(f"{field} must be a non-zero 20-byte hex address, got {value!r}")
    address = checksum(value.lower())
    body = value[2:]
    if body != body.lower() and body != body.upper() and value != address:  # mixed case = EIP-55, must match
        raise ManifestFormatError(f"{field} has a wrong checksum: {value!r}")
    return address


def _int(value: Any, field: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ManifestFormatError(f"{field} must be an integer ≥ {minimum}, got {value!r}")
    return value


def _entry(raw: Any, index: int) -> ManifestEntry:
    where = f"entries[{index}]"
    if not isinstance(raw, dict):
        raise ManifestFormatError(f"{where} must be an object")
    if missing := {"action_id", "wallet", "amount"} - raw.keys():
        raise ManifestFormatError(f"{where} lacks {', '.join(sorted(missing))}")
    if extra := raw.keys() - _ENTRY_KEYS:
        # NOTE: unknown keys are refused so that personal data cannot ride along unnoticed.
        raise ManifestFormatError(f"{where} has unknown keys {', '.join(sorted(extra))}")
    action_id = raw["action_id"]
    if not isinstance(action_id, str) or not _ACTION_ID.match(action_id):
        raise ManifestFormatError(f"{where}.action_id must be 1-64 printable ASCII characters, got {action_id!r}")
    amount = raw["amount"]
    if not isinstance(amount, str) or not amount.isdigit() or amount != str(int(amount)):
        raise ManifestFormatError(f"{where}.amount must be a decimal string of base units, got {amount!r}")
    if not 0 < int(amount) <= MAX_AMOUNT:
        raise ManifestFormatError(f"{where}.amount must be in 1..2^96-1, got {amount}")
    rule_id = raw.get("rule_id")
    if rule_id is not None and (not isinstance(rule_id, str) or len(rule_id) > 64):
        raise ManifestFormatError(f"{where}.rule_id must be null or a string of at most 64 characters")
    return ManifestEntry(action_id, _address(raw["wallet"], f"{where}.wallet"), int(amount), rule_id)


def parse_manifest(raw: Any) -> Manifest:
    """Validate a decoded JSON document against the format; raises `ManifestFormatError` naming the field."""
    if not isinstance(raw, dict):
        raise ManifestFormatError("a manifest must be a JSON object")
    if raw.get("format") != FORMAT:
        raise ManifestFormatError(f"format must be {FORMAT!r}, got {raw.get('format')!r}")
    if raw.get("version") != VERSION:
        raise ManifestFormatError(f"unsupported version {raw.get('version')!r} (this reader knows {VERSION})")
    if missing := _TOP_KEYS - raw.keys():
        raise ManifestFormatError(f"missing keys: {', '.join(sorted(missing))}")
    if extra := raw.keys() - _TOP_KEYS:
        raise ManifestFormatError(f"unknown keys: {', '.join(sorted(extra))}")
    entries = raw["entries"]
    if not isinstance(entries, list) or not entries:
        raise ManifestFormatError("entries must be a non-empty list")
    block = raw["block_number"]
    return Manifest(
        chain_id=_int(raw["chain_id"], "chain_id", minimum=1),
        token=_address(raw["token"], "token"),
        batch_id=str(_bytes32(raw["batch_id"], "batch_id")),
        manifest_root=str(_bytes32(raw["manifest_root"], "manifest_root")),
        tx_hash=_bytes32(raw["tx_hash"], "tx_hash", nullable=True),
        block_number=None if block is None else _int(block, "block_number"),
        entries=tuple(_entry(e, i) for i, e in enumerate(entries)),
    )


def read_manifest(path: Path) -> ManifestFile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestFormatError(f"not a readable JSON file: {exc}") from exc
    return ManifestFile(path, parse_manifest(raw))


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write `manifest` under `root` at its canonical path, atomically (a reader never sees half a file)."""
    path = root / manifest.relative_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(manifest.to_json(), out, indent=1)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def iter_manifest_paths(root: Path) -> Iterator[Path]:
    """Every `*.json` under `root` (sorted, hidden temp files skipped), wherever it sits."""
    for path in sorted(root.rglob("*.json")):
        if not path.name.startswith("."):
            yield path


def load_manifests(root: Path) -> tuple[list[ManifestFile], list[tuple[Path, str]]]:
    """All manifests under `root`, and the files that are not valid manifests (path, reason)."""
    good: list[ManifestFile] = []
    bad: list[tuple[Path, str]] = []
    for path in iter_manifest_paths(root):
        try:
            good.append(read_manifest(path))
        except ManifestFormatError as exc:
            bad.append((path, str(exc)))
    return good, bad
