"""A block clock for the in-process chain, which otherwise mines only when a transaction arrives.

Without it a batch mined in the last block never gets the `LOYALTY_CONFIRMATIONS` blocks on top that confirm it.
"""

from __future__ import annotations

from backend.bootstrap import Container
from backend.entrypoints.runner import PeriodicTask

BLOCK_TIME_S = 1.0


def chain_clock_task(container: Container, block_time_s: float = BLOCK_TIME_S) -> PeriodicTask:
    def tick() -> bool:
        container.chain.rpc("evm_mine")  # NOTE: through the provider's lock; eth-tester is not thread-safe
        return False

    return PeriodicTask("chain-clock", block_time_s, tick)
