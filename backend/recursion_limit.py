"""Keep the interpreter's recursion limit sane in every process (API, worker, CLI, indexer).

NOTE: py_ecc sets it to 100,000 and py-evm to 12,288 on import (eth-tester pulls both in). CPython's C code
(the JSON decoder, `repr`, the C pickler) checks the same limit while it uses the thread's C stack, so at that
limit one deeply nested input overflows the stack and the process dies (SIGSEGV) instead of raising
`RecursionError`. 4,000 still leaves the in-process chain a few hundred nested EVM calls.
"""

from __future__ import annotations

import sys

SANE_RECURSION_LIMIT = 4_000


def clamp_recursion_limit(limit: int = SANE_RECURSION_LIMIT) -> int:
    """Lower the limit to `limit` if an import raised it; never raise it. Returns the limit in force."""
    if sys.getrecursionlimit() > limit:
        sys.setrecursionlimit(limit)
    return sys.getrecursionlimit()
