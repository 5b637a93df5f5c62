"""The evaluate step: run the evaluation job on a model and the run's evaluation set.

The run's ``test`` split is its evaluation set (held out of every training window by a stable
hash of the review id, see :mod:`airsage.prepare.split`). The Airflow layer calls
:func:`evaluate_model` for the candidate, and the registry step calls it again with
``report_name="champion"`` for the current champion, so both are measured by the same job on
the same rows in the same run; each writes its per-row ``predictions.json`` for the paired
test of the condition step.

The seam's three phases (DESIGN.md, "The step seam"): :func:`evaluation_request` (pure: the
model key, the test split, the held-out rows' sources in; the report prefix
``reports/evaluation/<dataset>/dt=<day>/<report_name>/`` out) → the runner handed in
(locally :class:`airsage.jobs.local.LocalJobRunner`) → :func:`collect_evaluation` (the job's
documents read back from the lake into an :class:`EvaluationReport`).
"""

from __future__ import annotations

import datetime as dt_
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.evaluation.base import (
    BIAS_FILE,
    EVALUATION_FILE,
    EXPLANATIONS_FILE,
    PREDICTIONS_FILE,
    REPORT_KIND,
    EvaluationReport,
    EvaluationSettings,
)
from airsage.jobs.request import JobRequest, JobRunner, job_name
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.prepare.base import CURATED_FILE

TEST_SPLIT = "test"
DEFAULT_LABEL_COLUMN = "sentiment"
JOB_SCRIPT = "evaluate.py"
MODEL_CHANNEL = "model"
OUTPUT = "evaluation"  # the job's output, processing/output/evaluation/
# Sources of the held-out rows post-training bias is measured on (include/jobs/evaluate.py).
HOLDOUT_SPLITS = ("train", "validation")
STAGED_MODEL = "model.tar.gz"


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
    """The evaluation job's config (its ``config.json``; the same on both targets)."""
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


def holdout_inputs(lake: Lake, dataset: str, day: dt_.date | str) -> dict[str, str]:
    """The held-out rows' sources that exist: the day's curated file and the train and
    validation splits (whose rows the job leaves out). Empty without a curated file: the
    job then measures post-training bias on the test split."""
    layout = LakeLayout(dataset)
    curated_key = layout.curated(day) + CURATED_FILE
    if not lake.exists(curated_key):
        return {}
    inputs = {"curated": curated_key}
    for split in HOLDOUT_SPLITS:
        prefix = layout.features(day, split)
        if next(iter(lake.list(prefix)), None) is not None:
            inputs[split] = prefix
    return inputs


def _check_report_name(report_name: str) -> None:
    if not report_name or "/" in report_name:
        raise ConfigurationError(
            f"evaluate: report_name {report_name!r} must be a non-empty name without '/'"
        )


def evaluation_request(
    settings: Settings,
    dataset: str,
    day: dt_.date | str,
    model_key: str,
    *,
    report_name: str = "candidate",
    holdout: Mapping[str, str] | None = None,
    job_identity: Any = None,
) -> JobRequest:
    """The evaluation job (pure): the model at ``model_key`` on the day's test split, the
    documents to ``reports/evaluation/<dataset>/dt=<day>/<report_name>/``. ``holdout`` are
    the held-out rows' sources (:func:`holdout_inputs`). ``job_identity``, when given, is
    hashed into the job name: the champion's evaluation names the version it measures, so a
    rerun after the champion changed runs a new job rather than re-attaching to the one that
    measured the previous champion (the candidate's model is already fixed by the run)."""
    _check_report_name(report_name)
    layout = LakeLayout(dataset)
    day_text = partition_value(day)
    return JobRequest(
        kind="processing",
        job_name=job_name(dataset, day_text, f"evaluate-{report_name}", job_identity),
        script=JOB_SCRIPT,
        inputs={MODEL_CHANNEL: model_key, TEST_SPLIT: layout.features(day_text, TEST_SPLIT),
                **dict(holdout or {})},
        outputs={OUTPUT: layout.report(REPORT_KIND, day_text, f"{report_name}/")},
        config=job_config(settings, dataset),
        timeout_seconds=EvaluationSettings.from_settings(settings).timeout_seconds,
    )


def collect_evaluation(
    lake: Lake,
    request: JobRequest,
    *,
    dataset: str,
    day: dt_.date | str,
    report_name: str,
    model_artifact_key: str,
) -> EvaluationReport:
    """Read the job's documents back from the lake; record where they came from in
    ``evaluation.json``'s metadata. A missing ``evaluation.json`` fails the step: a blessing
    must never be computed from a missing report."""
    prefix = request.output(OUTPUT)
    day_text = partition_value(day)
    documents: dict[str, dict[str, Any]] = {}
    for name in (EVALUATION_FILE, BIAS_FILE, EXPLANATIONS_FILE, PREDICTIONS_FILE):
        if lake.exists(prefix + name):
            try:
                documents[name] = json.loads(lake.read_bytes(prefix + name))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise StepFailed(f"evaluate: {lake.uri(prefix + name)} is not JSON: {exc}; "
                                 "rerun the task") from exc
    if EVALUATION_FILE not in documents:
        raise StepFailed(
            f"evaluate: job {request.job_name} completed but wrote no {EVALUATION_FILE} under "
            f"{lake.uri(prefix)}; rerun the task"
        )
    evaluation = documents[EVALUATION_FILE]
    evaluation.setdefault("metadata", {}).update(
        {"dataset": dataset, "day": day_text, "report_name": report_name,
         "model_artifact_key": model_artifact_key, "test_split": request.inputs[TEST_SPLIT]}
    )
    report_key = prefix + EVALUATION_FILE
    report_uri = lake.write_bytes(
        report_key, json.dumps(evaluation, indent=2, sort_keys=True).encode())
    return EvaluationReport(
        dataset=dataset,
        day=day_text,
        report_name=report_name,
        model_artifact_key=model_artifact_key,
        evaluation=evaluation,
        posttraining_bias=documents.get(BIAS_FILE, {}),
        feature_attribution=documents.get(EXPLANATIONS_FILE, {}),
        report_key=report_key,
        bias_report_key=prefix + BIAS_FILE if BIAS_FILE in documents else "",
        explanations_key=prefix + EXPLANATIONS_FILE if EXPLANATIONS_FILE in documents else "",
        report_uri=report_uri,
        predictions_key=prefix + PREDICTIONS_FILE if PREDICTIONS_FILE in documents else "",
    )


def evaluate_model(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    model_artifact_key: str,
    *,
    report_name: str = "candidate",
    model_artifact_path: Path | None = None,
    runner: JobRunner,
    job_identity: Any = None,
) -> EvaluationReport:
    """Evaluate ``model_artifact_key`` (a lake key of a model.tar.gz) on the run's evaluation
    set (the ``test`` split under the run day's features), with ``runner``.

    ``model_artifact_path``, when given, is a local model.tar.gz used instead of the lake key
    (a registered champion whose artifact lives in the registry's store): it is staged into
    the lake (``LakeLayout.job_input``), since a job reads lake keys only; the key is then
    only recorded. ``runner`` is the engine the Airflow layer hands in; ``job_identity`` is
    :func:`evaluation_request`'s.
    """
    _check_report_name(report_name)
    layout = LakeLayout(dataset)
    day_text = partition_value(day)
    test_prefix = layout.features(day_text, TEST_SPLIT)
    if not any(k.endswith((".parquet", ".csv")) for k in lake.list(test_prefix)):
        raise InputDataError(
            f"evaluate: no test split for dataset {dataset!r} on {day_text}: nothing under "
            f"{lake.uri(test_prefix)}; run the prepare step for that day first"
        )
    request = evaluation_request(settings, dataset, day_text, model_artifact_key,
                                 report_name=report_name,
                                 holdout=holdout_inputs(lake, dataset, day_text),
                                 job_identity=job_identity)
    if model_artifact_path is not None:
        source = Path(model_artifact_path)
        if not source.is_file():
            raise InputDataError(
                f"evaluate: model artifact {source} (for {model_artifact_key}) does not exist"
            )
        staged = layout.job_input(request.job_name, STAGED_MODEL)
        lake.upload(source, staged)
        request = request.with_changes(inputs={**request.inputs, MODEL_CHANNEL: staged})
    elif not lake.exists(model_artifact_key):
        raise InputDataError(
            f"evaluate: no model artifact at {lake.uri(model_artifact_key)}; pass the "
            "model_artifact_key of a completed training job"
        )
    runner.run(lake, request)
    return collect_evaluation(lake, request, dataset=dataset, day=day_text,
                              report_name=report_name, model_artifact_key=model_artifact_key)


def read_predictions(lake: Lake, report: EvaluationReport) -> dict[str, Any] | None:
    """The report's ``predictions.json`` (review_id, label, predicted), or None without one."""
    if not report.predictions_key or not lake.exists(report.predictions_key):
        return None
    return json.loads(lake.read_bytes(report.predictions_key))
