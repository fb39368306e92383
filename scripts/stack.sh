#!/usr/bin/env bash
# The production shape on one machine: anvil (2 s blocks) + PostgreSQL + Redis + API (uvicorn, 2 workers)
# + Celery worker + Celery beat + relayer (leader) + relayer2 (hot standby) + indexer, each its own process; `demo N` then runs `loyalty demo` against it.
#
#   bash scripts/stack.sh up          # start everything (state, logs and pids in var/stack/)
#   bash scripts/stack.sh demo 5000   # up (if needed) + a promotional event of 5,000 actions, verified
#   bash scripts/stack.sh status      # which processes run, indexer status
#   bash scripts/stack.sh down        # stop everything (the database is kept; `up` starts afresh)
#
# Ports and database: STACK_RPC_PORT (8545), STACK_API_PORT (8100), STACK_DB (loyalty_stack).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=var/stack
RPC_PORT=${STACK_RPC_PORT:-8545}
API_PORT=${STACK_API_PORT:-8100}
DB=${STACK_DB:-loyalty_stack}
PROCS=(anvil api worker beat relayer relayer2 indexer)

stack_env() {
  export LOYALTY_ENV=development
  export LOYALTY_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$DB"
  export LOYALTY_RPC_URLS="http://127.0.0.1:$RPC_PORT"
  export LOYALTY_REDIS_URL=redis://127.0.0.1:6379/0
  LOYALTY_REDIS_PREFIX="stack:$(cat "$STATE/run-id"):"
  export LOYALTY_REDIS_PREFIX
  export LOYALTY_DEPLOYMENTS_DIR="$STATE/deployments"
  export LOYALTY_ADMIN_EMAIL=${LOYALTY_ADMIN_EMAIL:-ops@example.com}
  export LOYALTY_ADMIN_PASSWORD=${LOYALTY_ADMIN_PASSWORD:-stack-password-0123456789}
}

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start() {  # name, command...: own process group, so `down` stops its children too
  local name=$1; shift
  setsid "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

wait_http() {  # url, what, seconds
  for _ in $(seq "$3"); do
    curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
      --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" && return 0
    sleep 1
  done
  echo "stack: $2 did not come up; see $STATE/*.log" >&2
  exit 1
}

up() {
  if alive api; then echo "stack: already up (API http://127.0.0.1:$API_PORT)"; return; fi
  bash scripts/setup.sh >/dev/null
  bash scripts/ensure_services.sh
  mkdir -p "$STATE" && rm -rf "$STATE/deployments" && od -An -N4 -tx4 /dev/urandom | tr -d ' ' >"$STATE/run-id"
  stack_env
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  start anvil node_modules/.bin/anvil --port "$RPC_PORT" --block-time 2 --silent
  wait_http "http://127.0.0.1:$RPC_PORT" anvil 30
  .venv/bin/loyalty migrate >"$STATE/migrate.log" 2>&1
  .venv/bin/loyalty deploy | tail -1
  start api .venv/bin/uvicorn backend.entrypoints.api.app:create_app --factory --host 127.0.0.1 --port "$API_PORT" \
    --workers 2 --no-access-log --log-level warning
  start worker .venv/bin/loyalty worker --loglevel WARNING
  start beat .venv/bin/loyalty beat --loglevel WARNING
  start relayer .venv/bin/loyalty relayer run  # signs, sends and tracks; the first to take the chain's lock leads
  start relayer2 .venv/bin/loyalty relayer run  # hot standby: takes over within seconds if the leader dies
  start indexer .venv/bin/loyalty indexer run
  for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$API_PORT/health" && break; sleep 1; done
  curl -sf -o /dev/null "http://127.0.0.1:$API_PORT/health" || { echo "stack: API not healthy; $STATE/api.log" >&2; exit 1; }
  echo "stack: up. API http://127.0.0.1:$API_PORT (dashboard /dashboard, login $LOYALTY_ADMIN_EMAIL /" \
    "$LOYALTY_ADMIN_PASSWORD), chain http://127.0.0.1:$RPC_PORT, database $DB, logs $STATE/"
}

down() {
  for name in "${PROCS[@]}"; do
    if alive "$name"; then kill -TERM -- "-$(cat "$STATE/$name.pid")" 2>/dev/null || true; fi
  done
  sleep 2
  for name in "${PROCS[@]}"; do
    if alive "$name"; then kill -KILL -- "-$(cat "$STATE/$name.pid")" 2>/dev/null || true; fi
    rm -f "$STATE/$name.pid"
  done
  echo "stack: down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status)
    for name in "${PROCS[@]}"; do alive "$name" && echo "$name: running" || echo "$name: stopped"; done
    if alive api; then stack_env; .venv/bin/loyalty indexer status 2>/dev/null; .venv/bin/loyalty relayer status 2>/dev/null; fi ;;
  demo)
    up
    stack_env
    rm -rf "$STATE/manifests"
    exec .venv/bin/loyalty demo --actions "${2:-5000}" --api "http://127.0.0.1:$API_PORT" \
      --rpc-url "http://127.0.0.1:$RPC_PORT" --manifests "$STATE/manifests" ;;
  *) echo "usage: bash scripts/stack.sh up|demo [ACTIONS]|status|down" >&2; exit 2 ;;
esac
