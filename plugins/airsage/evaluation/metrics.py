"""Evaluation logic shared by the evaluate job (both targets) and the tests.

Metrics are computed from a confusion matrix in numpy rather than with sklearn so that the
bootstrap (SageMaker's model-quality reports give every metric a ``standard_deviation``)
costs a few matrix sums per resample. The document shape is what a SageMaker Pipelines
``PropertyFile`` reads with ``JsonGet``: ``multiclass_classification_metrics.<name>.value``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from airsage.evaluation.base import METRICS_KEY

_WORD = re.compile(r"\w+", re.UNICODE)


def _label_key(label: Any) -> str:
    return str(int(label)) if isinstance(label, (int, np.integer)) else str(label)


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[Any]
) -> np.ndarray:
    """Counts, rows = actual label, columns = predicted label, in ``labels`` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    rows = np.array([index[v] for v in y_true.tolist()], dtype=np.int64)
    cols = np.array([index[v] for v in y_pred.tolist()], dtype=np.int64)
    np.add.at(matrix, (rows, cols), 1)
    return matrix


def _scores(matrix: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and their macro/weighted means.

    A class never predicted has precision 0 and a class absent from the truth has recall 0
    (sklearn's ``zero_division=0``); absent classes weigh nothing in the weighted means.
    """
    matrix = matrix.astype(float)
    total = matrix.sum()
    tp = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (actual > 0) | (predicted > 0)  # sklearn averages over labels seen in either
    weights = actual / total if total else np.zeros_like(actual)
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * weights).sum()),
        "weighted_precision": float((precision * weights).sum()),
        "weighted_recall": float((recall * weights).sum()),
    }


def classification_metrics(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    labels: Sequence[Any],
    *,
    bootstrap_samples: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``multiclass_classification_metrics`` document of ``evaluation.json``.

    Each metric is ``{"value", "standard_deviation"}`` with the deviation from a bootstrap
    over the test rows; the majority-class baseline (always predict the most frequent true
    label) is included so a reader sees at once whether the model beats guessing.
    """
    truth = np.asarray(list(y_true))
    predicted = np.asarray(list(y_pred))
    if truth.shape != predicted.shape:
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
    if truth.size == 0:
        raise ValueError("cannot evaluate on an empty test set")
    labels = list(labels)
    matrix = confusion_matrix(truth, predicted, labels)
    point = _scores(matrix)

    values, counts = np.unique(truth, return_counts=True)
    majority = values[np.argmax(counts)]
    baseline_hits = (truth == majority).astype(float)

    scalar_names = ("accuracy", "macro_f1", "weighted_f1", "weighted_precision", "weighted_recall")
    samples: dict[str, list[float]] = {name: [] for name in scalar_names}
    per_class: dict[str, list[np.ndarray]] = {"precision": [], "recall": [], "f1": []}
    baseline_samples: list[float] = []
    rng = np.random.default_rng(seed)
    index = {label: i for i, label in enumerate(labels)}
    truth_idx = np.array([index[v] for v in truth.tolist()])
    pred_idx = np.array([index[v] for v in predicted.tolist()])
    size = len(labels)
    for _ in range(bootstrap_samples):
        pick = rng.integers(0, truth.size, truth.size)
        resampled = np.bincount(truth_idx[pick] * size + pred_idx[pick], minlength=size * size)
        scores = _scores(resampled.reshape(size, size))
        for name in scalar_names:
            samples[name].append(scores[name])
        for name in per_class:
            per_class[name].append(scores[name])
        baseline_samples.append(float(baseline_hits[pick].mean()))

    def entry(value: float, draws: Sequence[float]) -> dict[str, float]:
        deviation = float(np.std(draws, ddof=1)) if len(draws) > 1 else 0.0
        return {"value": float(value), "standard_deviation": deviation}

    document: dict[str, Any] = {name: entry(point[name], samples[name]) for name in scalar_names}
    for name in per_class:
        stacked = np.vstack(per_class[name]) if per_class[name] else None
        document[name] = {
            _label_key(label): entry(
                point[name][i], stacked[:, i].tolist() if stacked is not None else []
            )
            for i, label in enumerate(labels)
        }
    document["confusion_matrix"] = {
        _label_key(actual): {
            _label_key(pred): int(matrix[i, j]) for j, pred in enumerate(labels)
        }
        for i, actual in enumerate(labels)
    }
    document["baseline_accuracy"] = entry(float(baseline_hits.mean()), baseline_samples)
    document["majority_class"] = {"value": _label_key(majority)}
    return document


def evaluation_document(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    labels: Sequence[Any],
    *,
    metadata: dict[str, Any] | None = None,
    bootstrap_samples: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """The whole ``evaluation.json``: the metrics under their SageMaker key plus metadata."""
    metrics = classification_metrics(
        y_true, y_pred, labels, bootstrap_samples=bootstrap_samples, seed=seed
    )
    return {
        METRICS_KEY: metrics,
        "metadata": {
            "test_rows": len(list(y_true)),
            "labels": [_label_key(label) for label in labels],
            "bootstrap_samples": bootstrap_samples,
            **(metadata or {}),
        },
    }


def words(text: str) -> list[str]:
    return _WORD.findall(text or "")


def occlusion_attribution(
    texts: Sequence[str],
    predict_proba: Callable[[list[str]], np.ndarray],
    labels: Sequence[Any],
    *,
    max_words: int = 40,
    top_k: int = 15,
) -> dict[str, Any]:
    """Model-agnostic global attribution: how much removing a word moves each class.

    For every text, each distinct word (up to ``max_words``, the first ones) is deleted in
    turn and the text re-scored; the attribution of that word toward a label is the drop in
    the label's probability (positive: the word pushes toward the label). Summed over the
    sample, the top words per label are reported with their mean effect and count. It works
    for any family, since it only calls ``predict_proba``; its cost is one prediction per
    (text, word), which is why the job runs it on a sample.
    """
    labels = list(labels)
    totals: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    importance: dict[str, float] = {}
    for text in texts:
        tokens = words(text)
        vocabulary = list(dict.fromkeys(token.lower() for token in tokens))[:max_words]
        if not vocabulary:
            continue
        variants = [text]
        for word in vocabulary:
            kept = [t for t in tokens if t.lower() != word]
            variants.append(" ".join(kept))
        probabilities = np.asarray(predict_proba(variants), dtype=float)
        base = probabilities[0]
        predicted = int(np.argmax(base))
        for row, word in zip(probabilities[1:], vocabulary, strict=True):
            delta = base - row
            totals[word] = totals.get(word, np.zeros(len(labels))) + delta
            counts[word] = counts.get(word, 0) + 1
            importance[word] = importance.get(word, 0.0) + abs(float(delta[predicted]))
    per_label: dict[str, list[dict[str, Any]]] = {}
    for i, label in enumerate(labels):
        ranked = sorted(totals, key=lambda w: totals[w][i], reverse=True)[:top_k]
        per_label[_label_key(label)] = [
            {"feature": w, "attribution": float(totals[w][i] / counts[w]), "count": counts[w]}
            for w in ranked
            if totals[w][i] > 0
        ]
    global_ranked = sorted(importance, key=importance.get, reverse=True)[:top_k]  # type: ignore[arg-type]
    return {
        "method": "word_occlusion",
        "texts": len(texts),
        "per_label": per_label,
        "global": [
            {"feature": w, "mean_abs_attribution": importance[w] / counts[w], "count": counts[w]}
            for w in global_ranked
        ],
    }


def model_feature_summary(top_features: dict[Any, list[tuple[str, float]]]) -> dict[str, Any]:
    """``SentimentModel.top_features`` as JSON: per label, features and their weights."""
    return {
        _label_key(label): [{"feature": name, "weight": float(weight)} for name, weight in pairs]
        for label, pairs in top_features.items()
    }
