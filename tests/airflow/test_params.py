"""The trigger form shows what a run will use: each default is the configured value, no
Param is a tri-state switch, and one rule decides which day a run processes."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from airsage.airflow.params import PARTITION_DATE, RunOptions, daily_params
from airsage.config import load_settings


def _schema_types(param) -> set[str]:
    kind = param.schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind}


def test_every_default_is_the_configured_value() -> None:
    from airsage.airflow.runner import load_dag

    configured = RunOptions.from_settings(load_settings())
    dag = load_dag("reviews_daily")
    for name, value in vars(configured).items():
        assert dag.params[name] == value, name
        assert "Default from configuration" in dag.params.get_param(name).description
    assert dag.params[PARTITION_DATE] is None
    assert dag.params["window_days"] == load_settings().section("prepare")["window_days"]


def test_a_changed_config_changes_the_forms_defaults() -> None:
    settings = load_settings(environ={
        "AIRSAGE__TRAINING__MODEL_FAMILY": "bert", "AIRSAGE__REGISTRY__AUTO_APPROVE": "false",
        "AIRSAGE__TUNING__MAX_JOBS": "9", "AIRSAGE__PREPARE__BALANCE": "none",
        "AIRSAGE__TUNING__ENABLED": "true", "AIRSAGE__EVALUATION__ACCURACY_THRESHOLD": "0.7",
        "AIRSAGE__PREPARE__WINDOW_DAYS": "14", "AIRSAGE__PREPARE__WINDOW_SINCE": "2026-01-01"})
    params = daily_params(RunOptions.from_settings(settings))
    assert {k: p.value for k, p in params.items() if k != PARTITION_DATE} == {
        "model_family": "bert", "auto_approve": False, "max_jobs": 9, "balance": "none",
        "tuning": True, "accuracy_threshold": 0.7, "window_days": 14, "window_since": "2026-01-01"}


def test_no_param_is_null_or_boolean() -> None:
    for name, param in daily_params().items():
        types = _schema_types(param)
        assert not {"null", "boolean"} <= types, f"{name} would render as a two-state switch"


def _context(**values) -> dict:
    return {"params": values.pop("params", {}), **values}


def test_one_rule_decides_the_partition(lake) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from airsage.airflow.runtime import partition_day

    midnight = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    # a person typed a day: that day
    assert partition_day(_context(params={PARTITION_DATE: "2026-02-20"},
                                  data_interval_start=midnight), lake) == "2026-02-20"
    # scheduled / backfill / manual: the data interval's start
    assert partition_day(_context(data_interval_start=midnight), lake) == "2026-03-02"
    with pytest.raises(AirflowFailException, match="not a date"):
        partition_day(_context(params={PARTITION_DATE: "yesterday"}), lake)
    # asset-triggered (no interval): the newest landed day up to the run
    run = SimpleNamespace(run_after=midnight, run_id="asset_triggered__x")
    with pytest.raises(AirflowFailException, match="no partition of 'reviews' is landed"):
        partition_day(_context(dag_run=run, data_interval_start=None), lake)
    for day in ("2026-02-27", "2026-03-01", "2026-03-05"):
        lake.write_bytes(f"raw/reviews/dt={day}/_manifest.json", b"{}")
    assert partition_day(_context(dag_run=run, data_interval_start=None), lake) == "2026-03-01"


def test_a_manual_run_triggered_now_processes_the_last_complete_day() -> None:
    from airsage.airflow.runner import load_dag

    dag = load_dag("reviews_daily")
    now = dt.datetime(2026, 3, 3, 14, 30, tzinfo=dt.UTC)
    interval = dag.timetable.infer_manual_data_interval(run_after=now)
    assert interval.start.date().isoformat() == "2026-03-02"
