"""A worker recording a bulk import is SIGKILLed mid-way and started again: every action is recorded once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.adapters.orm.earning import Action
from backend.adapters.orm.imports import ActionImport
from backend.services.earning.ledger import check_ledger
from tests.integration.earning.test_action_imports import ASYNC, credited, results
from tests.integration.earning.test_actions import RATE, UNIT, purchase
from tests.support.shop import Shop

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
PER_IMPORT = 5_000


def recorder(db_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOYALTY_DATABASE_URL": db_url, "LOYALTY_ENV": "test"}
    command = [sys.executable, "-m", "backend.entrypoints.cli.main", "ledger", "imports"]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def processed(shop: Shop) -> int:
    with shop.container.uow() as uow:
        return int(uow.session.scalar(select(func.sum(ActionImport.processed))) or 0)


def test_killed_recorder_resumes_without_losing_or_repeating_an_action(shop: Shop, db_url: str) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    wallets = [f"0x{i + 1:040x}" for i in range(300)]
    ids = []
    for n in range(2):
        actions = [purchase(f"i{n}-{i}", wallet=wallets[i % 300], amount="1") for i in range(PER_IMPORT)]
        response = shop.client.post("/v1/actions:batch", json={"actions": actions}, headers={**shop.headers, **ASYNC})
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])

    first = recorder(db_url)
    deadline = time.monotonic() + 120
    while processed(shop) == 0 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    killed_mid_way = first.poll() is None
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert killed_mid_way, "the recorder finished before it could be killed"
    assert 0 < processed(shop) < 2 * PER_IMPORT

    second = recorder(db_url)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err.decode()[-2000:]
    assert "0 waiting" in out.decode()

    assert processed(shop) == 2 * PER_IMPORT
    for import_id in ids:
        statuses = {i["status"] for i in results(shop, import_id, limit=PER_IMPORT)["items"]}
        assert statuses == {"created"}  # none replayed: no chunk was recorded twice
    with shop.container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Action)) == 2 * PER_IMPORT
        assert check_ledger(uow.session) == []
    assert sum(credited(shop).values()) == 2 * PER_IMPORT * 10 * UNIT
