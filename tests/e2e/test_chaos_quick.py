"""The whole system under a seeded load and fault schedule (`scripts/chaos.py --quick`): every invariant holds.

Separate processes (uvicorn ×2, Celery worker and beat, indexer, anvil behind a faulty RPC proxy, a private
Redis, a fresh PostgreSQL database); purchases, refunds, referrals, QR claims (duplicates, forgeries, expired
codes), replays and gasless redemptions while workers are killed, Redis and database connections are lost, the
chain reorgs and the base fee spikes. The script's verdict is the assertion.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = 7

pytestmark = [
    pytest.mark.slow,
    pytest.mark.anvil,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.xdist_group("chaos"),
]


@pytest.mark.timeout(1200)
def test_quick_chaos_run_keeps_every_invariant() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "chaos.py"), "--quick", "--seed", str(SEED)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert lines, f"no output; stderr:\n{run.stderr[-4000:]}"
    verdict = json.loads(lines[-1])
    report = "\n".join(lines[:-1]) + "\n" + run.stderr[-3000:]
    assert verdict["violations"] == [], report
    assert verdict["ok"] is True and run.returncode == 0, report
    assert verdict["faults_injected"] >= 9, report  # every fault kind at least once
    accepted = verdict["accepted_by_kind"]
    for kind in ("purchase", "refund", "referral", "qr_claim"):
        assert accepted.get(kind, 0) > 0, f"no accepted {kind}: {accepted}"
    assert verdict["redemptions_by_status"].get("confirmed", 0) > 0, report
    assert verdict["qr_duplicates_refused"] > 0 and verdict["qr_refusals"].get("qr-expired", 0) > 0, report
