"""Routing decisions of reviews_daily's tasks, without running a DAG."""

from __future__ import annotations

from airsage.airflow import names, tasks


def _registered(blessed: bool, status: str | None) -> dict:
    version = None if status is None else {"name": "reviews-sentiment", "version": "3", "status": status}
    return {"blessed": blessed, "model_version": version, "day": "2026-01-01"}


def test_approval_route_follows_the_blessing_and_the_approval_status() -> None:
    route = tasks.approval_route.function
    assert route(_registered(False, None)) == names.KEEP_CHAMPION
    assert route(_registered(True, "Approved")) == names.AUTO_APPROVED
    assert route(_registered(True, "PendingManualApproval")) == names.APPROVE_MODEL


def test_manual_monitor_runs_check_the_hour_before_their_logical_date() -> None:
    import datetime as dt

    utc = dt.UTC
    logical = dt.datetime(2026, 1, 1, 10, 30, tzinfo=utc)
    start, end = tasks._interval({"data_interval_start": logical, "data_interval_end": logical,
                                  "logical_date": logical})
    assert (start, end) == (dt.datetime(2026, 1, 1, 9, tzinfo=utc), dt.datetime(2026, 1, 1, 10, tzinfo=utc))
    scheduled = tasks._interval({"data_interval_start": start, "data_interval_end": end})
    assert scheduled == (start, end)


def test_a_bias_warn_sends_a_warning_alert_and_the_batch_goes_on(monkeypatch) -> None:
    """A warn verdict is not silent: the task sends a warning alert and returns the verdict."""
    from airsage.airflow import notifiers
    from airsage.bias import gate
    from airsage.bias.base import BiasReport, BiasVerdict, MetricCheck

    check = MetricCheck(metric="DPL", value=0.2, status="warn", warn=0.15, fail=0.25,
                        reason="|DPL| = 0.2 > warn limit 0.15", group="department_name=Dresses")
    report = BiasReport(dataset="reviews", day="2026-01-01", stage="pre_training",
                        facet="department_name", facet_value_or_threshold=("Dresses",),
                        label="sentiment", label_values=(1,), metrics={"DPL": 0.2}, reasons={},
                        verdict=BiasVerdict(status="warn", checks=(check,)))
    sent = []
    monkeypatch.setattr(tasks, "task_settings", lambda: object())
    monkeypatch.setattr(tasks, "lake_for", lambda settings: object())
    monkeypatch.setattr(gate, "run_bias_gate", lambda *args, **kwargs: report)
    monkeypatch.setattr(notifiers, "send_alert", lambda alert, settings=None: sent.append(alert))

    result = tasks.bias_gate.function({"day": "2026-01-01", "key": "curated/x.parquet"},
                                      run_id="manual__1")
    assert result["status"] == "warn"
    (alert,) = sent
    assert alert.severity == "warning" and alert.task_id == names.BIAS_GATE
    assert alert.run_id == "manual__1" and alert.partition == "2026-01-01"
    assert "DPL (facet department_name=Dresses)" in alert.message

    sent.clear()
    passing = BiasReport(**{**report.__dict__, "verdict": BiasVerdict(status="pass", checks=())})
    monkeypatch.setattr(gate, "run_bias_gate", lambda *args, **kwargs: passing)
    tasks.bias_gate.function({"day": "2026-01-01", "key": "curated/x.parquet"})
    assert sent == []
