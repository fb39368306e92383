"""`python -m tests.integration.indexer.kill_before_commit indexer run ...`: the CLI, SIGKILLed on the N-th batch
after its rows are written, before COMMIT (N from `LOYALTY_INDEXER_TEST_KILL_BEFORE_COMMIT`). Crash tests only:
the hook lives here, not in the indexer."""

from __future__ import annotations

import os
import signal
import sys

from indexer.store.base import Batch, MirrorStore

KILL_BEFORE_COMMIT_ENV = "LOYALTY_INDEXER_TEST_KILL_BEFORE_COMMIT"


def install(n: int) -> None:
    """Every mirror store of this process kills it before the COMMIT of its n-th batch with events."""
    seen = 0

    def hook(batch: Batch) -> None:
        nonlocal seen
        if batch.events:
            seen += 1
            if seen >= n:
                os.kill(os.getpid(), signal.SIGKILL)

    original = MirrorStore.__init__

    def init(self: MirrorStore, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self.on_before_commit = hook

    MirrorStore.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    from backend.entrypoints.cli.main import main

    install(int(os.environ[KILL_BEFORE_COMMIT_ENV]))
    sys.argv[0] = "loyalty"
    main()
