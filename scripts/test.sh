#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite (unit, integration and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
.venv/bin/ruff check dags plugins include tests bench
exec .venv/bin/python -m pytest "$@"
