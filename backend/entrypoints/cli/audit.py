"""`loyalty audit ...`: verify the chain against published manifest files; export manifests from the database.

Exit codes of `verify`: 0 = no findings, 1 = findings, 2 = bad usage, 3 = the audit could not run (node or mirror
database unreachable, chain reorganized mid-audit).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from backend.audit.errors import AuditError, AuditUsageError, ChainReadError
from backend.audit.run import EXIT_UNAVAILABLE, EXIT_USAGE, address_option, run_verification

audit_app = typer.Typer(
    help="Auditor toolkit: explain every minted token from the chain and published manifests.",
    no_args_is_help=True,
    add_completion=False,
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
        code = run_verification(
            rpc_url, manifests, factory, tokens, from_block, to_block, mirror_db, json_path, out, err
        )
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
            token = address_option(token, "--token")
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
