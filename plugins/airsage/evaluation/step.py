"""The evaluate step: run the evaluation job on a model and the run's evaluation set.

The run's ``test`` split is its evaluation set (held out of every training window by a stable
hash of the review id, see :mod:`airsage.prepare.split`). The Airflow layer calls
:func:`evaluate_model` for the candidate, and the registry step calls it again with
``report_name="champion"`` for the current champion, so both are measured by the same job on
the same rows in the same run; each writes its per-row ``predictions.json`` for the paired
test of the condition step.
"""

from __future__ import annotations

import datetime as dt_
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError, InputDataError
from airsage.evaluation.base import (
    BIAS_FILE,
    EVALUATION_FILE,
    EXPLANATIONS_FILE,
    PREDICTIONS_FILE,
    REPORT_KIND,
    EvaluationReport,
    EvaluationSettings,
)
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value

TEST_SPLIT = "test"
DEFAULT_LABEL_COLUMN = "sentiment"


def _bias_config(settings: Settings) -> dict[str, Any]:
    """The bias section as the job reads it; empty when no facet is configured."""
    raw = settings.section("bias")
    if not raw.get("facet"):
        return {}
    from airsage.bias.base import BiasSettings

    bias = BiasSettings.from_settings(settings)
    return {
        "facet": bias.facet,
        "facet_values": list(bias.facet_values) if bias.facet_values is not None else None,
        "facet_threshold": bias.facet_threshold,
        "label": bias.label,
        "label_values": list(bias.label_values),
        "group": bias.group,
    }


def job_config(settings: Settings, dataset: str) -> dict[str, Any]:
    """The ``--config`` JSON the evaluation job receives (same on both targets)."""
    spec = settings.dataset(dataset)
    evaluation = EvaluationSettings.from_settings(settings)
    label_column = str(settings.section("evaluation").get("label_column", DEFAULT_LABEL_COLUMN))
    return {
        "text_column": spec.text_column,
        "label_column": label_column,
        "evaluation": {
            "bootstrap_samples": evaluation.bootstrap_samples,
            "attribution_samples": evaluation.attribution_samples,
            "attribution_max_words": evaluation.attribution_max_words,
            "top_k": evaluation.top_k,
            "seed": evaluation.seed,
        },
        "bias": _bias_config(settings),
    }


def _job(settings: Settings) -> Any:
    if settings.target != "local":
        from airsage.targets import implementation

        try:
            return implementation("evaluation", settings)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"evaluate: no evaluation job for target {settings.target!r}; run the local "
                "target or register one with airsage.targets.register('evaluation', ...)"
            ) from exc
    from airsage.evaluation.local import LocalEvaluationJob

    return LocalEvaluationJob(settings)


def _write_bias_holdout(lake: Lake, layout: LakeLayout, day: str, destination: Path) -> bool:
    """Every curated row of the day that the model neither trained nor was selected on.

    Undersampling holds back most rows of the larger classes; with the test split they keep
    the day's natural class mix and enough rows of a small facet for post-training bias to
    mean something. Without a curated file the job falls back to the test split.
    """
    import pandas as pd

    curated_key = layout.curated(day) + "reviews.parquet"
    if not lake.exists(curated_key):
        return False
    with tempfile.TemporaryDirectory(prefix="airsage-holdout-") as scratch:
        curated = pd.read_parquet(lake.download(curated_key, Path(scratch) / "curated.parquet"))
        seen: set[int] = set()
        for split in ("train", "validation"):
            for key in lake.list(layout.features(day, split)):
                if key.endswith(".parquet"):
                    local = lake.download(key, Path(scratch) / f"{split}.parquet")
                    ids = pd.read_parquet(local, columns=["review_id"])["review_id"]
                    seen.update(ids.astype("int64").tolist())
    text = curated["review_text"].fillna("").astype(str).str.strip()
    keep = (~curated["review_id"].isin(seen)) & (text != "") & curated["sentiment"].notna()
    destination.parent.mkdir(parents=True, exist_ok=True)
    curated[keep].reset_index(drop=True).to_parquet(destination, index=False)
    return True


def evaluate_model(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    model_artifact_key: str,
    *,
    report_name: str = "candidate",
    model_artifact_path: Path | None = None,
) -> EvaluationReport:
    """Evaluate ``model_artifact_key`` (a lake key of a model.tar.gz) on the run's evaluation
    set (the ``test`` split under the run day's features).

    ``model_artifact_path``, when given, is a local model.tar.gz used instead of the lake key
    (a registered champion whose artifact lives in the registry's store); the key is then
    only recorded. Writes ``evaluation.json``, ``analysis.json`` and ``explanations.json``
    under ``reports/evaluation/<dataset>/dt=<day>/<report_name>/``.
    """
    if not report_name or "/" in report_name:
        raise ConfigurationError(
            f"evaluate: report_name {report_name!r} must be a non-empty name without '/'"
        )
    layout = LakeLayout(dataset)
    day_text = partition_value(day)
    test_prefix = layout.features(day_text, TEST_SPLIT)
    test_keys = [k for k in lake.list(test_prefix) if k.endswith((".parquet", ".csv"))]
    if not test_keys:
        raise InputDataError(
            f"evaluate: no test split for dataset {dataset!r} on {day_text}: nothing under "
            f"{lake.uri(test_prefix)}; run the prepare step for that day first"
        )
    config = job_config(settings, dataset)

    with tempfile.TemporaryDirectory(prefix="airsage-evaluate-") as scratch:
        root = Path(scratch)
        model_tar = root / "model" / "model.tar.gz"
        if model_artifact_path is not None:
            source = Path(model_artifact_path)
            if not source.is_file():
                raise InputDataError(
                    f"evaluate: model artifact {source} (for {model_artifact_key}) does not exist"
                )
            model_tar.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, model_tar)
        else:
            if not lake.exists(model_artifact_key):
                raise InputDataError(
                    f"evaluate: no model artifact at {lake.uri(model_artifact_key)}; pass the "
                    "model_artifact_key of a completed training job"
                )
            lake.download(model_artifact_key, model_tar)
        for key in test_keys:
            lake.download(key, root / "test" / key.rsplit("/", 1)[-1])
        _write_bias_holdout(lake, layout, day_text, root / "bias" / "holdout.parquet")
        outputs = _job(settings).run(root, config)

    evaluation = outputs[EVALUATION_FILE]
    evaluation.setdefault("metadata", {}).update(
        {"dataset": dataset, "day": day_text, "report_name": report_name,
         "model_artifact_key": model_artifact_key, "test_split": test_prefix}
    )
    keys = {
        name: layout.report(REPORT_KIND, day_text, f"{report_name}/{name}")
        for name in (EVALUATION_FILE, BIAS_FILE, EXPLANATIONS_FILE, PREDICTIONS_FILE)
    }
    uris = {}
    for name, key in keys.items():
        if name in outputs:
            document = json.dumps(outputs[name], indent=2, sort_keys=True).encode()
            uris[name] = lake.write_bytes(key, document)
        else:  # a rerun must not leave an earlier run's report beside this one
            lake.delete_prefix(key)
    return EvaluationReport(
        dataset=dataset,
        day=day_text,
        report_name=report_name,
        model_artifact_key=model_artifact_key,
        evaluation=evaluation,
        posttraining_bias=outputs.get(BIAS_FILE, {}),
        feature_attribution=outputs.get(EXPLANATIONS_FILE, {}),
        report_key=keys[EVALUATION_FILE],
        bias_report_key=keys[BIAS_FILE] if BIAS_FILE in outputs else "",
        explanations_key=keys[EXPLANATIONS_FILE] if EXPLANATIONS_FILE in outputs else "",
        report_uri=uris[EVALUATION_FILE],
        predictions_key=keys[PREDICTIONS_FILE] if PREDICTIONS_FILE in outputs else "",
    )


def read_predictions(lake: Lake, report: EvaluationReport) -> dict[str, Any] | None:
    """The report's ``predictions.json`` (review_id, label, predicted), or None without one."""
    if not report.predictions_key or not lake.exists(report.predictions_key):
        return None
    return json.loads(lake.read_bytes(report.predictions_key))
