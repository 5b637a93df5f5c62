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
    monkeypatch.setattr(tasks, "_job_runner", lambda settings: object())
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


def test_at_checks_the_hour_it_names() -> None:
    import datetime as dt

    import pytest
    from airflow.sdk.exceptions import AirflowFailException

    utc = dt.UTC
    logical = dt.datetime(2026, 1, 1, 10, 30, tzinfo=utc)
    base = {"data_interval_start": logical, "data_interval_end": logical, "logical_date": logical}
    start, end = tasks._interval({**base, "params": {"at": "2026-03-05T14:37"}})
    assert (start, end) == (dt.datetime(2026, 3, 5, 14, tzinfo=utc),
                            dt.datetime(2026, 3, 5, 15, tzinfo=utc))
    # an offset is honoured: 16:10 at +02:00 is the 14:00 UTC hour
    assert tasks._interval({**base, "params": {"at": "2026-03-05T16:10+02:00"}})[0] == start
    window = tasks._interval({**base, "params": {"window_from": "2026-03-05T08:00",
                                                 "window_to": "2026-03-05T11:00"}})
    assert window == (dt.datetime(2026, 3, 5, 8, tzinfo=utc), dt.datetime(2026, 3, 5, 11, tzinfo=utc))
    # empty form fields: the run's own interval, as before
    assert tasks._interval({**base, "params": {"at": None}})[1] == dt.datetime(2026, 1, 1, 10, tzinfo=utc)
    for bad, words in (({"at": "tomorrow"}, "not a time"),
                       ({"at": "2026-03-05T14:00", "window_from": "2026-03-05T08:00"}, "not both"),
                       ({"window_from": "2026-03-05T08:00"}, "window_to is empty"),
                       ({"window_from": "2026-03-05T08:00", "window_to": "2026-03-05T07:00"},
                        "must be after")):
        with pytest.raises(AirflowFailException, match=words):
            tasks._interval({**base, "params": bad})


def test_the_drift_monitor_trigger_form_validates_the_hour() -> None:
    import pytest
    from airflow.sdk.exceptions import ParamValidationError

    from airsage.airflow.monitor_params import drift_monitor_params

    params = drift_monitor_params()
    assert set(params) == {"at", "window_from", "window_to"}
    assert params["at"].resolve("2026-03-05T14:00") == "2026-03-05T14:00"
    assert drift_monitor_params()["at"].resolve(None) is None
    with pytest.raises(ParamValidationError):
        drift_monitor_params()["at"].resolve("05/03/2026 2pm")


def test_job_steps_get_the_target_s_job_runner(settings) -> None:
    """The local tasks hand every job step the one local runner; on aws the step gets the
    SageMaker job runner (issue 11: the aws target now has one, so nothing is refused)."""
    from types import SimpleNamespace

    from airsage.jobs.aws import SageMakerJobRunner
    from airsage.jobs.local import LocalJobRunner

    assert isinstance(tasks._job_runner(settings), LocalJobRunner)
    assert isinstance(tasks._job_runner(SimpleNamespace(target="aws")), SageMakerJobRunner)
