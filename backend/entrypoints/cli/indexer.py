"""`loyalty indexer run|reconcile|status`: the chain mirror from the command line."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from backend.bootstrap import Container

app = typer.Typer(help="Chain indexer: mirror every loyalty token into the database.", no_args_is_help=True)


def _container() -> Container:
    from backend.bootstrap import ready

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # NOTE: the indexer never migrates nor deploys; it follows the factory recorded by `loyalty deploy`.
    return ready(contracts=False)


@app.command()
def run(
    until_caught_up: bool = typer.Option(False, "--until-caught-up", help="exit once the mirror reaches the head"),
) -> None:
    """Backfill from the factory's deployment block, then follow the head (reorg-safe). Exit 3 on a reorg
    deeper than the kept window."""
    from backend.bootstrap import indexer_streamer
    from indexer import cli

    container = _container()
    try:
        code = cli.run(
            lambda: indexer_streamer(container), container.settings.indexer_poll_s, until_caught_up=until_caught_up
        )
    finally:
        container.close()
    raise typer.Exit(code)


@app.command()
def reconcile(
    sample: int = typer.Option(None, "--sample", min=1, help="check N random holders instead of all"),
    as_json: bool = typer.Option(False, "--json", help="JSON only (no table)"),
) -> None:
    """Compare mirrored balances and supplies with balanceOf/totalSupply on chain; exit 1 on any difference."""
    from rich.console import Console
    from rich.table import Table

    from indexer import cli
    from indexer.fetch.rpc import transport_for
    from indexer.reconcile import reconcile_report

    container = _container()
    try:
        transport = transport_for(container.chain)
        try:
            code, report = reconcile_report(container.engine, transport, container.chain.chain_id, sample)
        finally:
            transport.close()
    finally:
        container.close()
    if not as_json:
        table = Table(title=f"mirror vs chain at block {report['block']}")
        for column in ("kind", "token", "wallet", "mirror", "chain"):
            table.add_column(column)
        for d in report["differences"]:
            table.add_row(d["kind"], d["token"], d["wallet"] or "-", d["mirror"], d["chain"])
        console = Console(stderr=True)
        console.print(table)
        console.print(
            f"{report['balances_checked']} balances, {report['tokens']} tokens checked: "
            + ("[green]mirror matches chain[/green]" if report["ok"] else "[red]DIFFERENCES[/red]")
        )
    typer.echo(cli.dumps(report))
    raise typer.Exit(code)


@app.command()
def status() -> None:
    """Cursor, head, lag and row counts as JSON."""
    from indexer import cli
    from indexer.fetch.rpc import transport_for

    container = _container()
    try:
        transport = transport_for(container.chain)
        try:
            typer.echo(cli.dumps(cli.status(container.engine, transport, container.chain.chain_id)))
        finally:
            transport.close()
    finally:
        container.close()
