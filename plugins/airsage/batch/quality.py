"""Model quality of batch predictions once their labels arrive: the monitor's own judgement.

Batch predictions (``predictions/<dataset>/dt=<day>/model_version=<v>/predictions.parquet``)
are made before anyone knows the answer; the labels come later (here: the ``sentiment`` of
the curated partition, ``monitoring.label_column``). Joined on ``review_id`` they are what
Model Monitor's model-quality job measures, so this module hands them to the monitor's
:func:`airsage.monitoring.model_quality.evaluate_model_quality` unchanged — each prediction
a captured record, each label its ground truth — and gets the same
``multiclass_classification_metrics`` and, against the version's baseline
``multiclass_classification_constraints``, the same violations.

:func:`join_labels` is pure; :func:`batch_model_quality` reads the lake and writes
``statistics.json`` and ``constraint_violations.json`` under the scoring's
``model_quality/`` (a rerun overwrites them).

The drift monitor uses it with ``monitoring.batch_quality_delay_days: N`` (0, the default:
off): a monitor run whose interval starts a UTC day judges the serving version's batch
predictions of the day N days before — once per day, deterministically, by the time its
labels have arrived (:func:`days_to_judge`, :func:`judge_batch_predictions`); their
violations count with the interval's own.
"""

from __future__ import annotations

import datetime as dt_
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airsage.errors import ConfigurationError, InputDataError

if TYPE_CHECKING:
    from airsage.config import Settings
    from airsage.lake.base import Lake
    from airsage.monitoring.base import Violation
    from airsage.monitoring.capture import CaptureRecord, ParsedGroundTruth
    from airsage.monitoring.model_quality import ModelQualityReport

ID_COLUMN = "review_id"


@dataclass(frozen=True)
class Joined:
    """Predictions as captured records and labels as ground truth, with what did not join."""

    records: list[CaptureRecord]
    ground_truth: ParsedGroundTruth
    unlabelled: int  # predictions whose row has no label yet
    unpredicted: int  # labels of rows that were not scored


def join_labels(predictions: Iterable[Mapping[str, Any]],
                labels: Iterable[Mapping[str, Any]], *, label_column: str) -> Joined:
    """Predictions (``review_id``, ``predicted_label``) joined with labelled rows
    (``review_id``, ``label_column``; a null label has not arrived) by review id."""
    from airsage.monitoring.capture import CaptureRecord, ParsedGroundTruth

    records = []
    for row in predictions:
        records.append(CaptureRecord(
            event_id=f"{ID_COLUMN}={row[ID_COLUMN]}", inference_id=None, position=0, text=None,
            features=None, label=int(row["predicted_label"]), confidence=None))
    scored = {record.event_id for record in records}
    truth: dict[str, list[int]] = {}
    unpredicted = 0
    for row in labels:
        if row.get(label_column) is None:
            continue
        key = f"{ID_COLUMN}={row[ID_COLUMN]}"
        if key not in scored:
            unpredicted += 1
            continue
        truth[key] = [int(row[label_column])]
    return Joined(records=records, unpredicted=unpredicted,
                  unlabelled=len(scored) - len(truth),
                  ground_truth=ParsedGroundTruth(labels=truth, lines=len(truth)))


def _rows(lake: Lake, key: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    import pandas as pd

    if not lake.exists(key):
        raise InputDataError(f"model quality: no {lake.uri(key)}; score the partition first "
                             "(reviews_batch_scoring) and land its day")
    frame = pd.read_parquet(io.BytesIO(lake.read_bytes(key)))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputDataError(f"model quality: {lake.uri(key)} lacks column(s) {missing}")
    subset = frame[list(columns)].astype(object)
    return [{str(k): (None if v is None or v != v else v) for k, v in row.items()}
            for row in subset.to_dict(orient="records")]


def _json(lake: Lake, key: str) -> dict[str, Any] | None:
    return json.loads(lake.read_bytes(key)) if lake.exists(key) else None


def batch_model_quality(settings: Settings, lake: Lake, dataset: str, day: str, *,
                        model_name: str, model_version: str,
                        evaluation_time: str | None = None) -> ModelQualityReport:
    """The scoring's model quality against its version's baseline constraints, written
    beside the predictions in Model Monitor's files."""
    from airsage.lake.layout import LakeLayout
    from airsage.monitoring.base import CONSTRAINTS_FILE, STATISTICS_FILE, VIOLATIONS_FILE, MonitoringSettings
    from airsage.monitoring.model_quality import (
        MODEL_QUALITY_DIR,
        constraints_block,
        evaluate_model_quality,
        violations_document,
    )
    from airsage.prepare.base import CURATED_FILE

    config = MonitoringSettings.from_settings(settings)
    layout = LakeLayout(dataset)
    predictions = _rows(lake, layout.predictions_table(day, model_version),
                        (ID_COLUMN, "predicted_label"))
    labels = _rows(lake, layout.curated(day) + CURATED_FILE, (ID_COLUMN, config.label_column))
    joined = join_labels(predictions, labels, label_column=config.label_column)
    baseline = layout.baseline(model_name, model_version)
    constraints = constraints_block(_json(lake, baseline + MODEL_QUALITY_DIR + CONSTRAINTS_FILE),
                                    _json(lake, baseline + CONSTRAINTS_FILE))
    report = evaluate_model_quality(
        joined.records, joined.ground_truth, constraints=constraints,
        min_ground_truth=config.min_ground_truth, method=config.comparison_method,
        evaluation_time=evaluation_time)
    report.summary.update(unlabelled=joined.unlabelled, unpredicted=joined.unpredicted,
                          model_version=model_version, day=day)
    prefix = layout.predictions(day, model_version) + MODEL_QUALITY_DIR
    if report.statistics is not None:
        lake.write_bytes(prefix + STATISTICS_FILE,
                         json.dumps(report.statistics, indent=2).encode("utf-8"))
    lake.write_bytes(prefix + VIOLATIONS_FILE,
                     json.dumps(violations_document(report.violations), indent=2).encode("utf-8"))
    return report


def days_to_judge(hours: Sequence[dt_.datetime], delay_days: int) -> list[str]:
    """The days whose batch predictions a monitor run over ``hours`` judges: for each hour
    that starts a UTC day, the day ``delay_days`` before it (0: none, the option is off)."""
    if delay_days < 0:
        raise ConfigurationError(
            f"monitoring.batch_quality_delay_days is {delay_days}; use 0 (off) or the days "
            "after which a scored day's labels have arrived")
    if delay_days == 0:
        return []
    return [(hour.astimezone(dt_.UTC).date() - dt_.timedelta(days=delay_days)).isoformat()
            for hour in hours if hour.astimezone(dt_.UTC).hour == 0]


def judge_batch_predictions(settings: Settings, lake: Lake, dataset: str, days: Sequence[str], *,
                            model_name: str, model_version: str
                            ) -> tuple[list[Violation], list[dict[str, Any]]]:
    """The model-quality violations of ``model_version``'s batch predictions of ``days``,
    and a summary per day (a day without predictions or labels says so, and judges nothing)."""
    from airsage.lake.layout import LakeLayout
    from airsage.prepare.base import CURATED_FILE

    layout = LakeLayout(dataset)
    violations: list[Violation] = []
    summaries: list[dict[str, Any]] = []
    for day in days:
        if not lake.exists(layout.predictions_table(day, model_version)):
            summaries.append({"day": day, "model_version": model_version,
                              "verdict": f"no batch predictions of v{model_version}"})
            continue
        if not lake.exists(layout.curated(day) + CURATED_FILE):
            summaries.append({"day": day, "model_version": model_version,
                              "verdict": "no labels yet"})
            continue
        report = batch_model_quality(settings, lake, dataset, day, model_name=model_name,
                                     model_version=model_version)
        violations += report.violations
        summaries.append(report.summary)
    return violations, summaries
