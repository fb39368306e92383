"""`loyalty relayer run|status`: the chain's relayer loop as its own process (one leader, hot standbys)."""

from __future__ import annotations

import logging
import signal
from typing import Any

import typer

from backend.logs import configure_logging

relayer_app = typer.Typer(help="Relayer: sign, send and track the chain's transactions.", no_args_is_help=True)


@relayer_app.command()
def run(poll_s: float = typer.Option(None, "--poll-s", min=0.01, help="head poll, s (LOYALTY_RELAYER_POLL_S)")) -> None:
    """Run the relayer loop of the configured chain: it acts while it holds the chain's leader lock, else it
    stands by and takes over within seconds of the leader's death. SIGTERM / SIGINT stop it gracefully."""
    from backend.bootstrap import ready

    configure_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per RPC call, several per head: drowns the rest
    container = ready(contracts=False)
    try:
        loop = container.relayer_loop
        if poll_s:
            loop.poll_s = poll_s

        def stop(signum: int, _: Any) -> None:
            typer.echo(f"relayer: {signal.Signals(signum).name}, stopping", err=True)
            loop.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        loop.run()
    finally:
        container.close()


@relayer_app.command()
def status() -> None:
    """Who leads the configured chain's relayer, and the open transactions per hot wallet, as JSON."""
    import json

    from sqlalchemy import func, select

    from backend.adapters.orm.relayer import RelayIntent
    from backend.bootstrap import ready
    from backend.services.relayer.leadership import leadership_for

    container = ready(contracts=False)
    try:
        chain_id = container.chain.chain_id
        leadership = leadership_for(container.engine, chain_id)
        try:
            leader = leadership.leader()
        finally:
            leadership.close()
        with container.uow() as uow:
            rows = uow.session.execute(
                select(RelayIntent.wallet, RelayIntent.state, func.count())
                .where(RelayIntent.chain_id == chain_id, RelayIntent.state.in_(("queued", "submitted", "included")))
                .group_by(RelayIntent.wallet, RelayIntent.state)
            ).all()
        wallets: dict[str, dict[str, int]] = {}
        for wallet, state, count in rows:
            wallets.setdefault(str(wallet or "-"), {"queued": 0, "submitted": 0, "included": 0})[state] = int(count)
        report = {
            "chain_id": chain_id,
            "leader": None
            if leader is None
            else {"pid": leader.pid, "host": leader.host, "since": leader.since.isoformat()},
            "wallets": wallets,
        }
    finally:
        container.close()
    typer.echo(json.dumps(report, indent=2, sort_keys=True))
