"""One audit run: read the chain and the manifests (and the mirror), check, render and write the report.

The `loyalty audit verify` command and the embedded demo both run it. Exit codes: 0 = no findings, 1 = findings,
2 = bad usage, 3 = the audit could not run.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from backend.audit.chain_reader import ChainReader, JsonRpc
from backend.audit.errors import AuditUsageError, ChainReadError
from backend.audit.manifest_file import load_manifests, manifest_root
from backend.audit.records import MirrorSnapshot
from backend.audit.report import render, write_json
from backend.audit.verifier import verify as run_checks
from backend.domain.addresses import InvalidAddress, parse_address

EXIT_FINDINGS, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3


def address_option(value: str, option: str) -> str:
    """An address given on the command line, lower-cased; a bad one (or a wrong checksum) is a usage error."""
    try:
        return parse_address(value).lower()
    except InvalidAddress as exc:  # a wrong checksum too: the auditor typed another address than meant
        raise AuditUsageError(f"{option} {value[:50]!r}: {exc.detail}") from exc


def _progress(console: Console) -> Progress:
    # NOTE: no bar when stderr is not a terminal (CI logs, pipes): rich would print nothing useful there.
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )


def run_verification(
    rpc_url: str,
    manifests: Path,
    factory: str | None,
    tokens: list[str],
    from_block: int,
    to_block: str,
    mirror_db: str | None,
    json_path: Path | None,
    out: Console,
    err: Console,
) -> int:
    if not factory and not tokens:
        raise AuditUsageError("give --factory ADDR or at least one --token ADDR")
    factory_address = address_option(factory, "--factory") if factory else None  # refused before any I/O
    token_addresses = [address_option(token, "--token") for token in tokens]
    rpc = JsonRpc(rpc_url)
    try:
        reader = ChainReader(rpc)
        chain_id = reader.chain_id()
        # NOTE: the mirror is read before the chain head is fixed, so the chain always covers the mirror's cursor.
        mirror: MirrorSnapshot | None = None
        if mirror_db:
            from backend.audit.mirror_reader import read_mirror

            mirror = read_mirror(mirror_db, chain_id)
        last = reader.resolve_block(to_block)
        last_hash = reader.block_hash(last)
        if from_block > last:
            raise AuditUsageError(f"--from-block {from_block} is after the last block {last}")
        audited: dict[str, int | None] = {}
        if factory_address:
            audited.update(reader.factory_tokens(factory_address, from_block, last))
        for token in token_addresses:
            audited.setdefault(token, None)
        good, bad = load_manifests(manifests)
        batch_ids: dict[str, list[str]] = defaultdict(list)
        for mf in good:
            if mf.manifest.chain_id == chain_id:
                batch_ids[mf.manifest.token.lower()].append(mf.manifest.batch_id)
        with _progress(err) as progress:
            task = progress.add_task("reading logs", total=last - from_block + 1)
            snapshot = reader.snapshot(
                audited, from_block, last, batch_ids, progress=lambda n: progress.advance(task, n)
            )
        if reader.block_hash(last) != last_hash:
            # NOTE: logs and eth_calls read at a block number mix two chains if that block is replaced meanwhile.
            raise ChainReadError(
                f"block {last} was reorganized during the audit; run again, or audit up to --to-block finalized"
            )
        result = run_checks(snapshot, good, manifest_root, invalid=bad, mirror=mirror)
    finally:
        rpc.close()
    render(result, out)
    if json_path is not None:
        write_json(result, json_path, to_block_hash=last_hash, rpc_url=_redact(rpc_url), manifests=str(manifests))
    return EXIT_FINDINGS if result.findings else 0


def _redact(url: str) -> str:
    """Provider URLs often embed an API key in the path or query; keep only scheme and host in reports."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
