"""`loyalty ledger check`: recompute balances from the append-only ledger and report every difference."""

from __future__ import annotations

import typer

ledger_app = typer.Typer(help="The points ledger: consistency checks, bulk imports.", no_args_is_help=True)


@ledger_app.command("check")
def check() -> None:
    """Recompute wallet balances (and outbox totals) from ledger entries; exit 1 if anything differs."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import sessionmaker

    from backend.adapters.db import make_engine, session_scope
    from backend.config import get_settings
    from backend.services.earning.ledger import check_ledger

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


@ledger_app.command("imports")
def imports(
    budget: float = typer.Option(0, help="seconds to keep recording (0: until no import waits)", min=0),
) -> None:
    """Record waiting bulk imports (`Prefer: respond-async`) now, as the workers do; prints what is left."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import sessionmaker

    from backend.adapters.db import make_engine, session_scope
    from backend.config import get_settings
    from backend.services.earning import action_imports

    engine = make_engine(get_settings().database_url)
    if not inspect(engine).has_table("action_imports"):
        typer.echo("no action imports in this database (run `loyalty migrate` first)", err=True)
        raise typer.Exit(2)
    sessions = sessionmaker(bind=engine)
    try:
        with session_scope(sessions) as session:
            before = action_imports.backlog(session)
        action_imports.process_for(sessions, budget or float("inf"))
        with session_scope(sessions) as session:
            after = action_imports.backlog(session)
    finally:
        engine.dispose()
    typer.echo(f"imports: {before - after} action(s) recorded, {after} waiting")
