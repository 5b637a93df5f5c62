# Source this to use the project's Airflow home and venv in your shell:  . scripts/env.sh
# Then `airflow standalone` serves the UI on http://localhost:${AIRSAGE_AIRFLOW_PORT:-8080}.
# Another port: AIRSAGE_AIRFLOW_PORT=8090 . scripts/env.sh  (tasks reach the API server's
# /execution/ endpoint through AIRFLOW__API__BASE_URL, which must name that port).
_airsage_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$_airsage_root/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$_airsage_root/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$_airsage_root/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# Airflow's LocalExecutor without the stale report that fails approve_model when it is answered
# (plugins/airsage/airflow/local_executor.py); `airflow standalone` keeps it (it is local).
# Airflow puts the plugins folder after the venv's packages: this checkout's airsage goes first,
# so the executor is found even when the venv was installed from another checkout.
export PYTHONPATH="$_airsage_root/plugins${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW__CORE__EXECUTOR=airsage.airflow.local_executor.ResumeSafeLocalExecutor
export AIRFLOW__API__PORT="${AIRSAGE_AIRFLOW_PORT:-${AIRFLOW__API__PORT:-8080}}"
export AIRFLOW__API__BASE_URL="http://localhost:$AIRFLOW__API__PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$AIRFLOW__API__BASE_URL/execution/"
export PATH="$_airsage_root/.venv/bin:$PATH"
unset _airsage_root
