"""The bias gate step (pre-training) and the post-training helper the evaluation step uses.

The step has the seam's three phases (DESIGN.md, "The step seam"):

- :func:`bias_request` (pure) turns the ``bias:`` settings into Clarify's analysis config
  and a processing-job request for ``include/jobs/bias.py``: the batch's lake key in, the
  report prefix ``reports/bias/<dataset>/dt=<day>/pre_training/`` out;
- the runner the Airflow layer hands in runs it (locally :class:`LocalJobRunner`);
- :func:`collect_bias` reads ``analysis.json`` back from the lake, writes the verdict beside
  it, and refuses the batch when any metric crosses its ``fail`` limit (or cannot be
  measured while it has one: fail closed).

:func:`run_bias_gate` is the three in a row.

With ``bias.engine: clarify`` (aws target only) the same request runs SageMaker Clarify's own
container (:func:`clarify_request`): the same analysis config without airsage's additions,
the same data key (Clarify reads Parquet, CSV with a header row and JSON Lines as they are),
the same output prefix, so :func:`collect_bias` reads Clarify's ``analysis.json`` into the
same verdict. Clarify does not know ``min_group_size``: every group it reports is judged.

With ``bias.gate_groups: all`` (the default) every value of each gate facet is judged in turn
as the sensitive group, as Clarify does when no facet value is given: a batch biased against
*any* department fails, not only against the one named in ``facet_values``. A group with
fewer than ``bias.min_group_size`` rows is reported as "too few rows to judge" (its metrics
would be noise, or an infinite KL); when no group is large enough the gate fails closed.
A ``warn`` is logged, returned in the report and turned into a warning alert by
:func:`warning_alert` (the task sends it).
"""

from __future__ import annotations

import datetime as dt_
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from airsage.bias.base import (
    ANALYSIS_FILE,
    CLARIFY_ENGINE,
    FAIL,
    GATE_NAME,
    PASS,
    POST_TRAINING_ANALYSIS,
    POST_TRAINING_VERDICT,
    PRE_TRAINING_ANALYSIS,
    PRE_TRAINING_VERDICT,
    REPORT_KIND,
    SKIPPED,
    WARN,
    BiasReport,
    BiasSettings,
    BiasVerdict,
    MetricCheck,
    MetricValues,
    Threshold,
)
from airsage.bias.report import build_analysis, evaluate_thresholds, read_groups
from airsage.config import Settings
from airsage.errors import (
    ConfigurationError,
    GateFailedError,
    GateFailure,
    InputDataError,
    StepFailed,
)
from airsage.jobs.request import JobRequest, JobRunner, job_name
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value

if TYPE_CHECKING:
    import pandas as pd

    from airsage.alerts.base import Alert

log = logging.getLogger(__name__)

JOB_SCRIPT = "bias.py"
DATA_CHANNEL = "data"  # the job's input channel (include/jobs/bias.py reads it)
ANALYSIS_OUTPUT = "analysis"  # the job's output, processing/output/analysis/
STEP = "bias-gate"
DATASET_TYPES = {
    ".parquet": "application/x-parquet",
    ".csv": "text/csv",
    ".jsonl": "application/jsonlines",
    ".json": "application/jsonlines",
}


def analysis_config(
    bias: BiasSettings,
    *,
    dataset_type: str = "application/x-parquet",
    predicted_label: str | None = None,
) -> dict[str, Any]:
    """Clarify's analysis config for the configured facet, label and group.

    Every metric of the stage is computed (``methods: all``): the report shows them all,
    the thresholds decide which ones gate. The pre-training gate with ``gate_groups: all``
    names each gate facet without a value (every value is measured); the post-training
    config (``predicted_label``) always names the configured group.
    """
    threshold = bias.facet_threshold is not None
    if bias.gate_groups == "all" and predicted_label is None:
        facets: list[dict[str, Any]] = [{"name_or_index": name} for name in bias.gate_facets]
    else:
        facets = [{
            "name_or_index": bias.facet,
            "value_or_threshold": list(_facet_values(bias)),
            "facet_type": "threshold" if threshold else "values",
        }]
    config: dict[str, Any] = {
        "dataset_type": dataset_type,
        "label": bias.label,
        "label_values_or_threshold": list(bias.label_values),
        "label_type": "values",
        "facet": facets,
        "methods": {"pre_training_bias": {"methods": "all"}},
    }
    if bias.min_group_size:
        config["min_group_size"] = bias.min_group_size
    if bias.group:
        config["group_variable"] = bias.group
    if predicted_label is not None:
        config["predicted_label"] = predicted_label
        config["methods"] = {"post_training_bias": {"methods": "all"}}
    return config


# airsage's additions to the analysis config (include/jobs/bias.py reads them); Clarify's
# schema (sagemaker.core.clarify.ANALYSIS_CONFIG_SCHEMA_V1_0) refuses them, and infers
# values / threshold from the column's type instead.
AIRSAGE_CONFIG_KEYS = ("label_type", "min_group_size")
AIRSAGE_FACET_KEYS = ("facet_type",)
# Clarify reads these as airsage writes them (CSV with its header row: no "headers" needed).
CLARIFY_DATASET_TYPES = ("application/x-parquet", "text/csv")


def clarify_analysis_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis config Clarify's container reads: airsage's, less airsage's additions."""
    clarify = {k: v for k, v in config.items() if k not in AIRSAGE_CONFIG_KEYS}
    if "facet" in clarify:
        clarify["facet"] = [{k: v for k, v in facet.items() if k not in AIRSAGE_FACET_KEYS}
                            for facet in clarify["facet"]]
    return clarify


def clarify_request(request: JobRequest, *, target: str) -> JobRequest:
    """The bias job ``request`` run by SageMaker Clarify's container (pure): same job name,
    data, output prefix, facet, label, groups and methods; Clarify's config."""
    from airsage.jobs.aws import CLARIFY_JOB

    if target != "aws":
        raise ConfigurationError(
            f"bias.engine: {CLARIFY_ENGINE} runs SageMaker Clarify's container, which exists "
            f"only as a SageMaker processing job; the {target!r} target cannot run it. Use "
            "bias.engine: airsage here (the same Clarify metrics and analysis.json, computed "
            "by include/jobs/bias.py), or the aws target")
    dataset_type = request.config.get("dataset_type")
    if dataset_type not in CLARIFY_DATASET_TYPES:
        raise InputDataError(
            f"bias.engine: {CLARIFY_ENGINE}: the batch {request.inputs[DATA_CHANNEL]!r} is "
            f"{dataset_type}; airsage hands Clarify only {list(CLARIFY_DATASET_TYPES)} (its "
            "JSON Lines is a dense 'features' array, not records of named columns). Curate "
            "the batch as Parquet, or use bias.engine: airsage")
    return request.with_changes(script=CLARIFY_JOB,
                                config=clarify_analysis_config(request.config))


def _facet_values(bias: BiasSettings) -> tuple[Any, ...]:
    if bias.facet_threshold is not None:
        return (bias.facet_threshold,)
    return tuple(bias.facet_values or ())


def gate_failures(verdict: BiasVerdict, facet_description: str) -> list[GateFailure]:
    """One GateFailure per failed metric: what, measured, expected, why."""
    failures = []
    for check in verdict.failures:
        where = f"facet {check.group}" if check.group else facet_description
        if not check.metric:  # no group could be judged: nothing was measured
            failures.append(GateFailure(check=f"bias ({where})", measured=None,
                                        expected="a group with enough rows to judge",
                                        message=check.reason))
            continue
        expected = f"{check.measure} <= {check.fail:g}" if check.fail is not None \
            else f"{check.measure} <= {check.warn:g}"
        measured = None if check.value is None else round(check.value, 4)
        failures.append(GateFailure(
            check=f"{check.metric} ({where})",
            measured=measured,
            expected=expected if measured is not None else f"a measured {check.metric}, {expected}",
            message=check.reason,
        ))
    return failures


def _write_json(lake: Lake, key: str, payload: Mapping[str, Any]) -> str:
    return lake.write_bytes(key, json.dumps(payload, indent=2, allow_nan=False).encode("utf-8"))


def _report(
    bias: BiasSettings, *, dataset: str, day: str, stage: str,
    metrics: Mapping[str, float | None], verdict: BiasVerdict,
    report_uri: str | None, verdict_uri: str | None,
    groups: tuple[Mapping[str, Any], ...] = (),
    facet_value_or_threshold: tuple[Any, ...] | None = None,
) -> BiasReport:
    return BiasReport(
        dataset=dataset, day=day, stage=stage, facet=bias.facet,
        facet_value_or_threshold=(_facet_values(bias) if facet_value_or_threshold is None
                                  else facet_value_or_threshold),
        label=bias.label, label_values=bias.label_values, metrics=dict(metrics),
        reasons=dict(getattr(metrics, "reasons", {})), verdict=verdict,
        report_uri=report_uri, verdict_uri=verdict_uri, groups=groups,
    )


_RANK = {FAIL: 3, WARN: 2, PASS: 1, SKIPPED: 0}


def judge_groups(
    analysis: Mapping[str, Any], bias: BiasSettings
) -> tuple[BiasVerdict, tuple[dict[str, Any], ...], MetricValues, str]:
    """Every group of the pre-training section against the thresholds.

    Returns the combined verdict (each check names its group), one summary per group, and
    the metrics and name of the worst group (the one the report shows as ``metrics``).
    Skipped groups are listed, never judged; no judged group at all fails closed.
    """
    checks: list[MetricCheck] = []
    summaries: list[dict[str, Any]] = []
    worst: tuple[int, float, MetricValues, str] | None = None
    for group in read_groups(analysis, stage="pre_training"):
        name = f"{group['facet']}={group['value']}"
        summary = {"facet": group["facet"], "value": group["value"], "rows": group["rows"]}
        if group["skipped"]:
            summaries.append({**summary, "status": SKIPPED, "reason": group["skipped"]})
            continue
        verdict = evaluate_thresholds(group["metrics"], bias.thresholds)
        checks.extend(replace(check, group=name) for check in verdict.checks)
        summaries.append({**summary, "status": verdict.status,
                          "reason": "; ".join(c.reason for c in verdict.checks
                                              if c.status in (FAIL, WARN))})
        dpl = group["metrics"].get("DPL")
        key = (_RANK[verdict.status], abs(dpl) if dpl is not None else 0.0)
        if worst is None or key > worst[:2]:
            worst = (*key, group["metrics"], name)
    if worst is None:
        reason = ("no facet group has enough rows to judge (bias.min_group_size = "
                  f"{bias.min_group_size}): " + "; ".join(
                      f"{s['facet']}={s['value']}: {s['reason']}" for s in summaries))
        checks.append(MetricCheck(metric="", value=None, status=FAIL,
                                  reason=reason, group="every group"))
        return (BiasVerdict(status=FAIL, checks=tuple(checks)), tuple(summaries),
                MetricValues(), "")
    statuses = {c.status for c in checks}
    overall = FAIL if FAIL in statuses else WARN if WARN in statuses else PASS
    return BiasVerdict(status=overall, checks=tuple(checks)), tuple(summaries), worst[2], \
        worst[3]


def warning_alert(report: BiasReport) -> Alert | None:
    """A warning alert for a ``warn`` verdict (None otherwise): which groups, which metrics."""
    if report.status != WARN:
        return None
    from airsage.alerts.base import Alert

    lines = [f"- {c.metric} ({'facet ' + c.group if c.group else report.facet}): {c.reason}"
             for c in report.warnings]
    return Alert(
        title=f"bias gate warns on {report.dataset} dt={report.day}: batch accepted",
        message="\n".join(lines + ([f"report: {report.report_uri}"] if report.report_uri
                                   else [])),
        severity="warning",
        partition=report.day,
        details={"warnings": [c.to_dict() for c in report.warnings],
                 "report_uri": report.report_uri},
    )


def _log_verdict(report: BiasReport) -> None:
    """Lines a person reads in the task log: the verdict, each warning, each skipped group."""
    judged = [g for g in report.groups if g.get("status") != SKIPPED]
    log.info("bias gate: %s dt=%s is %s (%d group(s) judged, %d too small to judge)",
             report.dataset, report.day, report.status.upper(), len(judged),
             len(report.groups) - len(judged))
    for check in report.warnings:
        log.warning("bias gate WARN: %s on %s: %s", check.metric,
                    check.group or report.facet, check.reason)
    for group in report.groups:
        if group.get("status") == SKIPPED:
            log.info("bias gate: %s=%s not judged: %s", group["facet"], group["value"],
                     group["reason"])


def _refuse_if_failed(report: BiasReport, bias: BiasSettings) -> None:
    if report.verdict.failures:
        raise GateFailedError(
            gate=GATE_NAME,
            resource=f"{report.dataset} dt={report.day} ({report.stage.replace('_', '-')})",
            failures=gate_failures(report.verdict, bias.facet_description),
            report_uri=report.report_uri,
        )


def bias_request(settings: Settings, dataset: str, day: dt_.date | str,
                 data_key: str) -> JobRequest:
    """The bias job for the batch at ``data_key`` (pure): Clarify's analysis config as the
    job's config, the pre-training report prefix as its output; with ``bias.engine:
    clarify``, the same job for Clarify's container (:func:`clarify_request`)."""
    bias = BiasSettings.from_settings(settings)
    settings.dataset(dataset)
    day_text = partition_value(day)
    suffix = PurePosixPath(data_key).suffix.lower()
    if suffix not in DATASET_TYPES:
        raise InputDataError(
            f"bias gate: cannot tell the format of {data_key!r}; expected one of "
            f"{sorted(DATASET_TYPES)}"
        )
    analysis_key = LakeLayout(dataset).report(REPORT_KIND, day_text, PRE_TRAINING_ANALYSIS)
    request = JobRequest(
        kind="processing",
        job_name=job_name(dataset, day_text, STEP),
        script=JOB_SCRIPT,
        inputs={DATA_CHANNEL: data_key},
        outputs={ANALYSIS_OUTPUT: analysis_key.rsplit("/", 1)[0] + "/"},
        config=analysis_config(bias, dataset_type=DATASET_TYPES[suffix]),
        timeout_seconds=bias.job_timeout_seconds,
    )
    if bias.engine == CLARIFY_ENGINE:
        return clarify_request(request, target=settings.target)
    return request


def collect_bias(settings: Settings, lake: Lake, request: JobRequest, dataset: str,
                 day: dt_.date | str) -> BiasReport:
    """Read the job's ``analysis.json`` back, write the verdict beside it, judge.

    Raises GateFailedError (rule, measured, expected) when a metric crosses its ``fail``
    limit or no group could be judged; a warning is logged and returned in the report.
    """
    bias = BiasSettings.from_settings(settings)
    day_text = partition_value(day)
    layout = LakeLayout(dataset)
    report_key = request.output(ANALYSIS_OUTPUT) + ANALYSIS_FILE
    try:
        analysis = json.loads(lake.read_bytes(report_key))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StepFailed(
            f"bias gate: job {request.job_name} completed but left no readable {ANALYSIS_FILE} "
            f"at {lake.uri(report_key)}: {exc}; rerun the task"
        ) from exc
    verdict, groups, metrics, worst = judge_groups(analysis, bias)
    verdict_key = layout.report(REPORT_KIND, day_text, PRE_TRAINING_VERDICT)
    shown = (worst.split("=", 1)[1],) if bias.gate_groups == "all" and worst else None
    report = _report(bias, dataset=dataset, day=day_text, stage="pre_training",
                     metrics=metrics, verdict=verdict, report_uri=lake.uri(report_key),
                     verdict_uri=lake.uri(verdict_key), groups=groups,
                     facet_value_or_threshold=shown)
    _write_json(lake, verdict_key, {**report.to_dict(), "data_key": request.inputs[DATA_CHANNEL]})
    _log_verdict(report)
    _refuse_if_failed(report, bias)
    return report


def run_bias_gate(
    settings: Settings, lake: Lake, dataset: str, day: dt_.date | str, data_key: str, *,
    runner: JobRunner,
) -> BiasReport:
    """Measure the batch at ``data_key`` for label bias; raise GateFailedError on a fail.

    ``data_key`` is a lake key of a Parquet (or CSV / JSON Lines) file with the dataset's
    columns plus the configured label (``sentiment``); ``runner`` runs the bias job (the
    Airflow layer hands in the target's). Warnings do not stop the batch; they are logged
    and in the returned report (``warning_alert`` makes the alert).
    """
    request = bias_request(settings, dataset, day, data_key)
    if not lake.exists(data_key):
        raise InputDataError(
            f"bias gate: no batch at lake key {data_key!r} for {dataset} "
            f"dt={partition_value(day)}; run the step that writes it first"
        )
    runner.run(lake, request)
    return collect_bias(settings, lake, request, dataset, day)


def evaluate_posttraining(
    settings: Settings,
    df: pd.DataFrame,
    *,
    dataset: str,
    day: dt_.date | str,
    predicted_label: str = "predicted_label",
    predictor: Callable[[pd.DataFrame], Sequence[Any]] | None = None,
    lake: Lake | None = None,
    thresholds: Mapping[str, Threshold | Mapping[str, float]] | None = None,
    raise_on_fail: bool = False,
) -> BiasReport:
    """Post-training bias of a model's predictions on a labelled frame (the test split).

    Computed in-process: the evaluation step already runs inside its own job. With a
    ``lake``, ``analysis.json`` and the verdict are written under
    ``reports/bias/<dataset>/dt=<day>/post_training/``. The verdict uses
    ``bias.post_training_thresholds`` unless ``thresholds`` is given; a fail raises
    GateFailedError only with ``raise_on_fail`` (the evaluation step's condition decides).
    """
    from airsage.bias.metrics import posttraining_metrics

    bias = BiasSettings.from_settings(settings)
    day_text = partition_value(day)
    metrics = posttraining_metrics(
        df, facet=bias.facet, facet_values=bias.facet_values,
        facet_threshold=bias.facet_threshold, label=bias.label,
        label_values=bias.label_values, predicted_label=predicted_label,
        group=bias.group, predictor=predictor,
    )
    verdict = evaluate_thresholds(
        metrics, bias.post_training_thresholds if thresholds is None else thresholds)
    report_uri = verdict_uri = None
    if lake is not None:
        layout = LakeLayout(dataset)
        analysis = build_analysis(label=bias.label, label_values=bias.label_values,
                                  facet=bias.facet,
                                  facet_value_or_threshold=_facet_values(bias),
                                  post_training=metrics)
        report_uri = _write_json(lake, layout.report(REPORT_KIND, day_text,
                                                     POST_TRAINING_ANALYSIS), analysis)
        verdict_uri = lake.uri(layout.report(REPORT_KIND, day_text, POST_TRAINING_VERDICT))
    report = _report(bias, dataset=dataset, day=day_text, stage="post_training",
                     metrics=metrics, verdict=verdict, report_uri=report_uri,
                     verdict_uri=verdict_uri)
    if lake is not None:
        _write_json(lake, LakeLayout(dataset).report(REPORT_KIND, day_text,
                                                     POST_TRAINING_VERDICT), report.to_dict())
    if raise_on_fail:
        _refuse_if_failed(report, bias)
    return report

