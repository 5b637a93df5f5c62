#!/usr/bin/env bash
# Set up (if needed) and run the local demo: daily runs over generated data, a deployed
# endpoint left running on 127.0.0.1, drift detected and retraining triggered.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
# The demo prints its own summary; task logs stay in Airflow's log files.
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-WARNING}"
exec airsage demo "$@"
