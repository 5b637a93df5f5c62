#!/usr/bin/env bash
# Set up (if needed) and run the local demo: daily runs over generated data, a deployed
# endpoint left running on 127.0.0.1, drift detected and retraining triggered.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
exec airsage demo "$@"
