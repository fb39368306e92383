"""A real Celery worker (Redis broker) records a bulk import; SIGKILLed mid-import and restarted, each action once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select

from backend.adapters.orm.earning import Action
from backend.services.earning.ledger import check_ledger
from tests.integration.earning.test_action_imports import ASYNC, results
from tests.integration.earning.test_action_imports_kill import processed
from tests.integration.earning.test_actions import RATE, purchase
from tests.support import celery_worker
from tests.support.celery_worker import kill, wait_for
from tests.support.shop import Shop

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
TOTAL = 8_000


def start_worker(db_url: str, redis_url: str, prefix: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    settings = {
        "LOYALTY_ENV": "test",
        "LOYALTY_DATABASE_URL": db_url,
        "LOYALTY_RPC_URLS": "eth-tester://",
        "LOYALTY_REDIS_URL": redis_url,
        "LOYALTY_REDIS_PREFIX": prefix,
        "LOYALTY_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
    }
    return celery_worker.start_worker(settings, tmp_path, "--concurrency", "1")


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
        assert wait_for(lambda: processed(shop) > 0, 120, poll_s=0.05), log.read_text()[-3000:]
        kill(worker)
        assert processed(shop) < TOTAL, "the worker finished before it could be killed"
        worker = start_worker(db_url, redis_url, redis_prefix, tmp_path)
        sender.send_task("loyalty.actions.imports", queue=f"{redis_prefix}pipeline")
        assert wait_for(lambda: processed(shop) == TOTAL, 120, poll_s=0.05), log.read_text()[-3000:]
    finally:
        kill(worker)
        sender.close()
    assert {i["status"] for i in results(shop, import_id, limit=TOTAL)["items"]} == {"created"}
    with shop.container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Action)) == TOTAL
        assert check_ledger(uow.session) == []
