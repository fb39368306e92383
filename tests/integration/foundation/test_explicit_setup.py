"""Migrating and deploying are explicit steps: serving processes refuse to start without them, never race on them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect

from backend.bootstrap import (
    ContractsNotDeployed,
    SchemaNotReady,
    bootstrap,
    deploy,
    migrate,
    provision,
    ready,
    require_contracts,
)
from tests.conftest import make_settings


def test_bootstrap_neither_migrates_nor_deploys(tmp_path: Path) -> None:
    c = bootstrap(make_settings(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path))
    try:
        assert not inspect(c.engine).get_table_names()
        assert c.contracts is None
    finally:
        c.close()


def test_a_serving_process_names_the_step_that_is_missing(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    c = bootstrap(settings)
    try:
        with pytest.raises(SchemaNotReady, match="run `loyalty migrate` first"):
            ready(settings, chain=c.chain, contracts=False)
        migrate(c.engine, settings)
        ready(settings, chain=c.chain, contracts=False).close()
        with pytest.raises(ContractsNotDeployed, match="run `loyalty deploy` first"):
            require_contracts(c)
        contracts = deploy(c)
        assert require_contracts(c) == contracts
    finally:
        c.close()


def test_components_are_built_once_even_when_threads_race(db_url: str, tmp_path: Path) -> None:
    c = provision(make_settings(db_url, tmp_path), with_contracts=False)
    seen: list[object] = []
    start = threading.Barrier(4)

    def grab() -> None:
        start.wait()
        seen.append(c.pipeline)

    threads = [threading.Thread(target=grab) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(p) for p in seen}) == 1
        assert c.pipeline.relayer is c.relayer
    finally:
        c.close()
