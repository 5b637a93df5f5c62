"""Every DAG imports cleanly, every task is documented, owned and retried, and parsing a DAG
file loads no heavy library (pandas, DuckDB, boto3, …): logic lives inside the tasks."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((PROJECT_ROOT / "dags").glob("*.py"))
HEAVY_MODULES = ["pandas", "numpy", "duckdb", "boto3", "botocore", "sagemaker", "sklearn",
                 "mlflow", "torch", "great_expectations", "optuna", "sqlglot", "pyarrow"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_dag_files_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"reviews_daily", "reviews_drift_monitor",
                                   "reviews_batch_scoring"}


def test_every_task_has_owner_retries_and_doc(dagbag) -> None:
    for dag_id in dagbag.dag_ids:
        dag = dagbag.dags[dag_id]
        assert dag.doc_md, dag_id
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.owner == "airsage", where
            if task.task_id == "approve_model":  # a retry would ask the person again
                assert task.retries == 0, where
            else:
                assert task.retries >= 1, where
            assert task.doc_md or task.doc, where
            assert task.on_failure_callback, where


def test_daily_dag_runs_on_its_cron_or_the_drift_asset(dagbag) -> None:
    dag = dagbag.dags["reviews_daily"]
    timetable = dag.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert "x-airsage://reviews-sentiment/drift" in json.dumps(timetable.serialize(), default=str)
    assert dag.params["model_family"] == "tfidf_linear"


def test_daily_task_order_is_the_documented_pipeline(dagbag) -> None:
    dag = dagbag.dags["reviews_daily"]
    chain = ["ingest", "crawl", "validate_sql", "quality_gate", "curate", "bias_gate", "prepare",
             "train", "evaluate", "register", "approval_route"]
    for upstream, downstream in itertools.pairwise(chain):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    assert dag.get_task("deploy").upstream_task_ids == {"baseline"}


def test_batch_scoring_runs_on_the_asset_the_deploy_step_emits(dagbag) -> None:
    uri = "x-airsage://reviews-sentiment/deployed"
    scoring = dagbag.dags["reviews_batch_scoring"]
    assert uri in repr(scoring.timetable.asset_condition)
    assert [t.task_id for t in scoring.tasks] == ["score"]
    assert set(scoring.params) == {"partition_date", "model_version"}
    outlets = dagbag.dags["reviews_daily"].get_task("deploy").outlets
    assert [getattr(asset, "uri", None) for asset in outlets] == [uri]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_parsing_a_dag_file_loads_no_heavy_module(dag_file: Path) -> None:
    probe = (
        "import runpy, sys, json\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    env_path = str(PROJECT_ROOT / "plugins")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": env_path}, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"parsing {dag_file.name} imported {loaded}"


def test_airflow_plugin_loading_does_not_import_airsage_modules_by_file_name() -> None:
    """Airflow imports each file under plugins/ as a top-level module named after the file;
    plugins/.airflowignore keeps it out of the airsage package (monitoring/statistics.py
    would otherwise replace the standard library's ``statistics``)."""
    probe = (
        "from airflow import plugins_manager\n"
        "plugins_manager.ensure_plugins_loaded()\n"
        "import statistics, sys\n"
        "print(statistics.__file__)\n"
    )
    env = {**__import__("os").environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                            check=True)
    assert "airsage" not in result.stdout.strip().splitlines()[-1]
