"""QR export benchmark: CPU of a campaign's first export (renders every code) against a repeated one (the cache).

Usage: .venv/bin/python scripts/bench_qr_export.py [--codes 2000]

Runs the API in-process on a temporary SQLite database (embedded chain), onboards a brand, creates a campaign,
then downloads its export.zip twice, measuring this process' CPU time for each. Before the cache every export
cost what the first one does; the ratio says how much cheaper a repeated export is now. Progress goes to
stderr; stdout gets one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from backend.bootstrap import provision
from backend.config import Settings
from backend.entrypoints.api.app import create_app
from loyalty_client import LoyaltyClient

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            env="test",
            database_url=f"sqlite:///{tmp}/bench.db",
            rpc_urls="eth-tester://",
            deployments_dir=Path(tmp) / "deployments",
            rate_limit_per_ip=0,
        )
        container = provision(settings)
        client = TestClient(create_app(container))
        operator = LoyaltyClient(http=client).login(settings.admin_email, settings.admin_password)
        brand = operator.onboard_brand(
            "Bench", "bench", "qr@bench.example", use_coalition_token=False, key_name="bench"
        )
        ends_at = datetime(2099, 1, 1, tzinfo=UTC)
        campaign = brand.create_qr_campaign("bench", args.codes, ends_at, 1)["id"]
        headers = brand.headers
        timings = []
        for attempt in ("first", "repeated"):
            started = time.process_time()
            response = client.get(f"/v1/qr/campaigns/{campaign}/export.zip", headers=headers)
            assert response.status_code == 200, response.text
            timings.append(time.process_time() - started)
            print(f"{attempt} export: {timings[-1]:.2f} CPU-s, {len(response.content):,} bytes", file=sys.stderr)
        container.close()
    first, repeated = timings
    print(
        json.dumps(
            {
                "codes": args.codes,
                "first_export_cpu_s": round(first, 3),
                "repeated_export_cpu_s": round(repeated, 3),
                "ratio": round(first / max(repeated, 1e-6), 1),
                "projected_100k_first_cpu_s": round(first * 100_000 / args.codes, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
