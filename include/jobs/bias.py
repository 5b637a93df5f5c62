"""airsage's bias job: SageMaker Clarify's processing contract, Clarify's metric definitions.

Contract: airsage's job contract (:mod:`airsage.jobs.contract`; the paths Clarify's own
container reads, rooted at ``AIRSAGE_JOB_ROOT``, default ``/opt/ml``), so a local subprocess
runs this file unchanged:

- ``processing/input/data/``: the dataset, one file or a directory of files (CSV, JSON
  Lines, Parquet);
- ``processing/input/config/config.json``: Clarify's analysis config; the keys read are
  ``dataset_type``, ``headers`` (CSV without a header row), ``label``,
  ``label_values_or_threshold``, ``facet: [{name_or_index, value_or_threshold}]``,
  ``group_variable``, ``predicted_label`` (a column of model predictions, for post-training
  metrics) and ``methods: {pre_training_bias: {methods: "all" | [...]},
  post_training_bias: {...}}``. A facet without ``value_or_threshold`` is measured value by
  value, each in turn as the sensitive group d against all the others (what Clarify does when
  no value is given). Whether a facet or the label is compared by values or by a threshold is
  Clarify's inference (a pandas category or several values: values; floats, or integers of
  which 5 % or more are distinct: a threshold, the group being the interval
  ``(threshold, max]``); airsage's ``facet[].facet_type`` and ``label_type`` ("values" or
  "threshold") say it explicitly instead. airsage also reads ``min_group_size``: a group with
  fewer rows is reported with empty metrics and ``skipped: "too few rows to judge ..."``
  instead of noise or an infinite KL. Every group entry carries ``rows``, its number of rows.
- ``processing/output/analysis/analysis.json``: the report.

Exit codes (the contract's): 0 on success, 2 when the input or the config cannot be used
(retrying will not help; the reason is stderr's last line and ``output/message``), 1 for
anything else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from airsage.bias.base import POSTTRAINING_METRICS, PRETRAINING_METRICS
from airsage.bias.metrics import (
    CONTINUOUS,
    data_type,
    interval_text,
    posttraining_metrics,
    pretraining_metrics,
)
from airsage.bias.report import ANALYSIS_VERSION, stage_section
from airsage.errors import ConfigurationError, InputDataError
from airsage.jobs import contract

DATA_CHANNEL = "data"
OUTPUT = "analysis"
ANALYSIS_FILE = "analysis.json"
READERS = {
    "text/csv": "csv",
    "application/jsonlines": "jsonl",
    "application/x-parquet": "parquet",
}
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


def _read_one(path: Path, fmt: str, headers: list[str] | None) -> pd.DataFrame:
    if fmt == "csv":
        if headers:
            return pd.read_csv(path, header=None, names=headers)
        return pd.read_csv(path)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_parquet(path)


def read_dataset(location: Path, config: dict[str, Any]) -> pd.DataFrame:
    dataset_type = config.get("dataset_type")
    if dataset_type is not None and dataset_type not in READERS:
        raise ConfigurationError(
            f"bias job: dataset_type {dataset_type!r} is not supported; use one of "
            f"{sorted(READERS)}"
        )
    files = [location] if location.is_file() else sorted(
        p for p in location.rglob("*") if p.is_file() and not p.name.startswith(".")
    ) if location.exists() else []
    if not files:
        raise InputDataError(f"bias job: no dataset file at {location}")
    frames = []
    for path in files:
        fmt = READERS.get(dataset_type) if dataset_type else SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise InputDataError(
                f"bias job: cannot tell the format of {path.name}; set dataset_type to one of "
                f"{sorted(READERS)}"
            )
        try:
            frames.append(_read_one(path, fmt, config.get("headers")))
        except Exception as exc:
            raise InputDataError(f"bias job: cannot read {path} as {fmt}: {exc}") from exc
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if data.empty:
        raise InputDataError(f"bias job: the dataset at {location} has no rows")
    return data


def _column(data: pd.DataFrame, name_or_index: Any, what: str) -> str:
    if isinstance(name_or_index, int) and name_or_index not in data.columns:
        if not 0 <= name_or_index < len(data.columns):
            raise ConfigurationError(
                f"bias job: {what} index {name_or_index} is outside the {len(data.columns)} "
                "columns of the dataset"
            )
        return str(data.columns[name_or_index])
    if name_or_index not in data.columns:
        raise ConfigurationError(
            f"bias job: {what} {name_or_index!r} is not a column of the dataset; columns: "
            f"{list(data.columns)}"
        )
    return str(name_or_index)


def _kind(data: pd.DataFrame, column: str, values: list[Any] | None, hint: Any,
          what: str) -> str:
    """``values`` or ``threshold``: airsage's explicit hint, else Clarify's inference."""
    if hint is not None:
        if hint not in ("values", "threshold"):
            raise ConfigurationError(
                f"bias job: {what} type {hint!r} of {column!r} must be 'values' or 'threshold'"
            )
        return str(hint)
    return "threshold" if data_type(data[column], values) == CONTINUOUS else "values"


def _threshold(data: pd.DataFrame, column: str, values: list[Any] | None, what: str) -> Any:
    if not values:
        raise ConfigurationError(
            f"bias job: {what} {column!r} is continuous: threshold values must be provided "
            "for continuous features"
        )
    if len(values) != 1:
        raise ConfigurationError(
            f"bias job: {what} {column!r} is a threshold {what} but lists {values}; give one"
        )
    value = values[0]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigurationError(
                f"bias job: {what} {column!r}: the value provided must be a single numeric "
                f"threshold for continuous data, got {values[0]!r}"
            ) from None
    try:
        data[column] = pd.to_numeric(data[column])
    except (TypeError, ValueError) as exc:
        raise InputDataError(
            f"bias job: {what} {column!r} has a threshold but non-numeric values: {exc}"
        ) from exc
    return value


def _facet_groups(data: pd.DataFrame, column: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Clarify's facet groups: the listed values, the interval above a threshold, or (no
    value given) each value of the column against all the others."""
    values = spec.get("value_or_threshold")
    if values is not None and not isinstance(values, list):
        values = [values]
    kind = _kind(data, column, values, spec.get("facet_type"), "facet")
    if kind == "threshold":
        threshold = _threshold(data, column, values, "facet")
        return [{"text": interval_text(data[column].dropna(), threshold),
                 "facet_threshold": threshold, "facet_values": None}]
    if values:
        return [{"text": ",".join(map(str, values)), "facet_values": values,
                 "facet_threshold": None}]
    present = data[column].dropna().unique()
    if not len(present):
        raise InputDataError(f"bias job: facet {column!r} has no values in this batch")
    return [{"text": str(value), "facet_values": [value], "facet_threshold": None}
            for value in present]


def _outcome(data: pd.DataFrame, label: str, config: dict[str, Any]) -> dict[str, Any]:
    values = config["label_values_or_threshold"]
    if not isinstance(values, list):
        values = [values]
    if not values:
        raise ConfigurationError(
            "bias job: positive label values or thresholds are empty for the label column"
        )
    kind = _kind(data, label, values, config.get("label_type"), "label")
    if kind == "threshold":
        threshold = _threshold(data, label, values, "label")
        return {"label_threshold": threshold, "label_values": None,
                "text": interval_text(data[label].dropna(), threshold)}
    return {"label_values": values, "label_threshold": None, "text": ",".join(map(str, values))}


def _check_predictions(data: pd.DataFrame, label: str, predicted: str,
                       outcome: dict[str, Any], config: dict[str, Any]) -> None:
    """Clarify's checks of the predicted label column before post-training metrics."""
    values = outcome["label_values"] or [outcome["label_threshold"]]
    label_kind = _kind(data, label, values, config.get("label_type"), "label")
    predicted_kind = _kind(data, predicted, values, config.get("label_type"), "predicted label")
    if label_kind != predicted_kind:
        raise InputDataError(
            f"bias job: the predicted label column {predicted!r} is {predicted_kind}-typed but "
            f"the label column {label!r} is {label_kind}-typed; they must be of the same kind"
        )
    if outcome["label_threshold"] is not None:
        data[predicted] = pd.to_numeric(data[predicted])
        positive = data[predicted] > outcome["label_threshold"]
    else:
        column = data[predicted]
        positive = column.isin(values) | column.astype(str).isin([str(v) for v in values])
    if not positive.any():
        raise InputDataError(
            f"bias job: no positive label value ({outcome['text']}) is present in the "
            f"predicted label column {predicted!r}"
        )


def _group_rows(data: pd.DataFrame, column: str, split: dict[str, Any]) -> int:
    """Rows of the sensitive group d (values compared also as text, as the metrics do)."""
    series = data[column]
    if split["facet_threshold"] is not None:  # Clarify's interval (threshold, max]
        numeric = pd.to_numeric(series, errors="coerce")
        return int((numeric > float(split["facet_threshold"])).sum())
    values = split["facet_values"]
    text = series.astype(str).isin([str(v) for v in values])
    return int((series.isin(values) | text).sum())


def _skip_reason(rows: int, total: int, min_group_size: int) -> str | None:
    if rows < min_group_size:
        return (f"too few rows to judge: {rows} row(s) in this group, min_group_size is "
                f"{min_group_size}")
    if rows == total:
        return "no comparison group: every row of the batch is in this group"
    return None


def _methods(config: dict[str, Any], key: str) -> list[str] | None:
    block = (config.get("methods") or {}).get(key)
    if block is None:
        return None
    chosen = block.get("methods", "all") if isinstance(block, dict) else block
    valid = PRETRAINING_METRICS if key == "pre_training_bias" else POSTTRAINING_METRICS
    return list(valid) if chosen == "all" else [str(m).upper() for m in chosen]


def analyze(data: pd.DataFrame, config: dict[str, Any]) -> dict[str, Any]:
    """Compute every configured stage and facet; return the ``analysis.json`` mapping."""
    if "label" not in config or "label_values_or_threshold" not in config:
        raise ConfigurationError("bias job: analysis config needs label and "
                                 "label_values_or_threshold")
    label = _column(data, config["label"], "label")
    facets = config.get("facet") or []
    if not facets:
        raise ConfigurationError("bias job: analysis config lists no facet")
    group = config.get("group_variable")
    group = _column(data, group, "group_variable") if group not in (None, "") else None
    pre = _methods(config, "pre_training_bias")
    post = _methods(config, "post_training_bias")
    if pre is None and post is None:
        raise ConfigurationError(
            "bias job: methods selects neither pre_training_bias nor post_training_bias"
        )
    predicted = config.get("predicted_label")
    if post is not None and predicted is None:
        raise ConfigurationError(
            "bias job: post_training_bias needs predicted_label (a column of the dataset "
            "holding the model's predictions)"
        )
    outcome = _outcome(data, label, config)
    predicted_column = _column(data, predicted, "predicted_label") if post is not None else None
    if predicted_column is not None:
        _check_predictions(data, label, predicted_column, outcome, config)
    try:
        min_group_size = int(config.get("min_group_size") or 0)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"bias job: min_group_size must be a whole number, got "
            f"{config.get('min_group_size')!r}") from None
    pre_groups: dict[str, list] = {}
    post_groups: dict[str, list] = {}
    for spec in facets:
        column = _column(data, spec.get("name_or_index"), "facet")
        measured = data.dropna(subset=[column, label])
        for facet_group in _facet_groups(data, column, spec):
            rows = _group_rows(measured, column, facet_group)
            # a named group with no rows is refused by the metrics below, naming the facet
            named_and_absent = rows == 0 and spec.get("value_or_threshold") is not None
            skipped = None if named_and_absent else _skip_reason(rows, len(measured),
                                                                  min_group_size)
            extra: dict[str, Any] = {"rows": rows}
            if skipped is not None:
                extra["skipped"] = skipped
            common = {"facet": column, "label": label, "group": group,
                      "label_values": outcome["label_values"],
                      "label_threshold": outcome["label_threshold"],
                      "facet_values": facet_group["facet_values"],
                      "facet_threshold": facet_group["facet_threshold"]}
            if pre is not None:
                values = {} if skipped else pretraining_metrics(data, metrics=pre, **common)
                pre_groups.setdefault(column, []).append((facet_group["text"], values, extra))
            if post is not None:
                values = {} if skipped else posttraining_metrics(
                    data, predicted_label=predicted_column, metrics=post, **common)
                post_groups.setdefault(column, []).append((facet_group["text"], values, extra))
    label_values = outcome["text"]
    analysis: dict[str, Any] = {"version": ANALYSIS_VERSION}
    if pre is not None:
        analysis["pre_training_bias_metrics"] = stage_section(
            label=label, label_values=label_values, facets=pre_groups)
    if post is not None:
        analysis["post_training_bias_metrics"] = stage_section(
            label=label, label_values=label_values, facets=post_groups)
    return analysis


def main() -> None:
    config = contract.read_config()
    analysis = analyze(read_dataset(contract.processing_input(DATA_CHANNEL), config), config)
    output = contract.processing_output(OUTPUT)
    output.mkdir(parents=True, exist_ok=True)
    target = output / ANALYSIS_FILE
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(analysis, indent=2, allow_nan=False), encoding="utf-8")
    tmp.replace(target)
    print(f"bias job: wrote {target}")


if __name__ == "__main__":
    sys.exit(contract.run_job(main, kind="processing"))
