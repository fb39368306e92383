"""Development harness shared by tests, benchmarks and the fault run: nodes, fault proxies, child processes.

- `devtools.anvil`: a throwaway anvil node (free port, readiness, reorgs, raw JSON-RPC).
- `devtools.rpc_proxy`: a JSON-RPC proxy in front of a node that drops, delays and fails requests on schedule.
- `devtools.flaky_rpc`: an in-process JSON-RPC endpoint with scripted faults.
- `devtools.processes`: restartable child processes (own session), their tracebacks, free ports, waits.
- `devtools.postgres`: a fresh PostgreSQL database for one run, dropped at the end.

Nothing under `backend/` or `indexer/` imports this package.
"""
