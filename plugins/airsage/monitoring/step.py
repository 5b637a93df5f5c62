"""The monitoring steps the Airflow layer calls: create a baseline, monitor an interval.

``run_monitor`` decides whether to retrain with ``monitoring.violation_policy``: an interval
asks for a retrain when at least ``min_violations`` of its violations have a check type in
``check_types`` (default: baseline, text and prediction drift and model quality). Schema
violations (missing/extra columns, wrong types, incompleteness, unknown categories) are
reported but do not count by default: they point at a client or pipeline bug that a new
model would not fix. An interval with fewer than ``min_samples`` instances has no drift
verdict and so cannot ask for a retrain through drift.

``run_monitor`` has the seam's three phases (DESIGN.md, "The step seam"):
:func:`monitor_request` (pure: the interval's capture and ground-truth keys, the model
version's baseline prefix in; the interval's report prefix out) → the runner the Airflow
layer hands in (locally :class:`airsage.jobs.local.LocalJobRunner`) →
:func:`collect_monitor` (the report read back from the lake, the violation policy applied).
"""

from __future__ import annotations

import datetime as dt_
import json
from collections.abc import Mapping, Sequence
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.jobs.request import JobRequest, JobRunner, job_name
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.monitoring.base import (
    CONSTRAINTS_FILE,
    STATISTICS_FILE,
    SUMMARY_FILE,
    VIOLATIONS_FILE,
    VOCABULARY_FILE,
    BaselineResult,
    MonitoringResult,
    MonitoringSettings,
    MonitorJobOutput,
    Violation,
    ViolationPolicy,
)

STEP_BASELINE = "monitoring baseline"
CURATED_FILE = "reviews.parquet"
STEP_MONITOR = "drift monitor"
BASELINE_SCRIPT = "baseline.py"
BASELINE_OUTPUT = "baseline"  # the baseline job's output, processing/output/baseline/
JOB_SCRIPT = "monitor.py"
# the monitor job's channels and output (include/jobs/monitor.py reads and writes them)
CAPTURE_CHANNEL = "endpoint"
BASELINE_CHANNEL = "baseline"
GROUND_TRUTH_CHANNEL = "groundtruth"
REPORT_OUTPUT = "report"


# -- baseline ---------------------------------------------------------------------------------
def unseen_rows(
    curated: Any, train: Any, *, id_column: str, label_column: str, text_column: str,
    seed: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """The curated rows the model never trained on, in the curated day's mix.

    Rows whose ``id_column`` is in the training split are dropped. What is left is skewed:
    undersampling trained on a balanced share of each class, so the unseen rows are mostly
    the majority class, and every empty review is unseen (prepare drops them). So the rows
    are subsampled (without repetition, by a stable hash of the id) to the curated day's
    joint mix of label and empty text, the mix live traffic has. Returns the rows and what
    was chosen (counts per stratum).
    """
    from airsage.prepare.split import stable_hash

    if id_column not in curated.columns or id_column not in train.columns:
        raise InputDataError(
            f"{STEP_BASELINE}: cannot tell the training rows apart: the identifier column "
            f"{id_column!r} is missing from the curated data or the training split "
            "(monitoring.identifier_columns)"
        )
    seen = set(train[id_column].dropna().tolist())
    unseen = curated[~curated[id_column].isin(seen)]
    if unseen.empty:
        raise InputDataError(
            f"{STEP_BASELINE}: every curated row was used for training; no unseen row is "
            "left to baseline on (use baseline_source: curated to accept a biased baseline)"
        )

    def strata(frame: Any) -> Any:
        label = frame[label_column].astype("string").fillna("missing") \
            if label_column in frame.columns else "all"
        empty = frame[text_column].isna() | (frame[text_column].astype("string")
                                             .str.strip().fillna("") == "")
        return frame.assign(_stratum=label + "|" + empty.map({True: "empty", False: "text"}))

    curated_strata = strata(curated)["_stratum"].value_counts(normalize=True)
    unseen = strata(unseen)
    available = unseen["_stratum"].value_counts()
    scale = min(float(available.get(key, 0)) / share
                for key, share in curated_strata.items() if share > 0)
    chosen = []
    counts: dict[str, int] = {}
    for key, share in curated_strata.items():
        take = round(scale * share)
        group = unseen[unseen["_stratum"] == key]
        order = group[id_column].map(lambda ident: stable_hash(seed, "baseline", ident))
        picked = group.assign(_rank=order.astype("uint64")).sort_values("_rank").head(take)
        counts[str(key)] = len(picked)
        chosen.append(picked)
    import pandas as pd

    rows = pd.concat(chosen).drop(columns=["_rank", "_stratum"]).sort_values(id_column)
    if rows.empty:
        raise InputDataError(
            f"{STEP_BASELINE}: the {len(unseen)} unseen rows cannot reproduce the day's mix "
            f"(strata available: {available.to_dict()}); too few held-out rows to baseline"
        )
    return rows.reset_index(drop=True), {"unseen_rows": len(unseen), "strata": counts}


def _earlier_keys(lake: Lake, layout: LakeLayout, day: dt_.date | str, days: int) -> list[str]:
    """Curated keys of up to ``days`` earlier accepted days (a quarantined day is skipped)."""
    current = dt_.date.fromisoformat(partition_value(day))
    keys = []
    for back in range(1, days + 1):
        earlier = (current - dt_.timedelta(days=back)).isoformat()
        key = layout.curated(earlier) + CURATED_FILE
        if lake.exists(key) and not lake.exists(layout.quarantine_marker(earlier)):
            keys.append(key)
    return keys


def baseline_sources(settings: Settings, lake: Lake, dataset: str,
                     day: dt_.date | str) -> dict[str, Any]:
    """Which rows the baseline is computed from: ``monitoring.baseline_source`` resolved
    against what the lake holds (see :func:`create_baseline`). Returns ``source``,
    ``source_key``, ``excluded_key``, ``earlier_keys`` and ``validation_key``; a missing
    source says which step to run first."""
    monitoring = MonitoringSettings.from_settings(settings)
    layout = LakeLayout(dataset)
    curated_key = layout.curated(day) + CURATED_FILE
    train_key = layout.features(day, "train") + "part-0.parquet"
    source = monitoring.baseline_source
    if source == "auto":
        source = "unseen" if lake.exists(curated_key) and lake.exists(train_key) else \
            "curated" if lake.exists(curated_key) else "features"
    sources: dict[str, Any] = {"source": source, "excluded_key": None, "earlier_keys": [],
                               "validation_key": None}
    if source == "unseen":
        sources.update(source_key=curated_key, excluded_key=train_key,
                       earlier_keys=_earlier_keys(lake, layout, day,
                                                  monitoring.baseline_history_days))
        required = {"curated data": curated_key, "train features": train_key}
    elif source == "curated":
        sources["source_key"] = curated_key
        required = {"curated data": curated_key}
    else:
        sources["source_key"] = layout.features(day, monitoring.baseline_split) + "part-0.parquet"
        required = {f"{monitoring.baseline_split} features": sources["source_key"]}
    for what, key in required.items():
        if not lake.exists(key):
            raise InputDataError(
                f"{STEP_BASELINE}: the {what} {lake.uri(key)} does not exist; run the prepare "
                "step for that day first")
    validation_key = layout.features(day, "validation") + "part-0.parquet"
    if source != "unseen" and monitoring.baseline_split != "validation" \
            and lake.exists(validation_key):
        sources["validation_key"] = validation_key
    return sources


def baseline_request(
    settings: Settings,
    dataset: str,
    day: dt_.date | str,
    *,
    model_name: str,
    model_version: str,
    model_artifact_key: str,
    sources: Mapping[str, Any],
) -> JobRequest:
    """The baseline job of a model version (pure): the model and the rows of ``sources``
    (:func:`baseline_sources`) in, ``LakeLayout.baseline(model_name, model_version)`` out."""
    monitoring = MonitoringSettings.from_settings(settings)
    settings.dataset(dataset)
    day_text = partition_value(day)
    inputs: dict[str, Any] = {"model": model_artifact_key, "rows": sources["source_key"]}
    if sources.get("excluded_key"):
        inputs["train"] = sources["excluded_key"]
    if sources.get("earlier_keys"):
        inputs["earlier"] = tuple(sources["earlier_keys"])
    if sources.get("validation_key"):
        inputs["validation"] = sources["validation_key"]
    return JobRequest(
        kind="processing",
        job_name=job_name(dataset, day_text, "baseline", [model_name, str(model_version)]),
        script=BASELINE_SCRIPT,
        inputs=inputs,
        outputs={BASELINE_OUTPUT: LakeLayout.baseline(model_name, str(model_version))},
        config={"monitoring": dict(settings.section("monitoring")), "dataset": dataset,
                "day": day_text, "model_name": model_name, "model_version": str(model_version),
                "model_artifact_key": model_artifact_key, "source": sources["source"],
                "source_key": sources["source_key"],
                "excluded_key": sources.get("excluded_key"),
                "earlier_keys": list(sources.get("earlier_keys") or [])},
        timeout_seconds=monitoring.job_timeout_seconds,
    )


def collect_baseline(lake: Lake, request: JobRequest) -> BaselineResult:
    """Read the baseline back from the lake: where it lives and what it was computed from."""
    prefix = request.output(BASELINE_OUTPUT)
    for name in (STATISTICS_FILE, CONSTRAINTS_FILE, VOCABULARY_FILE):
        if not lake.exists(prefix + name):
            raise StepFailed(f"{STEP_BASELINE}: job {request.job_name} wrote no "
                             f"{lake.uri(prefix + name)}; rerun the task")
    constraints = _json(lake, prefix + CONSTRAINTS_FILE)
    block = (constraints or {}).get("airsage") or {}
    rows = block.get("baseline_rows") or {}
    config = request.config
    return BaselineResult(
        model_name=str(config["model_name"]),
        model_version=str(config["model_version"]),
        baseline_prefix=prefix,
        statistics_key=prefix + STATISTICS_FILE,
        constraints_key=prefix + CONSTRAINTS_FILE,
        vocabulary_key=prefix + VOCABULARY_FILE,
        item_count=int(rows.get("count", 0)),
        source_key=str(config["source_key"]),
        baseline_accuracy=block.get("baseline_accuracy"),
        quality_reference=block.get("quality_reference"),
        source=str(config["source"]),
        excluded_key=config.get("excluded_key"),
    )


def create_baseline(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    model_name: str,
    model_version: str,
    model_artifact_key: str,
    runner: JobRunner,
) -> BaselineResult:
    """Baseline a model version on rows it never saw and its own predictions on them.

    ``runner`` runs ``include/jobs/baseline.py`` (the Airflow layer hands in the target's).
    The reference rows (``monitoring.baseline_source``):

    - ``unseen`` (and ``auto`` when the curated day and its training split exist): the
      day's curated rows minus the training split's rows (by ``identifier_columns[0]``),
      subsampled to the curated day's mix (see :func:`unseen_rows`), plus the curated rows
      of up to ``baseline_history_days`` earlier accepted days. Every check — data quality,
      text, prediction and model quality — is judged against these rows.
    - ``curated``: ``LakeLayout(dataset).curated(day)/reviews.parquet`` as it is. It holds the
      training rows, on which the model is more confident than on anything it will serve:
      healthy traffic then looks like prediction drift (a false alarm every hour).
    - ``features``: ``LakeLayout(dataset).features(day, monitoring.baseline_split)``
      ``/part-0.parquet`` (the balanced training split by default).

    The job predicts with the model in ``model_artifact_key`` (a ``model.tar.gz``), and
    writes ``statistics.json``, ``constraints.json`` and ``vocabulary.json`` to
    ``LakeLayout.baseline(model_name, model_version)``. ``constraints.json``'s ``airsage``
    block records the rows: source and excluded keys, their count and ids, and the model
    version. The accuracy baseline comes from the unseen rows themselves; for the other
    sources from the validation split when it exists (training accuracy is optimistic).
    """
    sources = baseline_sources(settings, lake, dataset, day)
    request = baseline_request(settings, dataset, day, model_name=model_name,
                               model_version=str(model_version),
                               model_artifact_key=model_artifact_key, sources=sources)
    runner.run(lake, request)
    return collect_baseline(lake, request)


# -- monitor ----------------------------------------------------------------------------------
def _utc(when: dt_.datetime) -> dt_.datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=dt_.UTC)
    return when.astimezone(dt_.UTC)


def interval_hours(start: dt_.datetime, end: dt_.datetime) -> list[dt_.datetime]:
    """Every hour that overlaps ``[start, end)`` (UTC; naive datetimes are taken as UTC)."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ConfigurationError(
            f"{STEP_MONITOR}: interval_end {end.isoformat()} must be after interval_start "
            f"{start.isoformat()}"
        )
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += dt_.timedelta(hours=1)
    return hours


def _hour_path(when: dt_.datetime) -> str:
    return when.strftime("%Y/%m/%d/%H")


def capture_keys(lake: Lake, endpoint: str, hours: list[dt_.datetime]) -> dict[str, list[str]]:
    """Capture keys of every variant of ``endpoint`` in ``hours``, by variant."""
    wanted = {_hour_path(hour) for hour in hours}
    prefix = LakeLayout.capture_prefix(endpoint)
    by_variant: dict[str, list[str]] = {}
    for key in lake.list(prefix):
        parts = key[len(prefix):].split("/")
        if len(parts) >= 6 and "/".join(parts[1:5]) in wanted:
            by_variant.setdefault(parts[0], []).append(key)
    return by_variant


def decide_retrain(
    violations: list[Violation], policy: ViolationPolicy
) -> tuple[bool, dict[str, Any]]:
    """Apply the violation policy (see the module docstring); return the decision and why."""
    counted = [v for v in violations if v.constraint_check_type in policy.check_types]
    should = policy.min_violations > 0 and len(counted) >= policy.min_violations
    reason = (
        f"{len(counted)} violation(s) of the counted check types "
        f"{list(policy.check_types)}; the policy asks for at least {policy.min_violations}"
    )
    return should, {
        "should_retrain": should,
        "counted_violations": len(counted),
        "counted_features": sorted({f"{v.constraint_check_type}:{v.feature_name}"
                                    for v in counted}),
        "policy": policy.to_dict(),
        "reason": reason,
    }


def _variants(endpoint: str, keys: Sequence[str]) -> dict[str, int]:
    """Capture files per variant (``capture/<endpoint>/<variant>/...``)."""
    prefix = LakeLayout.capture_prefix(endpoint)
    counts: dict[str, int] = {}
    for key in keys:
        variant = key[len(prefix):].split("/", 1)[0]
        counts[variant] = counts.get(variant, 0) + 1
    return dict(sorted(counts.items()))


def monitor_request(
    settings: Settings,
    *,
    endpoint: str,
    model_name: str,
    model_version: str,
    interval_start: dt_.datetime,
    interval_end: dt_.datetime,
    capture_keys: Sequence[str],
    ground_truth_keys: Sequence[str],
) -> JobRequest:
    """The monitor job of one interval (pure): the captures of every variant and the ground
    truth (the keys :func:`capture_keys` and :func:`ground_truth_keys` listed), the model
    version's baseline prefix in; ``LakeLayout.monitoring_report(endpoint, start)`` out."""
    monitoring = MonitoringSettings.from_settings(settings)
    start, end = _utc(interval_start), _utc(interval_end)
    return JobRequest(
        kind="processing",
        job_name=job_name(endpoint, start, "monitor",
                          {"end": end.isoformat(), "model": [model_name, str(model_version)]}),
        script=JOB_SCRIPT,
        inputs={CAPTURE_CHANNEL: tuple(capture_keys),
                BASELINE_CHANNEL: LakeLayout.baseline(model_name, str(model_version)),
                GROUND_TRUTH_CHANNEL: tuple(ground_truth_keys)},
        outputs={REPORT_OUTPUT: LakeLayout.monitoring_report(endpoint, start)},
        config={"monitoring_config": monitoring.job_config(), "end_time": end.isoformat()},
        timeout_seconds=monitoring.job_timeout_seconds,
    )


def ground_truth_keys(lake: Lake, settings: Settings, endpoint: str,
                      interval_start: dt_.datetime, interval_end: dt_.datetime) -> list[str]:
    """Ground-truth keys of the interval plus ``monitoring.ground_truth_delay_hours``."""
    delay = MonitoringSettings.from_settings(settings).ground_truth_delay_hours
    hours = interval_hours(interval_start, _utc(interval_end) + dt_.timedelta(hours=delay))
    return [key for hour in hours for key in lake.list(LakeLayout.ground_truth_hour(endpoint, hour))]


def _report_json(lake: Lake, key: str, required: bool = True) -> dict[str, Any] | None:
    if not lake.exists(key):
        if required:
            raise StepFailed(f"{STEP_MONITOR}: the monitor job wrote no {lake.uri(key)}; "
                             "rerun the task")
        return None
    return _json(lake, key)


def collect_monitor(
    settings: Settings,
    lake: Lake,
    request: JobRequest,
    *,
    endpoint: str,
    model_name: str,
    model_version: str,
    interval_start: dt_.datetime,
    interval_end: dt_.datetime,
) -> MonitoringResult:
    """Read the monitor job's report back from the lake and apply the violation policy."""
    from airsage.monitoring.model_quality import MODEL_QUALITY_DIR

    monitoring = MonitoringSettings.from_settings(settings)
    prefix = request.output(REPORT_OUTPUT)
    output = MonitorJobOutput(
        statistics=_report_json(lake, prefix + STATISTICS_FILE) or {},
        violations=_report_json(lake, prefix + VIOLATIONS_FILE) or {},
        summary=_report_json(lake, prefix + SUMMARY_FILE) or {},
        model_quality=_report_json(lake, prefix + MODEL_QUALITY_DIR + STATISTICS_FILE,
                                   required=False),
    )
    # Model quality is its own file set (Model Monitor's model-quality job): written next to
    # the data-quality files, its violations counted with theirs.
    quality = _report_json(lake, prefix + MODEL_QUALITY_DIR + VIOLATIONS_FILE,
                           required=False) or {}
    violations = [Violation.from_dict(raw)
                  for raw in [*output.violations.get("violations", []),
                              *quality.get("violations", [])]]
    captures = request.inputs[CAPTURE_CHANNEL]
    truth = request.inputs[GROUND_TRUTH_CHANNEL]
    summary: dict[str, Any] = {
        **_summary_head(monitoring, endpoint, model_name, model_version, interval_start,
                        interval_end),
        **output.summary,
        "variants": _variants(endpoint, captures),
        "capture_files": len(captures),
        "ground_truth_files": len(truth),
    }
    should_retrain, decision = decide_retrain(violations, monitoring.violation_policy)
    summary["retrain_decision"] = decision
    return MonitoringResult(violations=violations, summary=summary,
                            report_key=prefix + VIOLATIONS_FILE,
                            samples=int(output.summary.get("samples", 0)),
                            should_retrain=should_retrain)


def _summary_head(monitoring: MonitoringSettings, endpoint: str, model_name: str,
                  model_version: str, interval_start: dt_.datetime,
                  interval_end: dt_.datetime) -> dict[str, Any]:
    return {
        "source": monitoring.source,
        "endpoint": endpoint,
        "model_name": model_name,
        "model_version": str(model_version),
        "interval_start": _utc(interval_start).isoformat(),
        "interval_end": _utc(interval_end).isoformat(),
    }


def run_monitor(
    settings: Settings,
    lake: Lake,
    *,
    endpoint: str,
    model_name: str,
    model_version: str,
    interval_start: dt_.datetime,
    interval_end: dt_.datetime,
    runner: JobRunner | None = None,
) -> MonitoringResult:
    """Monitor ``[interval_start, interval_end)`` of ``endpoint``'s captured traffic.

    With ``monitoring.source: airsage`` ``runner`` runs the monitor job over the captures of
    every variant and the ground truth of the interval (plus ``ground_truth_delay_hours``),
    which writes its reports to ``LakeLayout.monitoring_report(endpoint, interval_start)``.
    With ``model_monitor`` a SageMaker Model Monitor schedule has written that report
    already, and its ``constraint_violations.json`` is read instead (no runner needed).
    """
    monitoring = MonitoringSettings.from_settings(settings)
    hours = interval_hours(interval_start, interval_end)
    if monitoring.source == "model_monitor":
        report_prefix = LakeLayout.monitoring_report(endpoint, _utc(interval_start))
        violations, samples, extra = _read_model_monitor_report(lake, report_prefix)
        summary = {**_summary_head(monitoring, endpoint, model_name, model_version,
                                   interval_start, interval_end), **extra}
        violations, summary = _with_batch_quality(settings, lake, monitoring, hours, violations,
                                                  summary, model_name, str(model_version))
        should_retrain, decision = decide_retrain(violations, monitoring.violation_policy)
        summary["retrain_decision"] = decision
        return MonitoringResult(violations=violations, summary=summary,
                                report_key=report_prefix + VIOLATIONS_FILE, samples=samples,
                                should_retrain=should_retrain)
    if runner is None:
        raise ConfigurationError(
            f"{STEP_MONITOR}: monitoring.source is 'airsage', which runs the monitor job: "
            "pass the target's job runner (the Airflow layer hands it in)")
    baseline_prefix = LakeLayout.baseline(model_name, str(model_version))
    for what, name in (("statistics", STATISTICS_FILE), ("constraints", CONSTRAINTS_FILE)):
        if not lake.exists(baseline_prefix + name):
            raise InputDataError(
                f"{STEP_MONITOR}: the baseline {what} {lake.uri(baseline_prefix + name)} does "
                "not exist; create the model version's baseline "
                "(airsage.monitoring.step.create_baseline) first"
            )
    by_variant = capture_keys(lake, endpoint, hours)
    request = monitor_request(
        settings, endpoint=endpoint, model_name=model_name, model_version=str(model_version),
        interval_start=interval_start, interval_end=interval_end,
        capture_keys=[key for keys in by_variant.values() for key in keys],
        ground_truth_keys=ground_truth_keys(lake, settings, endpoint, interval_start,
                                            interval_end),
    )
    runner.run(lake, request)
    result = collect_monitor(settings, lake, request, endpoint=endpoint, model_name=model_name,
                             model_version=str(model_version), interval_start=interval_start,
                             interval_end=interval_end)
    if not monitoring.batch_quality_delay_days:
        return result
    violations, summary = _with_batch_quality(settings, lake, monitoring, hours, result.violations,
                                              result.summary, model_name, str(model_version))
    should_retrain, decision = decide_retrain(violations, monitoring.violation_policy)
    return MonitoringResult(violations=violations, summary={**summary, "retrain_decision": decision},
                            report_key=result.report_key, samples=result.samples,
                            should_retrain=should_retrain)


def _with_batch_quality(settings: Settings, lake: Lake, monitoring: MonitoringSettings,
                        hours: list[dt_.datetime], violations: list[Violation],
                        summary: dict[str, Any], model_name: str,
                        model_version: str) -> tuple[list[Violation], dict[str, Any]]:
    """The interval's violations plus those of the batch predictions it judges
    (``monitoring.batch_quality_delay_days``, :mod:`airsage.batch.quality`)."""
    from airsage.batch.quality import days_to_judge, judge_batch_predictions

    days = days_to_judge(hours, monitoring.batch_quality_delay_days)
    if not days:
        return violations, summary
    dataset = str(settings.section("serving").get("dataset") or "reviews")
    found, judged = judge_batch_predictions(settings, lake, dataset, days,
                                            model_name=model_name, model_version=model_version)
    return [*violations, *found], {**summary, "batch_model_quality": judged}


# Model Monitor's hourly schedule starts its job within about 20 minutes after the hour and
# the job runs for up to an hour (its MaxRuntimeInSeconds is at most 3600 for an hourly
# schedule), so the interval's report is waited for up to two hours, polled every minute.
REPORT_WAIT_SECONDS = 2 * 3600
REPORT_POLL_SECONDS = 60


def model_monitor_report_key(endpoint: str, interval_start: dt_.datetime) -> str:
    """The lake key of the ``constraint_violations.json`` that a Model Monitor schedule writes
    for the interval starting at ``interval_start`` (``monitoring.source: model_monitor``):
    the aws target waits for it (deferred) before :func:`run_monitor` reads it."""
    return LakeLayout.monitoring_report(endpoint, _utc(interval_start)) + VIOLATIONS_FILE


def _read_model_monitor_report(
    lake: Lake, report_prefix: str
) -> tuple[list[Violation], int, dict[str, Any]]:
    key = report_prefix + VIOLATIONS_FILE
    if not lake.exists(key):
        raise StepFailed(
            f"{STEP_MONITOR}: no Model Monitor report at {lake.uri(key)} yet; the schedule may "
            "still be running (a retry can succeed) or monitoring.source should be 'airsage'"
        )
    document = _json(lake, key)
    raw = document.get("violations") if isinstance(document, Mapping) else None
    if not isinstance(raw, list):
        raise InputDataError(
            f"{STEP_MONITOR}: {lake.uri(key)} is not a constraint_violations.json "
            "(expected an object with a 'violations' list)"
        )
    violations = [Violation.from_dict(item) for item in raw if isinstance(item, Mapping)]
    from airsage.monitoring.model_quality import MODEL_QUALITY_DIR

    quality_key = report_prefix + MODEL_QUALITY_DIR + VIOLATIONS_FILE
    if lake.exists(quality_key):  # a model-quality schedule's report, copied beside it
        quality = _json(lake, quality_key)
        violations += [Violation.from_dict(item) for item in (quality or {}).get("violations", [])
                       if isinstance(item, Mapping)]
    samples = 0
    statistics_key = report_prefix + STATISTICS_FILE
    if lake.exists(statistics_key):
        statistics = _json(lake, statistics_key)
        samples = int(((statistics or {}).get("dataset") or {}).get("item_count") or 0)
    # Model Monitor has no notion of "too few samples": its report is taken as it is.
    status = "ok" if samples else "unknown_samples"
    return violations, samples, {"status": status, "samples": samples,
                                 "drift_verdict": True, "report": lake.uri(key)}


def _json(lake: Lake, key: str) -> Any:
    try:
        return json.loads(lake.read_bytes(key))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{STEP_MONITOR}: {lake.uri(key)} is not valid JSON: {exc}") from exc
