"""Audit results for people (rich tables) and for machines (a JSON document with every finding).

JSON report (`report_version` 1): `ok`, `chain_id`, `from_block`, `to_block`, `to_block_hash`, `rpc_url` (scheme and
host only), `manifests`, `summary` {tokens, manifests, manifests_skipped, actions, batches, findings, `by_code`
{code: count}, mirror_checked_to_block}, `tokens` [{address, mints, minted, burned, total_supply, batches,
manifests, complete_history}], `findings` [{code, message, token?, batch_id?, action_id?, tx_hash?, wallet?,
path?, details?}], `notes` (checks skipped and why). Amounts are decimal strings of base units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from backend.audit.verifier import AuditResult

REPORT_VERSION = 1
TABLE_LIMIT = 50  # findings shown in the terminal; the JSON report has all of them


def to_json(result: AuditResult, **context: Any) -> dict[str, Any]:
    return {
        "report_version": REPORT_VERSION,
        "ok": result.ok,
        "chain_id": result.chain_id,
        "from_block": result.from_block,
        "to_block": result.to_block,
        **context,
        "summary": {
            "tokens": len(result.tokens),
            "manifests": result.manifests_read,
            "manifests_skipped": result.manifests_skipped,
            "actions": result.actions,
            "batches": sum(t.batches for t in result.tokens.values()),
            "findings": len(result.findings),
            "by_code": dict(sorted(result.codes().items())),
            "mirror_checked_to_block": result.mirror_checked_to,
        },
        "tokens": [
            {
                "address": t.address,
                "mints": t.mints,
                "minted": str(t.minted),
                "burned": str(t.burned),
                "total_supply": str(t.total_supply),
                "batches": t.batches,
                "manifests": t.manifests,
                "complete_history": t.complete,
            }
            for t in result.tokens.values()
        ],
        "findings": [f.to_json() for f in result.findings],
        "notes": result.notes,
    }


def write_json(result: AuditResult, path: Path, **context: Any) -> None:
    text = json.dumps(to_json(result, **context), indent=2) + "\n"
    if str(path) == "-":
        print(text, end="")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _where(f: Any) -> str:
    parts = []
    if f.token:
        parts.append(f"token {f.token}")
    if f.batch_id:
        parts.append(f"batch {f.batch_id[:10]}…")
    if f.action_id:
        parts.append(f"action {f.action_id}")
    if f.wallet:
        parts.append(f"wallet {f.wallet}")
    if f.tx_hash and not f.batch_id:
        parts.append(f"tx {f.tx_hash[:10]}…")
    if f.path and not parts:
        parts.append(f.path)
    return "\n".join(parts)


def render(result: AuditResult, console: Console) -> None:
    tokens = Table(title=f"Chain {result.chain_id}, blocks {result.from_block}–{result.to_block}", expand=False)
    for col in ("token", "mints", "minted", "burned", "totalSupply", "batches", "manifests"):
        tokens.add_column(col, justify="left" if col == "token" else "right")
    for t in result.tokens.values():
        tokens.add_row(
            t.address,
            str(t.mints),
            str(t.minted),
            str(t.burned),
            str(t.total_supply),
            str(t.batches),
            str(t.manifests),
        )
    console.print(tokens)
    console.print(
        f"{result.manifests_read} manifest(s), {result.actions} action(s) checked"
        + (f"; mirror compared up to block {result.mirror_checked_to}" if result.mirror_checked_to is not None else "")
    )
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    if result.ok:
        console.print("[bold green]OK[/bold green]: every mint is explained by a manifest; no findings.")
        return
    findings = Table(title=f"{len(result.findings)} finding(s)", show_lines=True)
    findings.add_column("finding", style="bold red", no_wrap=True)
    findings.add_column("where")
    findings.add_column("detail")
    for f in result.findings[:TABLE_LIMIT]:
        findings.add_row(f.code, _where(f), f.message)
    console.print(findings)
    if len(result.findings) > TABLE_LIMIT:
        console.print(f"… and {len(result.findings) - TABLE_LIMIT} more (write them all with --json PATH)")
    counts = ", ".join(f"{code} × {n}" for code, n in sorted(result.codes().items()))
    console.print(f"[bold red]FAILED[/bold red]: {counts}")
