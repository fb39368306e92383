#!/usr/bin/env bash
# README command 1: set everything up, then run the embedded platform (in-process chain, SQLite, one process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/loyalty up "$@"
