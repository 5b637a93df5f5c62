"""airsage's baseline job: Model Monitor's suggested baseline for one model version.

A processing-job script under airsage's job contract (:mod:`airsage.jobs.contract`; root
``AIRSAGE_JOB_ROOT``, default ``/opt/ml``). Inputs, under ``processing/input/``:

- ``model/*.tar.gz``: the model version's artifact (airsage's model contract);
- ``rows/*.parquet``: the reference rows' source (the curated day, or a features split);
- ``train/*.parquet`` (source ``unseen``): the training split, whose rows are left out;
- ``earlier/`` (source ``unseen``): a manifest of earlier accepted days' curated files;
- ``validation/*.parquet`` (optional, sources ``curated`` / ``features``): the accuracy
  reference.

The config (``processing/input/config/config.json``): ``monitoring`` (the ``monitoring:``
settings section), ``source`` (``unseen`` | ``curated`` | ``features``), ``source_key``,
``excluded_key``, ``earlier_keys`` (the manifest's keys, in order), and the metadata recorded
in ``constraints.json``: ``dataset``, ``day``, ``model_name``, ``model_version``,
``model_artifact_key``.

Output, ``processing/output/baseline/``: ``statistics.json``, ``constraints.json``,
``vocabulary.json`` and, when labels are known, ``model_quality/statistics.json`` and
``model_quality/constraints.json``. Rows that cannot be baselined (a missing feature column,
no rows, no unseen row) exit 2; the reason is stderr's last line.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    import airsage  # noqa: F401  (shipped beside the script in the container)
except ModuleNotFoundError:  # a checkout: the package lives in plugins/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from airsage.errors import InputDataError
from airsage.jobs import contract

STEP = "monitoring baseline"
OUTPUT = "baseline"


def _one_parquet(channel: str, what: str) -> Any:
    directory = contract.processing_input(channel)
    files = sorted(directory.rglob("*.parquet")) if directory.is_dir() else []
    if len(files) != 1:
        raise InputDataError(f"{STEP}: expected one Parquet file of the {what} in {directory}, "
                             f"found {[p.name for p in files]}")
    return _read(files[0], what)


def _read(path: Path, what: str) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputDataError(f"{STEP}: the {what} {path.name} is not a readable Parquet file: "
                             f"{exc}") from exc


def _with_earlier_days(frame: Any, keys: list[str]) -> tuple[Any, list[dict[str, Any]]]:
    """Add the curated rows of earlier accepted days (the model trained on this day's split
    only, so they are unseen too, in their natural mix). The Robust comparison's margin
    shrinks with the baseline's size: one day's held-out share alone would hide real drift."""
    import pandas as pd

    directory = contract.processing_input("earlier")
    frames, used = [frame], []
    for key in keys:
        rows = _read(directory / contract.manifest_name(key), "curated data of an earlier day")
        frames.append(rows)
        used.append({"key": key, "rows": len(rows)})
    if not used:
        return frame, used
    return pd.concat(frames, ignore_index=True), used


def _plain(value: Any) -> Any:
    """A JSON-safe id (numpy integers become ints)."""
    return value.item() if hasattr(value, "item") else value


def run() -> None:
    import pandas as pd

    from airsage.monitoring.base import (
        CONSTRAINTS_FILE,
        STATISTICS_FILE,
        VOCABULARY_FILE,
        MonitoringSettings,
    )
    from airsage.monitoring.baseline import build_baseline
    from airsage.monitoring.model_quality import MODEL_QUALITY_DIR
    from airsage.monitoring.step import unseen_rows
    from airsage.training.model import load_model, unpack_model

    config = contract.read_config()
    monitoring = MonitoringSettings.from_mapping(config.get("monitoring") or {},
                                                 source="the baseline job's config")
    source, source_key = str(config["source"]), str(config["source_key"])
    id_column = (monitoring.identifier_columns or ("review_id",))[0]
    selection: dict[str, Any] = {}
    frame = _one_parquet("rows", f"{source} rows")
    if source == "unseen":
        train = _one_parquet("train", "train features")
        frame, selection = unseen_rows(frame, train, id_column=id_column,
                                       label_column=monitoring.label_column,
                                       text_column=monitoring.text_column)
        frame, selection["earlier_days"] = _with_earlier_days(
            frame, list(config.get("earlier_keys") or []))
    missing = [name for name in monitoring.features if name not in frame.columns]
    if missing:
        raise InputDataError(
            f"{STEP}: {source_key} lacks the feature column(s) {missing}; it has "
            f"{list(frame.columns)} (monitoring.features expects {list(monitoring.features)})")
    if frame.empty:
        raise InputDataError(f"{STEP}: {source_key} has no rows to baseline")
    model_dir = contract.processing_input("model")
    archives = sorted(model_dir.glob("*.tar.gz")) if model_dir.is_dir() else []
    if len(archives) != 1:
        raise InputDataError(f"{STEP}: expected one model .tar.gz in {model_dir}, found "
                             f"{[p.name for p in archives]}")
    label = monitoring.label_column
    with tempfile.TemporaryDirectory(prefix="airsage-baseline-") as scratch:
        model = load_model(unpack_model(archives[0], Path(scratch) / "model"))
        texts = [None if value is None or bool(pd.isna(value)) else str(value)
                 for value in frame[monitoring.text_column].tolist()]
        probabilities = model.predict_proba(texts)
        quality = None
        validation_dir = contract.processing_input("validation")
        if source != "unseen" and validation_dir.is_dir() and any(validation_dir.iterdir()):
            validation = _one_parquet("validation", "validation features")
            if label in validation.columns and not validation.empty:
                truth = validation[label].astype(int).to_numpy()
                predicted = model.predict(validation[monitoring.text_column].tolist())
                quality = {"accuracy": float((predicted == truth).mean()), "n": len(truth),
                           "reference": "validation"}
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
                            "excluded_key": config.get("excluded_key"), "count": len(frame),
                            **selection}
    if id_column in frame.columns:
        rows["id_column"] = id_column
        rows["ids"] = [_plain(value) for value in frame[id_column].tolist()]
    baseline = build_baseline(
        columns, probabilities=probabilities, labels=model.labels, settings=monitoring,
        quality=quality,
        metadata={"model_name": config["model_name"],
                  "model_version": str(config["model_version"]), "dataset": config["dataset"],
                  "day": config["day"], "source_key": source_key,
                  "model_artifact_key": config["model_artifact_key"], "baseline_rows": rows},
    )
    documents = {STATISTICS_FILE: baseline.statistics, CONSTRAINTS_FILE: baseline.constraints,
                 VOCABULARY_FILE: baseline.vocabulary}
    if baseline.model_quality_statistics is not None:  # Model Monitor's model-quality files
        documents[MODEL_QUALITY_DIR + STATISTICS_FILE] = baseline.model_quality_statistics
        documents[MODEL_QUALITY_DIR + CONSTRAINTS_FILE] = baseline.model_quality_constraints
    output = contract.processing_output(OUTPUT)
    for name, document in documents.items():
        target = output / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2))
    print(f"baseline: {len(frame)} rows ({source}), accuracy reference "
          f"{None if quality is None else quality['reference']}")


if __name__ == "__main__":
    sys.exit(contract.run_job(run, kind="processing"))
