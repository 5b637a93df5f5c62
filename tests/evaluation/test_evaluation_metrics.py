"""The pure evaluation logic: metrics against sklearn, the baseline, attribution."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import f1_score, precision_score, recall_score

from airsage.errors import ConfigurationError
from airsage.evaluation.base import METRICS_KEY, EvaluationSettings
from airsage.evaluation.metrics import (
    classification_metrics,
    evaluation_document,
    occlusion_attribution,
)

TRUTH = [1, 1, 1, 1, 0, 0, -1, -1, 1, -1]
PREDICTED = [1, 1, 0, 1, 0, 1, -1, 1, 1, 0]
LABELS = [-1, 0, 1]


def test_metrics_match_sklearn_on_known_predictions() -> None:
    metrics = classification_metrics(TRUTH, PREDICTED, LABELS, bootstrap_samples=0)
    assert metrics["accuracy"]["value"] == pytest.approx(0.6)
    assert metrics["macro_f1"]["value"] == pytest.approx(f1_score(TRUTH, PREDICTED, average="macro"))
    assert metrics["weighted_f1"]["value"] == pytest.approx(
        f1_score(TRUTH, PREDICTED, average="weighted"))
    precision = precision_score(TRUTH, PREDICTED, labels=LABELS, average=None, zero_division=0)
    recall = recall_score(TRUTH, PREDICTED, labels=LABELS, average=None, zero_division=0)
    for i, label in enumerate(LABELS):
        assert metrics["precision"][str(label)]["value"] == pytest.approx(precision[i])
        assert metrics["recall"][str(label)]["value"] == pytest.approx(recall[i])
    matrix = sk_confusion(TRUTH, PREDICTED, labels=LABELS)
    for i, actual in enumerate(LABELS):
        for j, pred in enumerate(LABELS):
            assert metrics["confusion_matrix"][str(actual)][str(pred)] == matrix[i, j]
    assert metrics["accuracy"]["standard_deviation"] == 0.0


def test_baseline_is_majority_class_share() -> None:
    metrics = classification_metrics(TRUTH, PREDICTED, LABELS, bootstrap_samples=0)
    assert metrics["majority_class"]["value"] == "1"
    assert metrics["baseline_accuracy"]["value"] == pytest.approx(0.5)


def test_bootstrap_gives_a_deviation_and_is_reproducible() -> None:
    first = classification_metrics(TRUTH, PREDICTED, LABELS, bootstrap_samples=100, seed=3)
    second = classification_metrics(TRUTH, PREDICTED, LABELS, bootstrap_samples=100, seed=3)
    assert first["accuracy"]["standard_deviation"] > 0
    assert first == second


def test_label_absent_from_predictions_has_zero_precision() -> None:
    metrics = classification_metrics([1, 0, -1], [1, 1, 1], LABELS, bootstrap_samples=0)
    assert metrics["precision"]["0"]["value"] == 0.0
    assert metrics["recall"]["1"]["value"] == 1.0


def test_document_has_property_file_shape_and_refuses_empty() -> None:
    document = evaluation_document(TRUTH, PREDICTED, LABELS, bootstrap_samples=5)
    assert set(document[METRICS_KEY]["accuracy"]) == {"value", "standard_deviation"}
    assert document["metadata"]["test_rows"] == len(TRUTH)
    with pytest.raises(ValueError, match="empty"):
        evaluation_document([], [], LABELS)


def test_occlusion_finds_the_word_that_drives_the_model() -> None:
    def predict_proba(texts: list[str]) -> np.ndarray:
        positive = np.array([0.9 if "great" in t.split() else 0.2 for t in texts])
        return np.column_stack([(1 - positive) / 2, (1 - positive) / 2, positive])

    result = occlusion_attribution(
        ["a great dress", "great fit overall", "the dress"], predict_proba, LABELS, top_k=3
    )
    assert result["per_label"]["1"][0]["feature"] == "great"
    assert result["per_label"]["1"][0]["attribution"] == pytest.approx(0.7)
    assert result["global"][0]["feature"] == "great"
    assert all(entry["feature"] != "dress" for entry in result["per_label"]["1"])


def test_settings_validate() -> None:
    parsed = EvaluationSettings.from_mapping({"accuracy_threshold": 0.7})
    assert parsed.accuracy_threshold == 0.7 and parsed.champion_tolerance is None
    with pytest.raises(ConfigurationError, match="champion_metric"):
        EvaluationSettings.from_mapping({"champion_metric": "auc"})
    with pytest.raises(ConfigurationError, match=">= 0"):
        EvaluationSettings.from_mapping({"champion_tolerance": -0.1})


def test_step_modules_import_no_heavy_libraries() -> None:
    """The Airflow layer imports these at task run time; parsing must stay light."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import airsage.evaluation, airsage.evaluation.step, airsage.evaluation.condition\n"
        "import airsage.registry, airsage.registry.step, airsage.registry.local\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'mlflow', 'duckdb', 'torch') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    from airsage.jobs.local import PLUGINS_DIR

    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True, env={"PYTHONPATH": str(PLUGINS_DIR)})
    assert completed.stdout.strip() == ""


def test_macro_f1_counts_a_class_only_predicted_like_sklearn() -> None:
    truth, predicted = [1, 1, 0, 0], [1, -1, 0, 0]
    metrics = classification_metrics(truth, predicted, LABELS, bootstrap_samples=0)
    assert metrics["macro_f1"]["value"] == pytest.approx(f1_score(truth, predicted, average="macro"))
