"""The monitor step's request and collect phases, without a job run and without Airflow."""

from __future__ import annotations

import datetime as dt_
import json

import pytest

from airsage.errors import StepFailed
from airsage.jobs.request import JobRequest
from airsage.lake.layout import LakeLayout
from airsage.monitoring.base import MonitoringSettings
from airsage.monitoring.step import collect_monitor, ground_truth_keys, monitor_request

ENDPOINT = "reviews-sentiment"
START = dt_.datetime(2024, 5, 1, 10, tzinfo=dt_.UTC)
END = dt_.datetime(2024, 5, 1, 12, tzinfo=dt_.UTC)
CAPTURES = ("capture/reviews-sentiment/AllTraffic/2024/05/01/10/a.jsonl",
            "capture/reviews-sentiment/AllTraffic/2024/05/01/11/b.jsonl",
            "capture/reviews-sentiment/Canary/2024/05/01/10/c.jsonl")
TRUTH = ("ground-truth/reviews-sentiment/2024/05/01/11/t.jsonl",)
PREFIX = LakeLayout.monitoring_report(ENDPOINT, START)
INTERVAL = {"endpoint": ENDPOINT, "model_name": "reviews-sentiment", "model_version": "3",
            "interval_start": START, "interval_end": END}


def _request(settings) -> JobRequest:
    return monitor_request(settings, **INTERVAL, capture_keys=CAPTURES, ground_truth_keys=TRUTH)


def test_the_request_lists_the_intervals_keys_and_the_baseline(settings):
    request = _request(settings)
    assert request.script == "monitor.py"
    assert request.inputs == {"endpoint": CAPTURES,
                              "baseline": "monitoring/baselines/reviews-sentiment/3/",
                              "groundtruth": TRUTH}
    assert request.outputs == {"report": PREFIX}
    assert request.config["end_time"] == END.isoformat()
    assert request.config["monitoring_config"] == MonitoringSettings.from_settings(
        settings).job_config()
    assert request.job_name.startswith("reviews-sentiment-2024050110-monitor-")
    later = monitor_request(settings, **{**INTERVAL, "interval_end": END + dt_.timedelta(hours=1)},
                            capture_keys=CAPTURES, ground_truth_keys=TRUTH)
    assert later.job_name != request.job_name  # another interval is another job
    assert JobRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request


def test_ground_truth_keys_cover_the_configured_delay(settings, lake):
    for hour in (11, 13, 15):
        lake.write_bytes(f"ground-truth/{ENDPOINT}/2024/05/01/{hour}/t.jsonl", b"{}")
    assert ground_truth_keys(lake, settings, ENDPOINT, START, END) == [
        f"ground-truth/{ENDPOINT}/2024/05/01/11/t.jsonl"]
    delayed = settings.with_overrides({"monitoring": {"ground_truth_delay_hours": 2}})
    assert len(ground_truth_keys(lake, delayed, ENDPOINT, START, END)) == 2


def _write(lake, name: str, document: dict) -> None:
    lake.write_bytes(PREFIX + name, json.dumps(document).encode())


def test_collect_merges_both_reports_and_applies_the_violation_policy(settings, lake):
    _write(lake, "statistics.json", {"dataset": {"item_count": 300}})
    _write(lake, "summary.json", {"samples": 300, "status": "ok"})
    _write(lake, "constraint_violations.json", {"violations": [
        {"feature_name": "age", "constraint_check_type": "data_type_check",
         "description": "schema"}]})
    result = collect_monitor(settings, lake, _request(settings), **INTERVAL)
    assert result.should_retrain is False  # a schema violation does not count by default
    assert result.samples == 300
    assert result.report_key == PREFIX + "constraint_violations.json"
    assert result.summary["variants"] == {"AllTraffic": 2, "Canary": 1}
    assert result.summary["capture_files"] == 3 and result.summary["ground_truth_files"] == 1
    assert result.summary["model_version"] == "3" and result.summary["status"] == "ok"

    _write(lake, "model_quality/constraint_violations.json", {"violations": [
        {"metric_name": "accuracy", "constraint_check_type": "LessThanThreshold",
         "description": "accuracy 0.2 below 0.7"}]})
    again = collect_monitor(settings, lake, _request(settings), **INTERVAL)
    assert [v.constraint_check_type for v in again.violations] == ["data_type_check",
                                                                  "model_quality_check"]
    assert again.should_retrain is True
    assert again.summary["retrain_decision"]["counted_features"] == [
        "model_quality_check:accuracy"]


def test_collect_without_the_jobs_report_is_a_step_failure(settings, lake):
    _write(lake, "statistics.json", {})
    with pytest.raises(StepFailed, match=r"wrote no .*constraint_violations"):
        collect_monitor(settings, lake, _request(settings), **INTERVAL)


# -- the baseline step ------------------------------------------------------------------------
DAY = "2024-05-01"
MODEL_KEY = "models/reviews/train-job-1/output/model.tar.gz"
CURATED = f"curated/reviews/dt={DAY}/reviews.parquet"
TRAIN = f"features/reviews/dt={DAY}/train/part-0.parquet"
VALIDATION = f"features/reviews/dt={DAY}/validation/part-0.parquet"


def test_baseline_sources_resolve_the_configured_rows_against_the_lake(settings, lake):
    from airsage.errors import InputDataError
    from airsage.lake.quarantine import quarantine
    from airsage.monitoring.step import baseline_sources

    with pytest.raises(InputDataError, match=r"train features .* run the prepare step"):
        baseline_sources(settings, lake, "reviews", DAY)  # auto, nothing landed: features
    for key in (CURATED, TRAIN, VALIDATION, "curated/reviews/dt=2024-04-30/reviews.parquet",
                "curated/reviews/dt=2024-04-29/reviews.parquet"):
        lake.write_bytes(key, b"PAR1")
    quarantine(lake, "reviews", "2024-04-29", step="bias_gate", reason="biased")
    assert baseline_sources(settings, lake, "reviews", DAY) == {
        "source": "unseen", "source_key": CURATED, "excluded_key": TRAIN,
        "earlier_keys": ["curated/reviews/dt=2024-04-30/reviews.parquet"],
        "validation_key": None}
    curated = settings.with_overrides({"monitoring": {"baseline_source": "curated"}})
    assert baseline_sources(curated, lake, "reviews", DAY) == {
        "source": "curated", "source_key": CURATED, "excluded_key": None, "earlier_keys": [],
        "validation_key": VALIDATION}


def test_the_baseline_request_names_the_model_the_rows_and_the_baseline_prefix(settings):
    from airsage.monitoring.step import baseline_request

    sources = {"source": "unseen", "source_key": CURATED, "excluded_key": TRAIN,
               "earlier_keys": ["curated/reviews/dt=2024-04-30/reviews.parquet"],
               "validation_key": None}
    request = baseline_request(settings, "reviews", DAY, model_name="reviews-sentiment",
                               model_version="3", model_artifact_key=MODEL_KEY, sources=sources)
    assert request.script == "baseline.py"
    assert request.inputs == {"model": MODEL_KEY, "rows": CURATED, "train": TRAIN,
                              "earlier": ("curated/reviews/dt=2024-04-30/reviews.parquet",)}
    assert request.outputs == {"baseline": "monitoring/baselines/reviews-sentiment/3/"}
    assert request.config["source"] == "unseen" and request.config["model_version"] == "3"
    assert request.config["monitoring"] == dict(settings.section("monitoring"))
    other = baseline_request(settings, "reviews", DAY, model_name="reviews-sentiment",
                             model_version="4", model_artifact_key=MODEL_KEY, sources=sources)
    assert other.job_name != request.job_name
    assert JobRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request


def test_collect_baseline_reads_what_the_job_recorded(settings, lake):
    from airsage.monitoring.step import baseline_request, collect_baseline

    sources = {"source": "curated", "source_key": CURATED, "excluded_key": None,
               "earlier_keys": [], "validation_key": VALIDATION}
    request = baseline_request(settings, "reviews", DAY, model_name="m", model_version="1",
                               model_artifact_key=MODEL_KEY, sources=sources)
    prefix = request.outputs["baseline"]
    with pytest.raises(StepFailed, match="wrote no"):
        collect_baseline(lake, request)
    lake.write_bytes(prefix + "statistics.json", b"{}")
    lake.write_bytes(prefix + "vocabulary.json", b"{}")
    lake.write_bytes(prefix + "constraints.json", json.dumps({"airsage": {
        "baseline_accuracy": 0.81, "quality_reference": "validation",
        "baseline_rows": {"count": 640}}}).encode())
    result = collect_baseline(lake, request)
    assert (result.item_count, result.baseline_accuracy, result.quality_reference) == (
        640, 0.81, "validation")
    assert result.source == "curated" and result.source_key == CURATED
    assert result.excluded_key is None
    assert result.constraints_key == prefix + "constraints.json"
