"""`loyalty pipeline ...`: run minting steps one at a time; `loyalty worker` / `loyalty beat` start Celery."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from backend.logs import configure_logging

pipeline_app = typer.Typer(help="Minting pipeline: aggregate, build, dispatch, track, settle.", no_args_is_help=True)
STEP_NAMES = ("aggregate", "build", "dispatch", "track", "settle", "all")


@pipeline_app.command("step")
def step(
    name: str = typer.Argument(..., help="aggregate | build | dispatch | track | settle | all"),
    repeat: int = typer.Option(1, help="run the step this many times (stops early when idle)"),
) -> None:
    """Run one pipeline step against the configured database and chain, print what it did."""
    from backend.bootstrap import ready

    if name not in STEP_NAMES:
        raise typer.BadParameter(f"one of {', '.join(STEP_NAMES)}")
    configure_logging()
    container = ready(contracts=False)
    try:
        pipeline = container.pipeline
        if name == "aggregate":
            for group in pipeline.aggregate():
                typer.echo(
                    f"chain {group.chain_id} token {group.token}: {group.credits} credits, {group.wallets} wallets,"
                    f" oldest {group.oldest.isoformat()}"
                )
            return
        for _ in range(repeat):
            busy = pipeline.step(name)
            typer.echo(f"{name}: {'did work' if busy else 'idle'}")
            if not busy:
                break
    finally:
        container.close()


def _celery(*args: str) -> None:
    argv = [sys.executable, "-m", "celery", "-A", "backend.entrypoints.worker.celery_app", *args]
    os.execv(sys.executable, argv)


SCHEDULE_HELP = "beat's state file (last run of each periodic task)"


def _schedule_args(schedule: Path) -> list[str]:
    schedule.parent.mkdir(parents=True, exist_ok=True)
    return ["--schedule", str(schedule)]


def worker(
    concurrency: int = typer.Option(2, help="worker processes"),
    beat: bool = typer.Option(False, "--beat", help="also run the scheduler in this worker (one per deployment)"),
    schedule: Path = typer.Option(Path("var/celerybeat-schedule"), help=SCHEDULE_HELP),
    loglevel: str = typer.Option("INFO"),
) -> None:
    """Start a Celery worker for the minting pipeline (Redis broker from LOYALTY_REDIS_URL)."""
    extra = ["--beat", *_schedule_args(schedule)] if beat else []
    _celery("worker", "--loglevel", loglevel, "--concurrency", str(concurrency), *extra)


def beat(
    schedule: Path = typer.Option(Path("var/celerybeat-schedule"), help=SCHEDULE_HELP),
    loglevel: str = typer.Option("INFO"),
) -> None:
    """Start Celery beat: schedules the pipeline steps (run exactly one per deployment)."""
    _celery("beat", "--loglevel", loglevel, *_schedule_args(schedule))
