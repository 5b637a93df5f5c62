#!/usr/bin/env bash
# Set up airsage on a fresh machine: a virtual environment with the pinned requirements,
# the airsage package (editable, for the `airsage` command), and an Airflow home inside the
# project on SQLite. Safe to run again: it skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT="$(pwd)"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
  echo "[airsage] creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
STAMP=".venv/.airsage-requirements.sha256"
WANT="$(sha256sum requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[airsage] installing pinned requirements (first time: several minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
  .venv/bin/python -m pip install --quiet -r requirements.txt
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  echo "$WANT" > "$STAMP"
fi

# The Celery integration test starts PostgreSQL and Redis from Debian's packages.
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[airsage] installing postgresql and redis-server (Debian packages) for the Celery test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql redis-server >/dev/null
  else
    echo "[airsage] postgresql or redis-server is missing (install them as root): the Celery" \
         "integration test will be skipped"
  fi
fi

export AIRFLOW_HOME="${AIRFLOW_HOME:-$PROJECT/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$PROJECT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$PROJECT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
mkdir -p "$AIRFLOW_HOME"
if [ ! -f "$AIRFLOW_HOME/airflow.db" ]; then
  echo "[airsage] creating the Airflow metadata database in $AIRFLOW_HOME"
  .venv/bin/airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 \
    || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
fi
echo "[airsage] ready: source scripts/env.sh to use airflow and airsage in this shell"
