#!/usr/bin/env bash
# Set up (if needed), lint, type-check and run the whole test suite (unit, integration and
# end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
.venv/bin/ruff check dags plugins include tests bench
.venv/bin/mypy  # over plugins/airsage and dags, as [tool.mypy] in pyproject.toml says
exec .venv/bin/python -m pytest "$@"
