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
