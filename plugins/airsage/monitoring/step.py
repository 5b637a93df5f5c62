"""The monitoring steps the Airflow layer calls: create a baseline, monitor an interval.

``run_monitor`` decides whether to retrain with ``monitoring.violation_policy``: an interval
asks for a retrain when at least ``min_violations`` of its violations have a check type in
``check_types`` (default: baseline, text and prediction drift and model quality). Schema
violations (missing/extra columns, wrong types, incompleteness, unknown categories) are
reported but do not count by default: they point at a client or pipeline bug that a new
model would not fix. An interval with fewer than ``min_samples`` instances has no drift
verdict and so cannot ask for a retrain through drift.
"""

from __future__ import annotations

import datetime as dt_
import io
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.monitoring.base import (
    CONSTRAINTS_FILE,
    STATISTICS_FILE,
    VIOLATIONS_FILE,
    VOCABULARY_FILE,
    BaselineResult,
    MonitoringResult,
    MonitoringSettings,
    Violation,
    ViolationPolicy,
)

STEP_BASELINE = "monitoring baseline"
CURATED_FILE = "reviews.parquet"
STEP_MONITOR = "drift monitor"


# -- baseline ---------------------------------------------------------------------------------
def _read_parquet(lake: Lake, key: str, what: str) -> Any:
    import pandas as pd

    try:
        data = lake.read_bytes(key)
    except FileNotFoundError as exc:
        raise InputDataError(
            f"{STEP_BASELINE}: the {what} {lake.uri(key)} does not exist; run the prepare step "
            "for that day first"
        ) from exc
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputDataError(
            f"{STEP_BASELINE}: the {what} {lake.uri(key)} is not a readable Parquet file: {exc}"
        ) from exc


def _missing(value: Any) -> bool:
    """None, NaN and pandas.NA (a nullable string column's missing value)."""
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _accuracy(model: Any, frame: Any, text_column: str, label_column: str) -> tuple[float, int]:
    labels = frame[label_column].astype(int).to_numpy()
    predicted = model.predict(frame[text_column].tolist())
    return float((predicted == labels).mean()), len(labels)


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


def _with_earlier_days(
    lake: Lake, layout: LakeLayout, day: dt_.date | str, frame: Any, days: int
) -> tuple[Any, list[dict[str, Any]]]:
    """Add the curated rows of up to ``days`` earlier accepted days (never trained on).

    The model trained on this day's split only, so earlier days are unseen too, and they
    have the natural mix as they are. The rows matter: the Robust comparison subtracts a
    margin that shrinks with the baseline's size, so a baseline of one day's held-out share
    (~10 % of a day) would hide real drift. A quarantined day is not accepted data: skipped.
    """
    import pandas as pd

    current = dt_.date.fromisoformat(partition_value(day))
    frames, used = [frame], []
    for back in range(1, days + 1):
        earlier = (current - dt_.timedelta(days=back)).isoformat()
        key = layout.curated(earlier) + CURATED_FILE
        if not lake.exists(key) or lake.exists(layout.quarantine_marker(earlier)):
            continue
        rows = _read_parquet(lake, key, "curated data of an earlier day")
        frames.append(rows)
        used.append({"key": key, "rows": len(rows)})
    if not used:
        return frame, used
    return pd.concat(frames, ignore_index=True), used


def create_baseline(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    model_name: str,
    model_version: str,
    model_artifact_key: str,
) -> BaselineResult:
    """Baseline a model version on rows it never saw and its own predictions on them.

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

    It predicts with the model in ``model_artifact_key`` (a ``model.tar.gz``), and writes
    ``statistics.json``, ``constraints.json`` and ``vocabulary.json`` to
    ``LakeLayout.baseline(model_name, model_version)``. ``constraints.json``'s ``airsage``
    block records the rows: source and excluded keys, their count and ids, and the model
    version. The accuracy baseline comes from the unseen rows themselves; for the other
    sources from the validation split when it exists (training accuracy is optimistic).
    """
    from airsage.monitoring.baseline import build_baseline
    from airsage.training.model import load_model, unpack_model

    monitoring = MonitoringSettings.from_settings(settings)
    settings.dataset(dataset)
    layout = LakeLayout(dataset)
    curated_key = layout.curated(day) + CURATED_FILE
    train_key = layout.features(day, "train") + "part-0.parquet"
    source = monitoring.baseline_source
    if source == "auto":
        source = "unseen" if lake.exists(curated_key) and lake.exists(train_key) else \
            "curated" if lake.exists(curated_key) else "features"
    id_column = (monitoring.identifier_columns or ("review_id",))[0]
    selection: dict[str, Any] = {}
    excluded_key = None
    if source == "unseen":
        source_key, excluded_key = curated_key, train_key
        curated = _read_parquet(lake, curated_key, "curated data")
        train = _read_parquet(lake, train_key, "train features")
        frame, selection = unseen_rows(curated, train, id_column=id_column,
                                       label_column=monitoring.label_column,
                                       text_column=monitoring.text_column)
        frame, selection["earlier_days"] = _with_earlier_days(
            lake, layout, day, frame, monitoring.baseline_history_days)
    elif source == "curated":
        source_key = curated_key
        frame = _read_parquet(lake, source_key, "curated data")
    else:
        source_key = layout.features(day, monitoring.baseline_split) + "part-0.parquet"
        frame = _read_parquet(lake, source_key, f"{monitoring.baseline_split} features")
    missing = [name for name in monitoring.features if name not in frame.columns]
    if missing:
        raise InputDataError(
            f"{STEP_BASELINE}: {lake.uri(source_key)} lacks the feature column(s) {missing}; "
            f"it has {list(frame.columns)} (monitoring.features expects "
            f"{list(monitoring.features)})"
        )
    if frame.empty:
        raise InputDataError(f"{STEP_BASELINE}: {lake.uri(source_key)} has no rows to baseline")
    if not lake.exists(model_artifact_key):
        raise InputDataError(
            f"{STEP_BASELINE}: model artifact {lake.uri(model_artifact_key)} of "
            f"{model_name} version {model_version} does not exist"
        )
    with tempfile.TemporaryDirectory(prefix="airsage-baseline-") as tmp:
        tar_path = lake.download(model_artifact_key, Path(tmp) / "model.tar.gz")
        model = load_model(unpack_model(tar_path, Path(tmp) / "model"))
        texts = [None if _missing(text) else str(text)
                 for text in frame[monitoring.text_column].tolist()]
        try:
            probabilities = model.predict_proba(texts)
        except Exception as exc:
            raise StepFailed(
                f"{STEP_BASELINE}: model {model_name} version {model_version} failed to predict "
                f"on {lake.uri(source_key)}: {exc}"
            ) from exc
        quality: dict[str, Any] | None = None
        validation_key = layout.features(day, "validation") + "part-0.parquet"
        label = monitoring.label_column
        if source != "unseen" and lake.exists(validation_key) \
                and monitoring.baseline_split != "validation":
            validation = _read_parquet(lake, validation_key, "validation features")
            if label in validation.columns and not validation.empty:
                accuracy, n = _accuracy(model, validation, monitoring.text_column, label)
                quality = {"accuracy": accuracy, "n": n, "reference": "validation"}
        if quality is None and label in frame.columns:
            known = frame[label].notna().to_numpy()
            labels = frame[label][known].astype(int).to_numpy()
            predicted = [model.labels[i] for i in probabilities[known].argmax(axis=1)]
            if len(labels):
                reference = monitoring.baseline_split if source == "features" else source
                quality = {"accuracy": float((labels == predicted).mean()), "n": len(labels),
                           "reference": reference,
                           "pairs": [(int(p), int(a)) for p, a in zip(predicted, labels,
                                                                      strict=True)]}
    columns = {name: frame[name].tolist() for name in monitoring.features}
    columns[monitoring.text_column] = texts
    rows: dict[str, Any] = {"source": source, "source_key": source_key,
                            "excluded_key": excluded_key, "count": len(frame), **selection}
    if id_column in frame.columns:
        rows["id_column"] = id_column
        rows["ids"] = [_plain(value) for value in frame[id_column].tolist()]
    baseline = build_baseline(
        columns,
        probabilities=probabilities,
        labels=model.labels,
        settings=monitoring,
        quality=quality,
        metadata={"model_name": model_name, "model_version": str(model_version),
                  "dataset": dataset, "day": partition_value(day), "source_key": source_key,
                  "model_artifact_key": model_artifact_key, "baseline_rows": rows},
    )
    prefix = LakeLayout.baseline(model_name, str(model_version))
    documents = {STATISTICS_FILE: baseline.statistics, CONSTRAINTS_FILE: baseline.constraints,
                 VOCABULARY_FILE: baseline.vocabulary}
    # Model Monitor's model-quality files
    if baseline.model_quality_statistics is not None and baseline.model_quality_constraints is not None:
        from airsage.monitoring.model_quality import MODEL_QUALITY_DIR

        documents[MODEL_QUALITY_DIR + STATISTICS_FILE] = baseline.model_quality_statistics
        documents[MODEL_QUALITY_DIR + CONSTRAINTS_FILE] = baseline.model_quality_constraints
    for name, document in documents.items():
        lake.write_bytes(prefix + name, json.dumps(document, indent=2).encode("utf-8"))
    return BaselineResult(
        model_name=model_name,
        model_version=str(model_version),
        baseline_prefix=prefix,
        statistics_key=prefix + STATISTICS_FILE,
        constraints_key=prefix + CONSTRAINTS_FILE,
        vocabulary_key=prefix + VOCABULARY_FILE,
        item_count=len(frame),
        source_key=source_key,
        baseline_accuracy=None if quality is None else quality["accuracy"],
        quality_reference=None if quality is None else quality["reference"],
        source=source,
        excluded_key=excluded_key,
    )


def _plain(value: Any) -> Any:
    """A JSON-safe id (numpy integers become ints)."""
    return value.item() if hasattr(value, "item") else value


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


def run_monitor(
    settings: Settings,
    lake: Lake,
    *,
    endpoint: str,
    model_name: str,
    model_version: str,
    interval_start: dt_.datetime,
    interval_end: dt_.datetime,
) -> MonitoringResult:
    """Monitor ``[interval_start, interval_end)`` of ``endpoint``'s captured traffic.

    With ``monitoring.source: airsage`` the monitor job runs over the captures of every
    variant and the ground truth of the interval (plus ``ground_truth_delay_hours``) and
    writes its reports to ``LakeLayout.monitoring_report(endpoint, interval_start)``. With
    ``model_monitor`` a SageMaker Model Monitor schedule has written that report already,
    and its ``constraint_violations.json`` is read instead.
    """
    from airsage.targets import implementation

    monitoring = MonitoringSettings.from_settings(settings)
    hours = interval_hours(interval_start, interval_end)
    report_prefix = LakeLayout.monitoring_report(endpoint, _utc(interval_start))
    report_key = report_prefix + VIOLATIONS_FILE
    summary: dict[str, Any] = {
        "source": monitoring.source,
        "endpoint": endpoint,
        "model_name": model_name,
        "model_version": str(model_version),
        "interval_start": _utc(interval_start).isoformat(),
        "interval_end": _utc(interval_end).isoformat(),
    }
    if monitoring.source == "model_monitor":
        violations, samples, extra = _read_model_monitor_report(lake, report_prefix)
        summary.update(extra)
    else:
        by_variant = capture_keys(lake, endpoint, hours)
        truth_hours = interval_hours(
            interval_start,
            _utc(interval_end) + dt_.timedelta(hours=monitoring.ground_truth_delay_hours),
        )
        truth_keys = [key for hour in truth_hours
                      for key in lake.list(LakeLayout.ground_truth_hour(endpoint, hour))]
        job = implementation("monitoring", settings)
        output = job.run(
            lake,
            capture_keys=[key for keys in by_variant.values() for key in keys],
            baseline_prefix=LakeLayout.baseline(model_name, str(model_version)),
            ground_truth_keys=truth_keys,
            output_prefix=report_prefix,
            config=monitoring.job_config(),
        )
        violations = [Violation.from_dict(raw)
                      for raw in output.violations.get("violations", [])]
        samples = int(output.summary.get("samples", 0))
        summary.update(output.summary)
        summary.update({
            "variants": {variant: len(keys) for variant, keys in sorted(by_variant.items())},
            "capture_files": sum(len(keys) for keys in by_variant.values()),
            "ground_truth_files": len(truth_keys),
        })
    should_retrain, decision = decide_retrain(violations, monitoring.violation_policy)
    summary["retrain_decision"] = decision
    return MonitoringResult(violations=violations, summary=summary, report_key=report_key,
                            samples=samples, should_retrain=should_retrain)


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
