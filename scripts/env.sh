# Source this to use the project's Airflow home and venv in your shell:  . scripts/env.sh
_airsage_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$_airsage_root/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$_airsage_root/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$_airsage_root/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export PATH="$_airsage_root/.venv/bin:$PATH"
unset _airsage_root
