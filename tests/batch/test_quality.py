"""Batch predictions joined with labels that arrive later give the monitor's model quality."""

from __future__ import annotations

import io
import json

import pytest

from airsage.batch.quality import batch_model_quality, join_labels
from airsage.lake.layout import LakeLayout

DAY = "2026-03-09"


def test_join_labels_pairs_by_review_id_and_counts_what_did_not_join() -> None:
    predictions = [{"review_id": i, "predicted_label": p} for i, p in [(1, 1), (2, -1), (3, 0), (4, 1)]]
    labels = [{"review_id": 1, "sentiment": 1}, {"review_id": 2, "sentiment": 1},
              {"review_id": 3, "sentiment": None},  # its label has not arrived
              {"review_id": 4, "sentiment": 1}, {"review_id": 9, "sentiment": 0}]  # 9: not scored
    joined = join_labels(predictions, labels, label_column="sentiment")
    assert (joined.unlabelled, joined.unpredicted) == (1, 1)
    assert joined.ground_truth.labels == {"review_id=1": [1], "review_id=2": [1],
                                          "review_id=4": [1]}
    assert [r.label for r in joined.records] == [1, -1, 0, 1]


def _write(lake, key: str, rows: list[dict]) -> None:
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buffer, index=False)
    lake.write_bytes(key, buffer.getvalue())


@pytest.mark.parametrize(("threshold", "violated"), [(0.95, True), (0.6, False)])
def test_model_quality_of_a_scoring_against_the_versions_baseline(settings, lake, threshold,
                                                                  violated) -> None:
    layout = LakeLayout("reviews")
    truth = [(1, -1, 0)[i % 3] for i in range(60)]
    predicted = [label if i % 4 else 1 for i, label in enumerate(truth)]  # every 4th says 1
    correct = sum(p == t for p, t in zip(predicted, truth, strict=True))
    _write(lake, layout.predictions_table(DAY, "7"),
           [{"review_id": i, "predicted_label": p} for i, p in enumerate(predicted)])
    _write(lake, layout.curated(DAY) + "reviews.parquet",
           [{"review_id": i, "sentiment": t, "review_text": "x"} for i, t in enumerate(truth)])
    lake.write_bytes(layout.baseline("reviews-sentiment", "7") + "model_quality/constraints.json",
                     json.dumps({"version": 0.0, "multiclass_classification_constraints": {
                         "accuracy": {"threshold": threshold,
                                      "comparison_operator": "LessThanThreshold"}}}).encode())

    report = batch_model_quality(settings, lake, "reviews", DAY, model_name="reviews-sentiment",
                                 model_version="7")
    metrics = report.statistics["multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(correct / 60)
    assert report.summary["matched"] == 60
    assert report.summary["verdict"] == ("violation" if violated else "ok")
    assert [v.metric_name for v in report.violations] == (["accuracy"] if violated else [])
    prefix = layout.predictions(DAY, "7") + "model_quality/"
    written = json.loads(lake.read_bytes(prefix + "constraint_violations.json"))
    assert len(written["violations"]) == int(violated)
    assert json.loads(lake.read_bytes(prefix + "statistics.json"))["dataset"]["item_count"] == 60


def _scored_day(lake, day: str, version: str, threshold: float) -> None:
    layout = LakeLayout("reviews")
    truth = [(1, -1, 0)[i % 3] for i in range(60)]
    predicted = [label if i % 4 else 1 for i, label in enumerate(truth)]  # accuracy 50/60
    _write(lake, layout.predictions_table(day, version),
           [{"review_id": i, "predicted_label": p} for i, p in enumerate(predicted)])
    _write(lake, layout.curated(day) + "reviews.parquet",
           [{"review_id": i, "sentiment": t} for i, t in enumerate(truth)])
    lake.write_bytes(layout.baseline("reviews-sentiment", version) + "constraints.json",
                     json.dumps({"multiclass_classification_constraints": {"accuracy": {
                         "threshold": threshold,
                         "comparison_operator": "LessThanThreshold"}}}).encode())


def test_the_monitor_judges_the_batch_predictions_whose_labels_arrived(tmp_path) -> None:
    """``monitoring.batch_quality_delay_days: 1``: the run whose interval starts 2026-03-10
    judges the serving version's predictions of 2026-03-09; a later hour of the day does
    not judge them again. (Shown with a Model Monitor report as the interval's own source:
    both sources go through the same step of run_monitor.)"""
    import datetime as dt

    from airsage.config import load_settings
    from airsage.lake.local import LocalLake
    from airsage.monitoring.step import run_monitor

    settings = load_settings(environ={}, overrides={
        "home": str(tmp_path / "home"),
        "monitoring": {"source": "model_monitor", "batch_quality_delay_days": 1}})
    lake = LocalLake(settings)
    _scored_day(lake, "2026-03-09", "7", threshold=0.95)
    for hour in (0, 5):
        start = dt.datetime(2026, 3, 10, hour, tzinfo=dt.UTC)
        lake.write_bytes(LakeLayout.monitoring_report("reviews-sentiment", start)
                         + "constraint_violations.json", b'{"violations": []}')

    def monitor(hour: int):
        start = dt.datetime(2026, 3, 10, hour, tzinfo=dt.UTC)
        return run_monitor(settings, lake, endpoint="reviews-sentiment",
                           model_name="reviews-sentiment", model_version="7",
                           interval_start=start, interval_end=start + dt.timedelta(hours=1))

    first = monitor(0)
    assert [(v.feature_name, v.constraint_check_type) for v in first.violations] == [
        ("accuracy", "model_quality_check")]
    assert first.should_retrain is True
    [judged] = first.summary["batch_model_quality"]
    assert (judged["day"], judged["matched"], judged["verdict"]) == ("2026-03-09", 60, "violation")
    later = monitor(5)
    assert later.violations == [] and later.should_retrain is False
    assert "batch_model_quality" not in later.summary


def test_a_day_without_predictions_or_labels_judges_nothing_and_says_why(settings, lake) -> None:
    from airsage.batch.quality import days_to_judge, judge_batch_predictions
    from airsage.errors import ConfigurationError

    layout = LakeLayout("reviews")
    _write(lake, layout.predictions_table("2026-04-02", "3"),
           [{"review_id": 1, "predicted_label": 1}])
    found, judged = judge_batch_predictions(settings, lake, "reviews", ["2026-04-01", "2026-04-02"],
                                            model_name="reviews-sentiment", model_version="3")
    assert found == []
    assert [j["verdict"] for j in judged] == ["no batch predictions of v3", "no labels yet"]
    import datetime as dt

    hours = [dt.datetime(2026, 4, 3, h, tzinfo=dt.UTC) for h in (22, 23)] + [
        dt.datetime(2026, 4, 4, 0, tzinfo=dt.UTC)]
    assert days_to_judge(hours, 2) == ["2026-04-02"]
    assert days_to_judge(hours, 0) == []
    with pytest.raises(ConfigurationError, match="batch_quality_delay_days is -1"):
        days_to_judge(hours, -1)
