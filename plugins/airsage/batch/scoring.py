"""The batch scoring step: request (pure) → run (the target's) → collect (reads the lake back).

- :func:`resolve_version` picks the version (the one asked for, else the champion: the
  Approved version trained on the newest data, which is what the endpoint serves) and
  :func:`require_approved` refuses any other status, naming the version and its status.
- :func:`transform_request` is pure: settings, partition and model version → the
  :class:`~airsage.batch.base.TransformRequest`, every key under
  ``predictions/<dataset>/dt=<day>/model_version=<v>/``.
- :func:`stage_input` writes the JSON Lines the transform reads from the curated Parquet
  (``review_id`` and ``review_text``; the label columns are left out, as for traffic whose
  labels come later). The curated data is only read.
- locally :func:`local_job_request` maps the request onto a processing job of
  ``include/jobs/batch_transform.py``, which the one local runner runs; on aws a SageMaker
  transform job runs (:mod:`airsage.batch.aws`).
- :func:`collect_predictions` reads ``<input>.out`` back, checks one prediction per input row
  in input order, and writes the predictions table (review id, predicted label,
  probabilities, model name and version, scored at).
"""

from __future__ import annotations

import datetime as dt_
import io
import json
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airsage.batch.base import STEP, BatchConfig, BatchScoringResult, TransformRequest
from airsage.batch.transform import JOIN_KEY
from airsage.config import Settings
from airsage.errors import ConfigurationError, GateFailedError, GateFailure, InputDataError, StepFailed
from airsage.jobs.request import JobRequest, job_name
from airsage.lake.layout import LakeLayout, partition_value
from airsage.prepare.base import CURATED_FILE
from airsage.registry.base import LINEAGE_ARTIFACT_KEY, ApprovalStatus, ModelVersion

if TYPE_CHECKING:
    from airsage.jobs.request import JobRunner
    from airsage.lake.base import Lake
    from airsage.registry.base import ModelRegistry

SCRIPT = "batch_transform.py"
MODEL_CHANNEL, DATA_CHANNEL, OUTPUT_NAME = "model", "data", "transform"
INPUT_COLUMNS = ("review_id", "review_text")


def resolve_version(registry: ModelRegistry, model_name: str, requested: str | None) -> ModelVersion:
    """The version asked for (any status: :func:`require_approved` judges it), else the
    champion; no champion is an error that says how to get one."""
    if requested not in (None, ""):
        return registry.get_version(model_name, str(requested))
    champion = registry.champion(model_name)
    if champion is None:
        raise InputDataError(
            f"{STEP}: {model_name} has no Approved version to score with; run reviews_daily "
            "until a model is blessed and approved, or name a version")
    return champion


def require_approved(version: ModelVersion | Mapping[str, Any]) -> ModelVersion:
    """The version, if it is Approved; else the approval gate fails naming version and status."""
    model = version if isinstance(version, ModelVersion) else ModelVersion.from_dict(version)
    if model.status != ApprovalStatus.APPROVED.value:
        raise GateFailedError(
            gate="model approval", resource=f"{model.name} v{model.version}",
            failures=(GateFailure(
                check="ModelApprovalStatus", measured=model.status, expected="Approved",
                message=f"{model.name} v{model.version} is {model.status}: only an Approved "
                        "version scores data; approve it in the registry or pick another"),))
    return model


def transform_request(settings: Settings, dataset: str, day: dt_.date | str,
                      version: ModelVersion | Mapping[str, Any]) -> TransformRequest:
    """The scoring of ``dataset``'s partition ``day`` by ``version`` (pure; Approved only)."""
    model = require_approved(version)
    artifact_key = str(model.tags.get(LINEAGE_ARTIFACT_KEY) or "")
    if not artifact_key:
        raise ConfigurationError(
            f"{STEP}: {model.name} v{model.version} names no lake key of its model.tar.gz "
            f"(tag {LINEAGE_ARTIFACT_KEY}); register it through reviews_daily")
    config = BatchConfig.from_settings(settings)
    settings.dataset(dataset)  # an unknown dataset is refused by name
    layout = LakeLayout(dataset)
    value = partition_value(day)
    name = job_name(dataset, value, STEP, payload={
        "model": model.name, "version": model.version, "artifact": artifact_key})
    return TransformRequest(
        dataset=dataset, day=value, job_name=name, model_name=model.name,
        model_version=model.version, model_artifact_key=artifact_key,
        source_key=layout.curated(value) + CURATED_FILE,
        input_prefix=layout.predictions_input(value, model.version),
        input_file=f"{dataset}.jsonl",
        output_prefix=layout.predictions_transform(value, model.version),
        predictions_key=layout.predictions_table(value, model.version),
        instance_type=config.instance_type, instance_count=config.instance_count,
        batch_strategy=config.batch_strategy, max_payload_mb=config.max_payload_mb,
        max_concurrent_transforms=config.max_concurrent_transforms,
        timeout_seconds=config.timeout_seconds,
    )


def _read_rows(lake: Lake, key: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """``columns`` of a Parquet object, as plain rows (missing columns are bad input)."""
    import pandas as pd

    frame = pd.read_parquet(io.BytesIO(lake.read_bytes(key)))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputDataError(f"{STEP}: {lake.uri(key)} lacks column(s) {missing}")
    subset = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), None)
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in subset.to_dict(orient="records")]


def stage_input(lake: Lake, request: TransformRequest) -> int:
    """Write the transform's JSON Lines from the curated partition; the number of rows."""
    if not lake.exists(request.source_key):
        raise InputDataError(
            f"{STEP}: {request.dataset} dt={request.day} has no curated data at "
            f"{lake.uri(request.source_key)}; run reviews_daily for that day first")
    rows = _read_rows(lake, request.source_key, INPUT_COLUMNS)
    if not rows:
        raise InputDataError(f"{STEP}: {lake.uri(request.source_key)} has no rows to score")
    lake.delete_prefix(request.input_prefix)
    lake.write_bytes(request.input_key,
                     "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8"))
    return len(rows)


def local_job_request(request: TransformRequest) -> JobRequest:
    """The transform as a processing job of ``include/jobs/batch_transform.py`` (local run)."""
    return JobRequest(
        kind="processing", job_name=request.job_name, script=SCRIPT,
        inputs={MODEL_CHANNEL: request.model_artifact_key, DATA_CHANNEL: request.input_prefix},
        outputs={OUTPUT_NAME: request.output_prefix},
        config={"content_type": request.content_type, "accept": request.accept,
                "split_type": request.split_type, "assemble_with": request.assemble_with,
                "batch_strategy": request.batch_strategy,
                "max_payload_mb": request.max_payload_mb,
                "input_filter": request.input_filter, "join_source": request.join_source,
                "output_filter": request.output_filter},
        timeout_seconds=float(request.timeout_seconds),
    )


def _lines(lake: Lake, key: str, what: str) -> list[dict[str, Any]]:
    if not lake.exists(key):
        raise StepFailed(f"{STEP}: the transform wrote no {what} at {lake.uri(key)}")
    parsed = []
    for number, line in enumerate(lake.read_bytes(key).decode("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise StepFailed(f"{STEP}: {lake.uri(key)} line {number} is not JSON: {exc}") from exc
    return parsed


def joined_predictions(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
                       where: str) -> list[dict[str, Any]]:
    """(review_id, label, probabilities) per input row; the output must hold exactly one
    prediction per input row, in input order, joined with that row's review id."""
    if len(outputs) != len(inputs):
        raise StepFailed(f"{STEP}: {where} has {len(outputs)} prediction(s) for {len(inputs)} "
                         "input row(s); expected one per row")
    rows = []
    for number, (row, out) in enumerate(zip(inputs, outputs, strict=True), start=1):
        answer = out.get(JOIN_KEY) if isinstance(out, dict) else None
        if not isinstance(answer, dict) or "label" not in answer:
            raise StepFailed(f"{STEP}: {where} line {number} holds no prediction "
                             f"({JOIN_KEY} with a label): {str(out)[:200]}")
        if out.get("review_id") != row["review_id"]:
            raise StepFailed(f"{STEP}: {where} line {number} is joined with review_id "
                             f"{out.get('review_id')!r}, but input row {number} is "
                             f"{row['review_id']!r}")
        rows.append({"review_id": row["review_id"], "predicted_label": int(answer["label"]),
                     "probabilities": {str(k): float(v) for k, v in
                                       (answer.get("probabilities") or {}).items()}})
    return rows


def collect_predictions(lake: Lake, request: TransformRequest, *,
                        scored_at: dt_.datetime) -> BatchScoringResult:
    """Read the ``.out`` back, check it, and write the predictions table (overwritten)."""
    inputs = _lines(lake, request.input_key, "input")
    outputs = _lines(lake, request.output_key, "output")
    rows = joined_predictions(inputs, outputs, lake.uri(request.output_key))
    stamp = scored_at.astimezone(dt_.UTC)
    _write_table(lake, request, rows, stamp)
    counts = Counter(str(r["predicted_label"]) for r in rows)
    return BatchScoringResult(
        dataset=request.dataset, day=request.day, model_name=request.model_name,
        model_version=request.model_version, job_name=request.job_name, rows=len(rows),
        predictions_key=request.predictions_key, predictions_uri=lake.uri(request.predictions_key),
        label_counts=dict(sorted(counts.items())), scored_at=stamp.isoformat())


def _write_table(lake: Lake, request: TransformRequest, rows: list[dict[str, Any]],
                 stamp: dt_.datetime) -> None:
    """The predictions as Parquet (probabilities a MAP from label to probability)."""
    import tempfile
    from pathlib import Path

    import duckdb

    with tempfile.TemporaryDirectory(prefix="airsage-predictions-") as tmp:
        source, target = Path(tmp) / "rows.jsonl", Path(tmp) / "predictions.parquet"
        source.write_text("".join(json.dumps({
            **row, "model_name": request.model_name, "model_version": request.model_version,
            "scored_at": stamp.isoformat()}) + "\n" for row in rows), encoding="utf-8")
        connection = duckdb.connect()
        try:
            connection.execute("SET TimeZone = 'UTC'")
            connection.execute(
                f"COPY (SELECT * FROM read_json('{source.as_posix()}', format = 'newline_delimited', "
                "columns = {review_id: 'BIGINT', predicted_label: 'INTEGER', "
                "probabilities: 'MAP(VARCHAR, DOUBLE)', model_name: 'VARCHAR', "
                "model_version: 'VARCHAR', scored_at: 'TIMESTAMPTZ'})) "
                f"TO '{target.as_posix()}' (FORMAT parquet, COMPRESSION zstd)")
        finally:
            connection.close()
        lake.upload(target, request.predictions_key)


def score_partition(settings: Settings, lake: Lake, dataset: str, day: dt_.date | str, *,
                    registry: ModelRegistry, runner: JobRunner,
                    model_version: str | None = None,
                    model_name: str | None = None) -> BatchScoringResult:
    """The local step end to end: resolve and check the version, stage, run the job, collect."""
    from airsage.registry.step import registry_settings

    name = model_name or registry_settings(settings)[0]
    version = resolve_version(registry, name, model_version)
    request = transform_request(settings, dataset, day, version)
    stage_input(lake, request)
    runner.run(lake, local_job_request(request))
    return collect_predictions(lake, request, scored_at=dt_.datetime.now(dt_.UTC))
