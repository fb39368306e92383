"""Deploy (or verify) the factory, shared minter and coalition token on the configured chain; record addresses.

Usage: LOYALTY_RPC_URLS=http://127.0.0.1:8545 LOYALTY_DATABASE_URL=... .venv/bin/python scripts/deploy.py
Addresses are stored in the `deployments` table and in `var/deployments/<chain_id>.json`.
"""

from __future__ import annotations

import json
import sys

from backend.bootstrap import provision
from backend.errors import LoyaltyError


def main() -> int:
    try:
        container = provision()  # migrate, then deploy: what `loyalty migrate && loyalty deploy` do
    except LoyaltyError as exc:
        print(f"deploy failed: {exc}", file=sys.stderr)
        return 1
    contracts = container.contracts
    assert contracts is not None
    print(
        json.dumps(
            {
                "chain_id": contracts.chain_id,
                "factory": contracts.factory.address,
                "coalition_token": contracts.coalition.address,
                "shared_minter": contracts.minter.address,
                "minters": [w.address for w in container.hot_wallets],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
