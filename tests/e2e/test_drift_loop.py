"""The whole loop on the local target: serve → capture → monitor → violations → asset event
→ retrain through every gate → redeploy only a model that passes them."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from e2e_harness import Pipeline
from e2e_traffic import invoke, send_reviews, wait_for_capture

from airsage.airflow.runner import unpause

pytestmark = pytest.mark.e2e

ENDPOINT = "reviews-sentiment"


def _next_hour() -> dt.datetime:
    """The logical date whose monitor interval is the current hour (waits out a boundary)."""
    now = dt.datetime.now(dt.UTC)
    if now.minute == 59 and now.second > 0:
        time.sleep(61 - now.second)
        now = dt.datetime.now(dt.UTC)
    return now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)


def _asset_state() -> tuple[list[dict], list[str]]:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == "reviews_sentiment_drift"))
        if asset is None:
            return [], []
        events = [e.extra for e in session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset.id))]
        queued = [q.target_dag_id for q in session.scalars(
            select(AssetDagRunQueue).where(AssetDagRunQueue.asset_id == asset.id))]
    return events, queued


def test_drift_on_live_traffic_schedules_a_retraining_that_passes_every_gate(pipeline: Pipeline) -> None:
    deployed = pipeline.run("2026-06-01")
    assert deployed.state == "success", deployed.task_states
    url = deployed.xcoms["deploy"]["url"]
    baseline = deployed.xcoms["baseline"]
    assert baseline["source"] == "unseen", "the monitor baseline must hold no training row"
    assert baseline["excluded_key"] == "features/reviews/dt=2026-06-01/train/part-0.parquet"
    unpause("reviews_daily")
    events_before, _ = _asset_state()

    logical = _next_hour()
    send_reviews(url, rows=300, seed=101, day="2026-06-02")
    assert wait_for_capture(pipeline.lake, ENDPOINT) > 0
    time.sleep(2)  # let the capture writer flush the last batch
    clean = pipeline.run(dag_id="reviews_drift_monitor", logical_date=logical)
    assert clean.state == "success", clean.task_states
    assert clean.xcoms["monitor"]["violations"] == [], "no false alarm on clean traffic"
    assert clean.xcoms["monitor"]["should_retrain"] is False
    assert clean.task_states["signal_drift"] == "skipped"
    assert _asset_state()[0] == events_before

    # On demand: `at` names the hour to check, whatever the run's own date says.
    hour = logical - dt.timedelta(hours=1)
    asked = pipeline.run(dag_id="reviews_drift_monitor", conf={"at": hour.strftime("%Y-%m-%dT%H:%M")},
                         logical_date=logical + dt.timedelta(days=3))
    assert asked.state == "success", asked.task_states
    assert asked.xcoms["monitor"]["interval"] == [hour.isoformat(), logical.isoformat()]
    assert asked.xcoms["monitor"]["samples"] == clean.xcoms["monitor"]["samples"] > 0
    assert asked.xcoms["monitor"]["violations"] == []

    send_reviews(url, rows=900, seed=202, day="2026-06-02", drift=1.0)
    time.sleep(3)
    drifted = pipeline.run(dag_id="reviews_drift_monitor", logical_date=logical)
    assert drifted.state == "success", drifted.task_states
    monitored = drifted.xcoms["monitor"]
    assert monitored["should_retrain"] is True
    drifted_features = {v["feature_name"] for v in monitored["violations"]}
    assert drifted_features, monitored
    assert drifted.task_states["signal_drift"] == "success"
    assert pipeline.lake.exists(monitored["report_key"])

    events, queued = _asset_state()
    assert len(events) == len(events_before) + 1
    assert {v["feature_name"] for v in events[-1]["violations"]} <= drifted_features
    assert events[-1]["violation_count"] == len(monitored["violations"])
    assert events[-1]["endpoint"] == ENDPOINT
    assert events[-1]["model_version"] == deployed.xcoms["deploy"]["model_version"]
    assert "reviews_daily" in queued, "the drift event must queue a reviews_daily run"
    assert any(a.task_id == "signal_drift" and a.severity == "warning" for a in pipeline.alerts())

    # What the scheduler starts from that queue: a run with no logical date, which retrains
    # on the newest landed partition and goes through every gate again.
    retrain = pipeline.run(None)
    assert retrain.state == "success", retrain.task_states
    for gate in ("crawl", "validate_sql", "quality_gate", "bias_gate", "prepare", "evaluate", "register"):
        assert retrain.task_states[gate] == "success", gate
    registered = retrain.xcoms["register"]
    assert retrain.task_states["deploy"] == ("success" if registered["blessed"] else "skipped")
    expected_version = (registered["model_version"]["version"] if registered["blessed"]
                        else deployed.xcoms["deploy"]["model_version"])

    from airsage.config import load_settings
    from airsage.serving.local import LocalEndpointDeployer

    live = LocalEndpointDeployer(load_settings()).describe(ENDPOINT)
    assert [str(v["model_version"]) for v in live.variants if v["weight"] > 0] == [expected_version]
    answer = invoke(url, [{"review_text": "love it, fits perfectly"}])
    assert answer["predictions"][0]["label"] in (-1, 0, 1)
