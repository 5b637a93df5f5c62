"""The steps the Airflow layer calls: create_baseline and run_monitor (job in a subprocess)."""

from __future__ import annotations

import datetime as dt_
import io
import json
from pathlib import Path

import pytest
from monitoring_helpers import (
    capture_lines,
    ground_truth_line,
    make_reviews,
    write_capture_file,
    write_ground_truth,
)

from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.lake.layout import LakeLayout
from airsage.monitoring.base import MonitoringSettings, Violation, ViolationPolicy
from airsage.monitoring.step import create_baseline, decide_retrain, interval_hours, run_monitor

DAY = "2024-05-01"
ENDPOINT = "reviews-sentiment"
START = dt_.datetime(2024, 5, 1, 10, tzinfo=dt_.UTC)
END = dt_.datetime(2024, 5, 1, 12, tzinfo=dt_.UTC)


def _write_features(lake, split, frame):
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    lake.write_bytes(LakeLayout("reviews").features(DAY, split) + "part-0.parquet",
                     buffer.getvalue())


@pytest.fixture
def baselined(settings, lake, model_tar, job_runner):
    """A lake with train/validation features, a model artifact and its baseline."""
    _write_features(lake, "train", make_reviews(1500, seed=21))
    _write_features(lake, "validation", make_reviews(300, seed=22))
    artifact = LakeLayout("reviews").model_artifact("train-job-1")
    lake.upload(model_tar, artifact)
    result = create_baseline(settings, lake, "reviews", DAY, model_name="reviews-sentiment",
                             model_version="3", model_artifact_key=artifact, runner=job_runner)
    return result


def test_create_baseline_writes_the_three_documents(baselined, lake):
    result = baselined
    assert result.baseline_prefix == LakeLayout.baseline("reviews-sentiment", "3")
    assert result.item_count == 1500
    assert result.quality_reference == "validation"
    assert result.source_key == LakeLayout("reviews").features(DAY, "train") + "part-0.parquet"
    assert 0.5 < result.baseline_accuracy <= 1.0
    statistics = json.loads(lake.read_bytes(result.statistics_key))
    constraints = json.loads(lake.read_bytes(result.constraints_key))
    vocabulary = json.loads(lake.read_bytes(result.vocabulary_key))
    assert statistics["dataset"]["item_count"] == 1500
    assert constraints["airsage"]["model_version"] == "3"
    assert "multiclass_classification_constraints" not in constraints
    quality = json.loads(lake.read_bytes(result.baseline_prefix + "model_quality/constraints.json"))
    assert quality["multiclass_classification_constraints"]["accuracy"]["threshold"] == (
        pytest.approx(result.baseline_accuracy - 0.1))
    assert lake.exists(result.baseline_prefix + "model_quality/statistics.json")
    assert vocabulary["size"] > 100
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


def test_baseline_comes_from_rows_the_model_never_saw(settings, lake, model_tar, job_runner):
    """Default: the curated day minus the training split, in the curated day's mix.

    (The issue changed this: the whole curated day holds the training rows, on which the
    model is more confident than on live traffic, so clean traffic looked drifted.)
    """
    layout = LakeLayout("reviews")
    natural = make_reviews(800, seed=23)
    natural.loc[natural.index[:40], "review_text"] = None
    buffer = io.BytesIO()
    natural.to_parquet(buffer, index=False)
    lake.write_bytes(layout.curated(DAY) + "reviews.parquet", buffer.getvalue())
    balanced = natural.dropna(subset=["review_text"]).groupby("sentiment").head(60)
    _write_features(lake, "train", balanced)
    artifact = layout.model_artifact("train-job-2")
    lake.upload(model_tar, artifact)
    kwargs = dict(model_name="m", model_version="1", model_artifact_key=artifact)

    auto = create_baseline(settings, lake, "reviews", DAY, **kwargs, runner=job_runner)
    assert auto.source == "unseen" and auto.quality_reference == "unseen"
    assert auto.source_key == layout.curated(DAY) + "reviews.parquet"
    assert auto.excluded_key == layout.features(DAY, "train") + "part-0.parquet"
    constraints = json.loads(lake.read_bytes(auto.constraints_key))
    rows = constraints["airsage"]["baseline_rows"]
    assert constraints["airsage"]["model_version"] == "1"
    assert rows["count"] == auto.item_count == len(rows["ids"]) > 100
    assert rows["excluded_key"] == auto.excluded_key and rows["id_column"] == "review_id"
    assert not set(rows["ids"]) & set(balanced["review_id"]), "no training row in the baseline"
    chosen = natural[natural["review_id"].isin(rows["ids"])]
    # the curated day's mix, not the unseen rows' (which undersampling left mostly positive)
    for label, share in natural["sentiment"].value_counts(normalize=True).items():
        assert (chosen["sentiment"] == label).mean() == pytest.approx(share, abs=0.02)
    text = next(f for f in constraints["features"] if f["name"] == "review_text")
    assert text["completeness"] == pytest.approx(760 / 800, abs=0.02)

    curated = settings.with_overrides({"monitoring": {"baseline_source": "curated"}})
    whole = create_baseline(curated, lake, "reviews", DAY, **kwargs, runner=job_runner)
    assert whole.item_count == 800 and whole.quality_reference == "curated"
    assert whole.excluded_key is None

    forced = settings.with_overrides({"monitoring": {"baseline_source": "features"}})
    features = create_baseline(forced, lake, "reviews", DAY, **kwargs, runner=job_runner)
    assert features.source_key == layout.features(DAY, "train") + "part-0.parquet"
    assert features.item_count == len(balanced)


def test_unseen_baseline_adds_earlier_accepted_days_only(settings, lake, model_tar, job_runner):
    from airsage.lake.quarantine import quarantine

    layout = LakeLayout("reviews")

    def curated(day, frame):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        lake.write_bytes(layout.curated(day) + "reviews.parquet", buffer.getvalue())

    today = make_reviews(600, seed=31)
    curated(DAY, today)
    _write_features(lake, "train", today.groupby("sentiment").head(50))
    curated("2024-04-30", make_reviews(300, seed=32))          # accepted: joins
    curated("2024-04-29", make_reviews(200, seed=33))          # refused later: stays out
    quarantine(lake, "reviews", "2024-04-29", step="bias_gate", reason="biased")
    artifact = layout.model_artifact("train-job-3")
    lake.upload(model_tar, artifact)
    alone = create_baseline(settings.with_overrides({"monitoring": {"baseline_history_days": 0}}),
                            lake, "reviews", DAY, model_name="m", model_version="2",
                            model_artifact_key=artifact, runner=job_runner)
    result = create_baseline(settings, lake, "reviews", DAY, model_name="m", model_version="2",
                             model_artifact_key=artifact, runner=job_runner)
    assert result.item_count == alone.item_count + 300
    rows = json.loads(lake.read_bytes(result.constraints_key))["airsage"]["baseline_rows"]
    assert rows["earlier_days"] == [{"key": layout.curated("2024-04-30") + "reviews.parquet",
                                     "rows": 300}]


def test_unseen_rows_refuses_a_day_the_model_saw_entirely():
    from airsage.monitoring.step import unseen_rows

    frame = make_reviews(50, seed=3)
    with pytest.raises(InputDataError, match="every curated row was used for training"):
        unseen_rows(frame, frame, id_column="review_id", label_column="sentiment",
                    text_column="review_text")
    with pytest.raises(InputDataError, match="identifier column 'row'"):
        unseen_rows(frame, frame, id_column="row", label_column="sentiment",
                    text_column="review_text")


def test_create_baseline_explains_missing_inputs(settings, lake, model_tar, job_runner):
    with pytest.raises(InputDataError, match="run the prepare step"):
        create_baseline(settings, lake, "reviews", DAY, model_name="m", model_version="1",
                        model_artifact_key="models/reviews/x/output/model.tar.gz", runner=job_runner)
    _write_features(lake, "train", make_reviews(50, seed=1).drop(columns=["age"]))
    lake.upload(model_tar, "models/reviews/x/output/model.tar.gz")
    with pytest.raises(InputDataError, match=r"lacks the feature column\(s\) \['age'\]"):
        create_baseline(settings, lake, "reviews", DAY, model_name="m", model_version="1",
                        model_artifact_key="models/reviews/x/output/model.tar.gz",
                        runner=job_runner)


def _traffic(lake, model, *, drift, seed):
    """Two variants over hours 09..12; only 10 and 11 are inside the monitored interval."""
    for offset, hour in enumerate((9, 10, 11, 12)):
        when = dt_.datetime(2024, 5, 1, hour, tzinfo=dt_.UTC)
        for v, variant in enumerate(("AllTraffic", "Canary")):
            frame = make_reviews(70, seed=seed + 10 * offset + v, drift=drift)
            lines = capture_lines(frame, model, prefix=f"{variant}-{hour}", batch=2)
            write_capture_file(lake, ENDPOINT, variant, when, lines)


def test_run_monitor_on_clean_traffic(baselined, settings, lake, model, job_runner):
    _traffic(lake, model, drift=0.0, seed=300)
    result = run_monitor(settings, lake, endpoint=ENDPOINT, model_name="reviews-sentiment",
                         model_version="3", interval_start=START, interval_end=END,
                         runner=job_runner)
    assert result.samples == 280  # 2 hours x 2 variants x 70
    assert result.summary["variants"] == {"AllTraffic": 2, "Canary": 2}
    assert result.summary["status"] == "ok"
    assert result.violations == []
    assert result.should_retrain is False
    prefix = LakeLayout.monitoring_report(ENDPOINT, START)
    assert result.report_key == prefix + "constraint_violations.json"
    assert json.loads(lake.read_bytes(result.report_key)) == {"violations": []}
    assert json.loads(lake.read_bytes(prefix + "statistics.json"))["dataset"]["item_count"] == 280
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


def test_run_monitor_on_drifted_traffic_asks_for_retraining(baselined, settings, lake, model,
                                                            job_runner):
    _traffic(lake, model, drift=1.0, seed=400)
    truth_lines = []
    for hour in (10, 11):
        for variant in ("AllTraffic", "Canary"):
            for start in range(0, 70, 2):
                # every label wrong: the model quality check must fire too
                truth_lines.append(ground_truth_line(f"{variant}-{hour}-{start}", [5, 5]))
    write_ground_truth(lake, ENDPOINT, dt_.datetime(2024, 5, 1, 11, tzinfo=dt_.UTC), truth_lines)
    result = run_monitor(settings, lake, endpoint=ENDPOINT, model_name="reviews-sentiment",
                         model_version="3", interval_start=START, interval_end=END,
                         runner=job_runner)
    checks = {(v.feature_name, v.constraint_check_type) for v in result.violations}
    assert ("age", "baseline_drift_check") in checks
    assert ("review_text_oov_rate", "text_drift_check") in checks
    assert ("accuracy", "model_quality_check") in checks
    assert result.should_retrain is True
    decision = result.summary["retrain_decision"]
    assert decision["counted_violations"] >= 3 and decision["policy"]["min_violations"] == 1
    assert result.summary["ground_truth"]["matched"] == 280
    # model quality has its own files, in the shape of Model Monitor's model-quality job
    prefix = LakeLayout.monitoring_report(ENDPOINT, START)
    data_stats = json.loads(lake.read_bytes(prefix + "statistics.json"))
    assert "multiclass_classification_metrics" not in data_stats
    data_violations = json.loads(lake.read_bytes(prefix + "constraint_violations.json"))
    assert "model_quality_check" not in {v["constraint_check_type"]
                                         for v in data_violations["violations"]}
    quality = json.loads(lake.read_bytes(prefix + "model_quality/statistics.json"))
    assert quality["dataset"]["item_count"] == 280
    assert quality["multiclass_classification_metrics"]["accuracy"]["value"] == 0.0
    quality_violations = json.loads(lake.read_bytes(prefix + "model_quality/"
                                                    "constraint_violations.json"))
    assert quality_violations["violations"][0]["metric_name"] == "accuracy"
    assert quality_violations["violations"][0]["constraint_check_type"] == "LessThanThreshold"


def test_a_model_quality_constraints_file_beside_the_baseline_is_applied(
        baselined, settings, lake, model, job_runner):
    _traffic(lake, model, drift=0.0, seed=500)
    truth = []
    for hour in (10, 11):
        for variant in ("AllTraffic", "Canary"):
            frame = make_reviews(70, seed=500 + 10 * (hour - 9) + (variant == "Canary"))
            for start in range(0, 70, 2):
                labels = frame["sentiment"].iloc[start:start + 2].tolist()
                truth.append(ground_truth_line(f"{variant}-{hour}-{start}", labels))
    write_ground_truth(lake, ENDPOINT, dt_.datetime(2024, 5, 1, 11, tzinfo=dt_.UTC), truth)
    # Model Monitor's model-quality constraints.json: a weighted F1 no model can reach
    lake.write_bytes(baselined.baseline_prefix + "model_quality/constraints.json", json.dumps({
        "version": 0.0, "multiclass_classification_constraints": {
            "weighted_f1": {"threshold": 1.5, "comparison_operator": "LessThanThreshold"}},
    }).encode())
    result = run_monitor(settings, lake, endpoint=ENDPOINT, model_name="reviews-sentiment",
                         model_version="3", interval_start=START, interval_end=END,
                         runner=job_runner)
    assert {(v.feature_name, v.constraint_check_type) for v in result.violations} == {
        ("weighted_f1", "model_quality_check")}
    assert result.should_retrain is True


def test_run_monitor_without_baseline_says_what_to_do(settings, lake, job_runner):
    with pytest.raises(InputDataError, match="create the model version's baseline"):
        run_monitor(settings, lake, endpoint=ENDPOINT, model_name="nope", model_version="1",
                    interval_start=START, interval_end=END, runner=job_runner)


def test_model_monitor_source_reads_the_schedule_report(tmp_path, lake):
    from airsage.config import load_settings

    settings = load_settings(environ={}, overrides={
        "home": str(tmp_path), "monitoring": {"source": "model_monitor"}})
    kwargs = dict(endpoint=ENDPOINT, model_name="reviews-sentiment", model_version="3",
                  interval_start=START, interval_end=END)
    with pytest.raises(StepFailed, match="no Model Monitor report"):
        run_monitor(settings, lake, **kwargs)
    prefix = LakeLayout.monitoring_report(ENDPOINT, START)
    report = {"violations": [
        {"feature_name": "age", "constraint_check_type": "baseline_drift_check",
         "description": "Baseline drift distance: 0.3 exceeds threshold: 0.1"},
        {"feature_name": "class_name", "constraint_check_type": "missing_column_check",
         "description": "missing"},
    ]}
    lake.write_bytes(prefix + "constraint_violations.json", json.dumps(report).encode())
    lake.write_bytes(prefix + "statistics.json",
                     json.dumps({"version": 0, "dataset": {"item_count": 512}}).encode())
    result = run_monitor(settings, lake, **kwargs)
    assert [v.feature_name for v in result.violations] == ["age", "class_name"]
    assert result.samples == 512
    assert result.should_retrain is True
    assert result.summary["source"] == "model_monitor"
    assert result.summary["retrain_decision"]["counted_violations"] == 1
    # a model-quality schedule's report beside it (Model Monitor's own shape) counts too
    fixture = Path(__file__).parent / "fixtures" / "model_monitor" / "model_quality"
    lake.write_bytes(prefix + "model_quality/constraint_violations.json",
                     (fixture / "constraint_violations.json").read_bytes())
    again = run_monitor(settings, lake, **kwargs)
    quality = [v for v in again.violations if v.constraint_check_type == "model_quality_check"]
    assert quality and quality[0].metric_name
    assert again.summary["retrain_decision"]["counted_violations"] == 1 + len(quality)


def test_violation_policy():
    drift = Violation("age", "baseline_drift_check", "d")
    schema = Violation("age", "data_type_check", "t")
    assert decide_retrain([schema], ViolationPolicy())[0] is False
    assert decide_retrain([drift], ViolationPolicy())[0] is True
    assert decide_retrain([drift], ViolationPolicy(min_violations=2))[0] is False
    assert decide_retrain([schema], ViolationPolicy(check_types=("data_type_check",)))[0]
    assert decide_retrain([drift], ViolationPolicy(min_violations=0))[0] is False


def test_settings_are_checked():
    with pytest.raises(ConfigurationError, match="unknown key"):
        MonitoringSettings.from_mapping({"min_sample": 3})
    with pytest.raises(ConfigurationError, match="comparison_method"):
        MonitoringSettings.from_mapping({"comparison_method": "Fuzzy"})
    with pytest.raises(ConfigurationError, match="check type"):
        MonitoringSettings.from_mapping({"violation_policy": {"check_types": ["drift"]}})
    parsed = MonitoringSettings.from_mapping({"min_samples": "50", "features": ["review_text"]})
    assert parsed.min_samples == 50 and parsed.features == ("review_text",)


def test_interval_hours():
    hours = interval_hours(dt_.datetime(2024, 5, 1, 10, 30), dt_.datetime(2024, 5, 1, 12, 0))
    assert [h.hour for h in hours] == [10, 11]
    with pytest.raises(ConfigurationError, match="must be after"):
        interval_hours(END, START)


def test_a_broken_baseline_fails_the_job_with_its_reason(settings, lake, job_runner):
    prefix = LakeLayout.baseline("broken", "1")
    lake.write_bytes(prefix + "statistics.json", b'{"version": 0, "features": []}')
    lake.write_bytes(prefix + "constraints.json", b"{not json")
    with pytest.raises(StepFailed, match=r"baseline constraints .* is not valid JSON"):
        run_monitor(settings, lake, endpoint=ENDPOINT, model_name="broken", model_version="1",
                    interval_start=START, interval_end=END, runner=job_runner)
