"""`loyalty demo`: run the promotional event against a running platform (default the local `loyalty up`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from backend.entrypoints.demo.event import DemoEvent, DemoFailed, DemoSummary


def run_with_progress(event: DemoEvent, console: Console) -> DemoSummary:
    """The event with one rich progress bar per stage (plain when not a terminal)."""
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        event.progress = report
        return event.run_event()


def demo(
    actions: int = typer.Option(3000, "--actions", min=50, help="shoppers' actions to send"),
    api: str = typer.Option("http://127.0.0.1:8000", "--api", help="base URL of the running platform"),
    rpc_url: str = typer.Option(None, "--rpc-url", help="chain JSON-RPC for the audit (default <api>/rpc)"),
    email: str = typer.Option(None, "--email", help="operator e-mail (default LOYALTY_ADMIN_EMAIL)"),
    password: str = typer.Option(None, "--password", help="operator password (default LOYALTY_ADMIN_PASSWORD)"),
    manifests: Path = typer.Option(None, "--manifests", file_okay=False, help="where to write manifest files"),
    timeout: float = typer.Option(600.0, "--timeout", help="seconds to wait for batches and the indexer"),
) -> None:
    """Brands, promotions, actions, QR claims and a gasless redemption; then verify mirror, audit and gas."""
    from backend.config import get_settings

    settings = get_settings()
    console = Console(stderr=True)
    event = DemoEvent(
        api,
        actions=actions,
        admin_email=email or settings.admin_email,
        admin_password=password or settings.admin_password,
        rpc_url=rpc_url,
        timeout_s=timeout,
        manifests_dir=manifests,
    )
    try:
        summary = run_with_progress(event, console)
    except DemoFailed as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(summary.render())
    ok = summary.mirror_reconciled and summary.audit_passed and summary.double_mints == 0
    raise typer.Exit(0 if ok else 1)
