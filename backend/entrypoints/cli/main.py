"""`loyalty` command line: run the platform, one pipeline step at a time, the indexer, audits and demos."""

from __future__ import annotations

import typer

from backend.config import Settings
from backend.logs import configure_logging

app = typer.Typer(
    help="Loyalty-token backend: ledger, batched minting, chain indexer. Configure with LOYALTY_* env vars.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def up(
    port: int = typer.Option(None, help="HTTP port (default LOYALTY_PORT or 8000)"),
    keep_db: bool = typer.Option(False, help="keep var/embedded.db (the in-process chain restarts empty)"),
    no_demo: bool = typer.Option(False, "--no-demo", help="do not run the promotional event after start-up"),
    demo_actions: int = typer.Option(3000, "--demo-actions", min=50, help="actions of the start-up event"),
) -> None:
    """Run the embedded default: in-process chain, SQLite, API + minting pipeline + indexer in one process."""
    import uvicorn

    from backend.bootstrap import provision
    from backend.entrypoints.api.app import create_app
    from backend.entrypoints.demo.embedded_db import EmbeddedDatabase, EmbeddedDatabaseError, refuse_taken_port
    from backend.entrypoints.runner import EmbeddedRunner, background_tasks

    configure_logging()
    database = EmbeddedDatabase.configured()
    settings = Settings(database_url=database.url, rpc_urls="eth-tester://")
    if port:
        settings = settings.model_copy(update={"port": port})
    try:
        database.lock()  # before anything is deleted: refuse if a running instance uses this database
        refuse_taken_port(settings.host, settings.port)
    except EmbeddedDatabaseError as exc:
        typer.echo(f"loyalty up: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    if keep_db or not database.is_embedded_default:
        typer.echo(f"Using database {database.path or database.url} (kept as is)", err=True)
    else:
        # NOTE: the in-process chain lives in memory, so a database from an earlier run would describe a
        # chain that no longer exists; start both fresh. Only the embedded default's own file is ever deleted.
        for deleted in database.start_fresh():
            typer.echo(f"Deleted {deleted} (earlier embedded run; --keep-db keeps it)", err=True)
    # NOTE: this one process owns the embedded database and chain, so it takes both set-up steps itself.
    container = provision(settings)
    from backend.entrypoints.demo.chain_clock import chain_clock_task
    from backend.entrypoints.demo.startup import login_hint, start_demo_thread

    runner = EmbeddedRunner(container, [*background_tasks(container), chain_clock_task(container)])
    runner.start()
    base = f"http://{settings.host}:{settings.port}"
    factory = container.contracts.factory.address if container.contracts else "-"
    typer.echo(
        f"\nLoyalty platform (embedded) is up.\n  API:       {base}\n  Health:    {base}/health\n"
        f"  API docs:  {base}/docs\n  Factory:   {factory}\n  Dashboard: {base}/dashboard{login_hint(settings)}\n"
        f"Press Ctrl+C to stop.\n",
        err=True,
    )
    if not no_demo:
        start_demo_thread(settings, demo_actions)
    try:
        uvicorn.run(create_app(container), host=settings.host, port=settings.port, log_level="warning")
    finally:
        runner.stop()
        container.close()
        database.release()


@app.command()
def serve(workers: int = typer.Option(1, help="uvicorn worker processes")) -> None:
    """Run only the HTTP API against the configured database, chain and Redis (production mode)."""
    import uvicorn

    from backend.config import get_settings

    configure_logging()
    settings = get_settings()
    uvicorn.run(
        "backend.entrypoints.api.app:create_app", factory=True, host=settings.host, port=settings.port, workers=workers
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (Alembic) to LOYALTY_DATABASE_URL and create the first admin (run it once per
    release, before the API and workers start: they refuse a database without the current schema)."""
    from backend.adapters.db import make_engine
    from backend.bootstrap import migrate as run_migrations
    from backend.config import get_settings

    configure_logging()
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        run_migrations(engine, settings)
    finally:
        engine.dispose()
    typer.echo("database schema is up to date")


@app.command()
def deploy() -> None:
    """Deploy (or verify) the factory and coalition token on the configured chain and record the addresses
    (after `loyalty migrate`; the API refuses to start until they are recorded)."""
    from backend.bootstrap import bootstrap, require_schema
    from backend.bootstrap import deploy as deploy_contracts

    configure_logging()
    container = bootstrap()
    try:
        require_schema(container)
        contracts = deploy_contracts(container)
    finally:
        container.close()
    typer.echo(
        f"chain {contracts.chain_id}: factory {contracts.factory.address}, "
        f"coalition token {contracts.coalition.address}"
    )


from backend.entrypoints.cli.indexer import app as indexer_app  # noqa: E402

app.add_typer(indexer_app, name="indexer")

from backend.entrypoints.cli.audit import audit_app  # noqa: E402

app.add_typer(audit_app, name="audit")

from backend.entrypoints.cli.pipeline import beat as beat_command  # noqa: E402
from backend.entrypoints.cli.pipeline import pipeline_app  # noqa: E402
from backend.entrypoints.cli.pipeline import worker as worker_command  # noqa: E402

app.add_typer(pipeline_app, name="pipeline")
app.command("worker")(worker_command)
app.command("beat")(beat_command)

from backend.entrypoints.cli.relayer import relayer_app  # noqa: E402

app.add_typer(relayer_app, name="relayer")

from backend.entrypoints.cli.ledger import ledger_app  # noqa: E402

app.add_typer(ledger_app, name="ledger")

from backend.entrypoints.cli.demo import demo as demo_command  # noqa: E402

app.command("demo")(demo_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
