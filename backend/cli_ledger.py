"""`loyalty ledger check`: recompute balances from the append-only ledger and report every difference."""

from __future__ import annotations

import typer

ledger_app = typer.Typer(help="The points ledger: consistency checks.", no_args_is_help=True)


@ledger_app.command("check")
def check() -> None:
    """Recompute wallet balances (and outbox totals) from ledger entries; exit 1 if anything differs."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import sessionmaker

    from backend.adapters.db import make_engine, session_scope
    from backend.config import get_settings
    from backend.services.ledger import check_ledger

    engine = make_engine(get_settings().database_url)
    if not inspect(engine).has_table("ledger_entries"):
        typer.echo("no ledger in this database (run `loyalty migrate` first)", err=True)
        raise typer.Exit(2)
    try:
        with session_scope(sessionmaker(bind=engine)) as session:
            problems = check_ledger(session)
    finally:
        engine.dispose()
    for p in problems:
        typer.echo(
            f"MISMATCH wallet={p.wallet} chain={p.chain_id} token={p.token_address} "
            f"{p.field}: stored={p.stored} expected={p.expected}"
        )
    if problems:
        typer.echo(f"ledger check failed: {len(problems)} difference(s)", err=True)
        raise typer.Exit(1)
    typer.echo("ledger check ok: balances match the ledger")
