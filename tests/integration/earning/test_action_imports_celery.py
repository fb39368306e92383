"""A real Celery worker (Redis broker) records a bulk import; SIGKILLed mid-import and restarted, each action once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select

from backend.adapters.orm.earning import Action
from backend.services.ledger import check_ledger
from tests.integration.earning.conftest import Shop
from tests.integration.earning.test_action_imports import ASYNC, results
from tests.integration.earning.test_action_imports_kill import processed
from tests.integration.earning.test_actions import RATE, purchase

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
TOTAL = 8_000


def start_worker(db_url: str, redis_url: str, prefix: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")},
        "LOYALTY_ENV": "test",
        "LOYALTY_DATABASE_URL": db_url,
        "LOYALTY_RPC_URLS": "eth-tester://",
        "LOYALTY_REDIS_URL": redis_url,
        "LOYALTY_REDIS_PREFIX": prefix,
        "LOYALTY_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
    }
    command = [sys.executable, "-m", "celery", "-A", "backend.worker.celery_app", "worker"]
    command += ["--concurrency", "1", "--loglevel", "WARNING"]
    with open(tmp_path / "worker.log", "ab") as log:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )


def kill(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_celery_worker_killed_mid_import_then_restarted_records_each_action_once(
    shop: Shop, db_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    actions = [purchase(f"c{i}", wallet=f"0x{i % 500 + 1:040x}", amount="1") for i in range(TOTAL)]
    response = shop.client.post("/v1/actions:batch", json={"actions": actions}, headers={**shop.headers, **ASYNC})
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]

    # what beat does every tick: queue the task (the same broker, key prefix and queue as the worker)
    sender = Celery("test-sender", broker=redis_url)
    sender.conf.broker_transport_options = {"global_keyprefix": redis_prefix}
    worker = start_worker(db_url, redis_url, redis_prefix, tmp_path)
    try:
        sender.send_task("loyalty.actions.imports", queue=f"{redis_prefix}pipeline")
        log = tmp_path / "worker.log"
        assert wait_for(lambda: processed(shop) > 0, 120), log.read_text()[-3000:]
        kill(worker)
        assert processed(shop) < TOTAL, "the worker finished before it could be killed"
        worker = start_worker(db_url, redis_url, redis_prefix, tmp_path)
        sender.send_task("loyalty.actions.imports", queue=f"{redis_prefix}pipeline")
        assert wait_for(lambda: processed(shop) == TOTAL, 120), log.read_text()[-3000:]
    finally:
        kill(worker)
        sender.close()
    assert {i["status"] for i in results(shop, import_id, limit=TOTAL)["items"]} == {"created"}
    with shop.container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Action)) == TOTAL
        assert check_ledger(uow.session) == []
