"""Build a model version's baseline: ``statistics.json``, ``constraints.json``, ``vocabulary.json``.

The baseline describes what the model was trained on (the input features), what the text
looked like (derived text features and the training vocabulary) and what the model answered
(the prediction distribution), so that the monitor can tell which of the three moved.
Constraints follow Model Monitor's schema; the ``airsage`` block adds what Model Monitor has
no field for (which features are derived, the vocabulary file, the quality baseline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from airsage.monitoring.base import (
    FRACTIONAL,
    INTEGRAL,
    PREDICTION_CONFIDENCE,
    PREDICTION_LABEL,
    STRING,
    TEXT_LENGTH,
    TEXT_OOV_RATE,
    TEXT_TOKENS,
    VOCABULARY_FILE,
    MonitoringSettings,
)
from airsage.monitoring.statistics import (
    common_counts,
    feature_statistics,
    statistics_document,
    suggested_domain,
)
from airsage.monitoring.text import TOKENIZER, build_vocabulary, text_features, tokenize

# derived feature -> its role (the check type that watches it)
DERIVED_FEATURES = {
    TEXT_LENGTH: "text",
    TEXT_TOKENS: "text",
    TEXT_OOV_RATE: "text",
    PREDICTION_LABEL: "prediction",
    PREDICTION_CONFIDENCE: "prediction",
}
DERIVED_TYPES = {
    TEXT_LENGTH: INTEGRAL,
    TEXT_TOKENS: INTEGRAL,
    TEXT_OOV_RATE: FRACTIONAL,
    PREDICTION_LABEL: STRING,
    PREDICTION_CONFIDENCE: FRACTIONAL,
}


@dataclass(frozen=True)
class Baseline:
    """The baseline documents: data quality (``statistics``, ``constraints``), the
    vocabulary, and — when labels were known — model quality, in files of their own as
    Model Monitor's model-quality job writes them (``model_quality/``)."""

    statistics: dict[str, Any]
    constraints: dict[str, Any]
    vocabulary: dict[str, Any]
    model_quality_statistics: dict[str, Any] | None = None
    model_quality_constraints: dict[str, Any] | None = None


def derived_columns(
    texts: Sequence[Any],
    predicted_labels: Sequence[Any] | None,
    confidences: Sequence[float | None] | None,
    vocabulary: Mapping[str, int],
    *,
    min_count: int,
    leave_one_out: bool = False,
) -> dict[str, list[Any]]:
    """The derived feature columns (text features always, prediction ones when given)."""
    text = text_features(texts, vocabulary, min_count=min_count, leave_one_out=leave_one_out)
    columns: dict[str, list[Any]] = {
        TEXT_LENGTH: text["length"],
        TEXT_TOKENS: text["tokens"],
        TEXT_OOV_RATE: text["oov_rate"],
    }
    if predicted_labels is not None:
        columns[PREDICTION_LABEL] = [None if label is None else str(label)
                                     for label in predicted_labels]
    if confidences is not None:
        columns[PREDICTION_CONFIDENCE] = list(confidences)
    return columns


def build_baseline(
    columns: Mapping[str, Sequence[Any]],
    *,
    probabilities: np.ndarray,
    labels: Sequence[int],
    settings: MonitoringSettings,
    quality: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Baseline:
    """Baseline documents from the feature columns and the model's class probabilities.

    ``columns`` holds at least ``settings.features``; ``probabilities`` has one row per row
    of the columns, its columns ordered as ``labels``. ``quality`` is
    ``{"accuracy": x, "n": rows, "reference": "validation"|"train"}`` when labels were known,
    with ``"pairs"``: the (predicted, actual) labels, when the rows themselves were labelled.
    """
    missing = [name for name in settings.features if name not in columns]
    if missing:
        raise ValueError(f"baseline data lacks the feature column(s) {missing}")
    rows = len(columns[settings.features[0]])
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape != (rows, len(labels)):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}; expected ({rows}, {len(labels)})"
        )
    texts = list(columns[settings.text_column])
    vocabulary = build_vocabulary((tokenize(text) for text in texts), settings.vocabulary_min_count)
    predicted = [labels[i] for i in probabilities.argmax(axis=1)] if rows else []
    confidence = probabilities.max(axis=1).tolist() if rows else []
    derived = derived_columns(texts, predicted, confidence, vocabulary,
                              min_count=settings.vocabulary_min_count, leave_one_out=True)

    stats_entries: list[dict[str, Any]] = []
    constraint_entries: list[dict[str, Any]] = []
    for name in settings.features:
        entry = feature_statistics(name, list(columns[name]), sketch_size=settings.sketch_size,
                                   max_domain_size=settings.max_domain_size)
        stats_entries.append(entry)
        constraint_entries.append(_constraint(entry, settings.max_domain_size))
    for name, values in derived.items():
        entry = feature_statistics(name, values, kind=DERIVED_TYPES[name],
                                   sketch_size=settings.sketch_size,
                                   max_domain_size=settings.max_domain_size)
        entry["inferred_type"] = DERIVED_TYPES[name]
        stats_entries.append(entry)
        constraint_entries.append(_constraint(entry, settings.max_domain_size))

    statistics = statistics_document(rows, stats_entries)
    constraints: dict[str, Any] = {
        "version": 0,
        "features": constraint_entries,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": settings.datatype_check_threshold,
            "domain_content_threshold": settings.domain_content_threshold,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": settings.distribution_threshold,
                "comparison_method": settings.comparison_method,
                "categorical_comparison_threshold": settings.categorical_threshold,
                "categorical_drift_method": settings.categorical_drift_method,
            },
        },
    }
    airsage_block: dict[str, Any] = {
        "input_features": list(settings.features),
        "text_column": settings.text_column,
        "identifier_columns": list(settings.identifier_columns),
        "derived_features": dict(DERIVED_FEATURES),
        "labels": [int(label) for label in labels],
        "vocabulary_file": VOCABULARY_FILE,
        "vocabulary_min_count": settings.vocabulary_min_count,
        **dict(metadata or {}),
    }
    quality_statistics = quality_constraints = None
    if quality and quality.get("accuracy") is not None:
        from airsage.monitoring import model_quality

        accuracy = float(quality["accuracy"])
        n = int(quality.get("n") or 0)
        if quality.get("pairs"):
            quality_statistics = model_quality.statistics_document(list(quality["pairs"]))
        else:  # only the accuracy of a reference split is known
            std = math.sqrt(accuracy * (1 - accuracy) / n) if n else 0.0
            quality_statistics = {"version": 0.0, "dataset": {"item_count": n},
                                  model_quality.METRICS_KEY: {
                                      "accuracy": {"value": accuracy, "standard_deviation": std}}}
        quality_constraints = model_quality.constraints_document(
            quality_statistics[model_quality.METRICS_KEY], settings.accuracy_tolerance)
        airsage_block["baseline_accuracy"] = accuracy
        airsage_block["quality_reference"] = quality.get("reference")
        airsage_block["quality_rows"] = n
    constraints["airsage"] = airsage_block
    vocabulary_doc = {
        "tokenizer": TOKENIZER,
        "min_count": settings.vocabulary_min_count,
        "size": len(vocabulary),
        "documents": rows,
        "tokens": vocabulary,
    }
    return Baseline(statistics=statistics, constraints=constraints, vocabulary=vocabulary_doc,
                    model_quality_statistics=quality_statistics,
                    model_quality_constraints=quality_constraints)


def _constraint(entry: Mapping[str, Any], max_domain_size: int = 100) -> dict[str, Any]:
    """Model Monitor's suggested constraint for a column: type, completeness, domain."""
    present, missing = common_counts(entry)
    total = present + missing
    constraint: dict[str, Any] = {
        "name": entry["name"],
        "inferred_type": entry["inferred_type"],
        "completeness": (present / total) if total else 0.0,
    }
    numeric = entry.get("numerical_statistics")
    if numeric is not None:
        constraint["num_constraints"] = {"is_non_negative": bool(numeric.get("min", 0.0) >= 0.0)}
    strings = entry.get("string_statistics")
    if strings is not None:
        domain = suggested_domain(strings, max_domain_size)
        if domain:
            constraint["string_constraints"] = {"domains": domain}
    return constraint
