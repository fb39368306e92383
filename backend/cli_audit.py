"""`loyalty audit ...`: verify the chain against published manifest files; export manifests from the database.

Exit codes of `verify`: 0 = no findings, 1 = findings, 2 = bad usage, 3 = the audit could not run (node or mirror
database unreachable, chain reorganized mid-audit).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import SQLAlchemyError

from backend.audit.chain_reader import ChainReader, JsonRpc
from backend.audit.errors import AuditError, AuditUsageError, ChainReadError
from backend.audit.manifest_file import load_manifests, manifest_root
from backend.audit.records import MirrorSnapshot
from backend.audit.report import render, write_json
from backend.audit.verifier import verify as run_checks
from backend.domain.addresses import InvalidAddress, parse_address

audit_app = typer.Typer(
    help="Auditor toolkit: explain every minted token from the chain and published manifests.",
    no_args_is_help=True,
    add_completion=False,
)
EXIT_FINDINGS, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3


def _address(value: str, option: str) -> str:
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


@audit_app.command()
def verify(
    rpc_url: str = typer.Option(..., "--rpc-url", help="JSON-RPC URL of any node of the chain"),
    manifests: Path = typer.Option(
        ..., "--manifests", exists=True, file_okay=False, help="directory of exported manifest files"
    ),
    factory: str | None = typer.Option(None, "--factory", help="audit every token this factory created"),
    tokens: list[str] = typer.Option([], "--token", help="audit this token (repeatable)"),
    from_block: int = typer.Option(0, "--from-block", min=0, help="first block to read (0 = whole history)"),
    to_block: str = typer.Option("latest", "--to-block", help="last block: a number, latest, safe or finalized"),
    mirror_db: str | None = typer.Option(None, "--mirror-db", help="SQLAlchemy URL of the indexer's database"),
    json_path: Path | None = typer.Option(None, "--json", help="write the full JSON report here (- = stdout)"),
) -> None:
    """Check that every mint is explained by a manifest, nothing is minted twice, supplies add up (and the mirror)."""
    out = Console(file=sys.stderr if str(json_path) == "-" else sys.stdout)
    err = Console(stderr=True)
    try:
        code = _verify(rpc_url, manifests, factory, tokens, from_block, to_block, mirror_db, json_path, out, err)
    except ChainReadError as exc:
        err.print(f"[bold red]audit could not run[/bold red]: {exc.detail}")
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    except AuditError as exc:
        err.print(f"[bold red]error[/bold red]: {exc.detail}")
        raise typer.Exit(EXIT_USAGE) from exc
    except (SQLAlchemyError, OSError) as exc:
        # NOTE: exit 1 means "findings"; an audit that could not read its inputs must never look like one.
        err.print(f"[bold red]audit could not run[/bold red]: {exc}")
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    raise typer.Exit(code)


def _verify(
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
    factory_address = _address(factory, "--factory") if factory else None  # refused before any I/O
    token_addresses = [_address(token, "--token") for token in tokens]
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


@audit_app.command()
def export(
    out: Path = typer.Option(..., "--out", file_okay=False, help="directory to write manifest files into"),
    states: list[str] = typer.Option(["confirmed"], "--state", help="batch states to export (repeatable)"),
    token: str | None = typer.Option(None, "--token", help="only this token's batches"),
    database_url: str | None = typer.Option(None, "--database-url", help="default: LOYALTY_DATABASE_URL"),
) -> None:
    """Write one manifest file per batch (no personal data) for auditors, from the platform's database."""
    from backend.adapters.db import make_engine, session_scope
    from backend.audit.export import export_manifests
    from backend.config import get_settings

    if token is not None:
        try:
            token = _address(token, "--token")
        except AuditUsageError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(EXIT_USAGE) from exc
    engine = make_engine(database_url or get_settings().database_url)
    try:
        from sqlalchemy.orm import sessionmaker

        with session_scope(sessionmaker(bind=engine)) as session:
            paths = export_manifests(session, out, states, token)
    finally:
        engine.dispose()
    typer.echo(f"wrote {len(paths)} manifest file(s) under {out}")
