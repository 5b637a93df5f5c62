"""Evaluate a model on a test split: a SageMaker processing-job script.

Inputs (the processing job's ProcessingInputs, under ``processing/input/`` of airsage's job
contract, :mod:`airsage.jobs.contract`; root ``AIRSAGE_JOB_ROOT``, default ``/opt/ml``):

- ``model/*.tar.gz``: the model artifact (airsage's model contract);
- ``test/*.parquet`` (or ``*.csv``): the prepared test split;
- optional, for post-training bias on every held-out row: ``curated/*.parquet`` (the run
  day's curated rows) and ``train/``, ``validation/`` (the splits the model trained and was
  selected on, whose ``review_id`` values are left out). Without them bias is measured on
  the test split.

Outputs, under ``processing/output/evaluation/``:

- ``evaluation.json``: ``multiclass_classification_metrics.<metric>.value`` and
  ``.standard_deviation``, as a SageMaker Pipelines PropertyFile/JsonGet reads it;
- ``analysis.json``: post-training bias metrics of the predictions, in SageMaker Clarify's
  ``post_training_bias_metrics`` shape;
- ``explanations.json``: the model's own top features and a word-occlusion attribution;
- ``predictions.json``: ``review_id``, ``label`` and ``predicted`` per test row, in the split's
  order, so two models scored on the same rows can be compared by a paired test.

The config (``processing/input/config/config.json``) is a JSON object with ``text_column``,
``label_column``, ``evaluation`` (bootstrap / attribution settings) and ``bias`` (facet,
facet_values or facet_threshold, label, label_values, group). Exit code 2: the inputs cannot
be used (no test rows, a missing column).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airsage.jobs import contract

OUTPUT = "evaluation"
HOLDOUT_CHANNELS = ("curated", "train", "validation")


def _model_file() -> Path:
    from airsage.errors import InputDataError

    directory = contract.processing_input("model")
    archives = sorted(directory.glob("*.tar.gz")) if directory.is_dir() else []
    if len(archives) != 1:
        raise InputDataError(
            f"evaluate: expected one model .tar.gz in {directory}, found "
            f"{[p.name for p in archives]}")
    return archives[0]


def _parquet_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.parquet")) if directory.is_dir() else []


def _holdout(text_column: str, label_column: str) -> Any:
    """Every curated row of the day that the model neither trained nor was selected on.

    Undersampling holds back most rows of the larger classes; with the test split they keep
    the day's natural class mix and enough rows of a small facet for post-training bias to
    mean something. None without a curated input (bias is then measured on the test split).
    """
    import pandas as pd

    curated_files = _parquet_files(contract.processing_input("curated"))
    if not curated_files:
        return None
    curated = pd.concat([pd.read_parquet(f) for f in curated_files], ignore_index=True)
    seen: set[int] = set()
    for split in ("train", "validation"):
        for path in _parquet_files(contract.processing_input(split)):
            ids = pd.read_parquet(path, columns=["review_id"])["review_id"]
            seen.update(ids.astype("int64").tolist())
    text = curated[text_column].fillna("").astype(str).str.strip()
    keep = (~curated["review_id"].isin(seen)) & (text != "") & curated[label_column].notna()
    return curated[keep].reset_index(drop=True)


def _read_test(test_dir: Path) -> Any:
    import pandas as pd

    from airsage.errors import InputDataError

    files = sorted(test_dir.glob("*.parquet")) if test_dir.is_dir() else [test_dir]
    if test_dir.is_dir() and not files:
        files = sorted(test_dir.glob("*.csv"))
    if not files or not all(f.exists() for f in files):
        raise InputDataError(f"evaluate: no *.parquet or *.csv test files in {test_dir}")
    frames = [pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f) for f in files]
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise InputDataError(f"evaluate: the test split in {test_dir} has no rows")
    return frame


def _bias_analysis(
    frame: Any, model: Any, bias: dict[str, Any], text_column: str
) -> dict[str, Any]:
    """Clarify's post-training metrics of the model's predictions, as ``analysis.json``."""
    from airsage.bias.base import POSTTRAINING_METRICS, MetricValues
    from airsage.bias.metrics import posttraining_metrics
    from airsage.bias.report import build_analysis
    from airsage.errors import InputDataError

    predicted_column = f"predicted_{bias['label']}"

    def predictor(rows: Any) -> list[Any]:
        return model.predict(rows[text_column].tolist()).tolist()

    try:
        values = posttraining_metrics(
            frame,
            facet=bias["facet"],
            facet_values=bias.get("facet_values"),
            facet_threshold=bias.get("facet_threshold"),
            label=bias["label"],
            label_values=bias["label_values"],
            predicted_label=predicted_column,
            group=bias.get("group"),
            predictor=predictor,
        )
    except InputDataError as exc:
        # A test split without the sensitive group (small splits) is not a crashed job: the
        # metrics are recorded as unmeasurable, and a gate with thresholds fails closed.
        values = MetricValues()
        for name in POSTTRAINING_METRICS:
            values.set(name, None, f"not measurable on this test split: {exc}")
    group = bias.get("facet_values")
    return build_analysis(
        label=bias["label"],
        label_values=bias["label_values"],
        facet=bias["facet"],
        facet_value_or_threshold=group if group is not None else bias["facet_threshold"],
        post_training=values,
    )


def run() -> dict[str, Any]:
    import numpy as np

    from airsage.evaluation.metrics import (
        evaluation_document,
        model_feature_summary,
        occlusion_attribution,
    )
    from airsage.training.model import load_model, unpack_model

    config = contract.read_config()
    settings = config.get("evaluation") or {}
    text_column = config.get("text_column", "review_text")
    label_column = config.get("label_column", "sentiment")
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="airsage-eval-") as scratch:
        model = load_model(unpack_model(_model_file(), Path(scratch) / "model"))
        frame = _read_test(contract.processing_input("test"))
        for column in (text_column, label_column):
            if column not in frame.columns:
                from airsage.errors import InputDataError

                raise InputDataError(
                    f"evaluate: the test split lacks the column {column!r}; columns: "
                    f"{list(frame.columns)}"
                )
        frame = frame[frame[label_column].notna()].reset_index(drop=True)
        if "review_id" in frame.columns:  # one canonical row order for paired comparisons
            frame = frame.sort_values("review_id", kind="mergesort").reset_index(drop=True)
        texts = frame[text_column].fillna("").astype(str).tolist()
        truth = frame[label_column].astype(int).to_numpy()
        predicted = np.asarray(model.predict(texts)).astype(int)
        ids = (frame["review_id"].astype("int64").tolist() if "review_id" in frame.columns
               else list(range(len(frame))))
        evaluation_set_sha256 = hashlib.sha256(
            ",".join(str(i) for i in sorted(ids)).encode()).hexdigest()
        labels = sorted({int(v) for v in model.labels} | {int(v) for v in truth})
        evaluation = evaluation_document(
            truth, predicted, labels,
            metadata={"model_family": model.family, "model_labels": list(model.labels),
                      "label_column": label_column, "text_column": text_column,
                      "evaluation_set_sha256": evaluation_set_sha256},
            bootstrap_samples=int(settings.get("bootstrap_samples", 200)),
            seed=int(settings.get("seed", 0)),
        )
        outputs: dict[str, Any] = {
            "evaluation.json": evaluation,
            "predictions.json": {"review_id": ids, "label": truth.tolist(),
                                 "predicted": predicted.tolist()},
        }

        bias = config.get("bias") or {}
        if bias.get("facet"):
            # The model predicts the label column, so bias is measured on that label. A
            # 5% test split holds a handful of rows of a small facet; when the step provides
            # every held-out row (never trained or selected on), bias is measured on those.
            bias = {**bias, "label": label_column}
            holdout = _holdout(text_column, label_column)
            bias_frame = frame if holdout is None else holdout
            bias_texts = bias_frame[text_column].fillna("").astype(str).tolist()
            bias_frame[f"predicted_{label_column}"] = (
                predicted if bias_frame is frame else np.asarray(model.predict(bias_texts)).astype(int)
            )
            outputs["analysis.json"] = _bias_analysis(bias_frame, model, bias, text_column)
            outputs["analysis.json"]["dataset_rows"] = len(bias_frame)

        rng = np.random.default_rng(int(settings.get("seed", 0)))
        sample_size = min(int(settings.get("attribution_samples", 40)), len(texts))
        sample = [texts[i] for i in sorted(rng.choice(len(texts), sample_size, replace=False))]
        top_k = int(settings.get("top_k", 15))
        outputs["explanations.json"] = {
            "version": "1.0",
            "model_family": model.family,
            "labels": [str(label) for label in model.labels],
            "explanations": {
                "model_top_features": model_feature_summary(model.top_features(top_k)),
                "word_occlusion": occlusion_attribution(
                    sample,
                    lambda batch: model.predict_proba(batch),
                    model.labels,
                    max_words=int(settings.get("attribution_max_words", 40)),
                    top_k=top_k,
                ),
            },
        }

    evaluation["metadata"]["duration_seconds"] = round(time.monotonic() - started, 3)
    output = contract.processing_output(OUTPUT)
    output.mkdir(parents=True, exist_ok=True)
    for name, document in outputs.items():
        (output / name).write_text(json.dumps(document, indent=2, sort_keys=True))
    accuracy = evaluation["multiclass_classification_metrics"]["accuracy"]["value"]
    print(f"test:accuracy={accuracy:.6f}")
    print(f"test:macro_f1={evaluation['multiclass_classification_metrics']['macro_f1']['value']:.6f}")
    return outputs


if __name__ == "__main__":
    sys.exit(contract.run_job(run, kind="processing"))
