"""airsage's monitor job: a processing-job script in Model Monitor's container contract.

Inputs and outputs follow the environment variables Model Monitor's container reads, with
defaults under ``/opt/ml`` (``AIRSAGE_OPT_ML_ROOT`` remaps that root for a local subprocess):

- ``dataset_source``: captured JSON lines (every file below it), default
  ``/opt/ml/processing/input/endpoint``;
- ``baseline_statistics`` / ``baseline_constraints``: the baseline's files, default
  ``/opt/ml/processing/baseline/stats/statistics.json`` and
  ``/opt/ml/processing/baseline/constraints/constraints.json``;
- ``baseline_model_quality_constraints``: a model-quality ``constraints.json`` (Model
  Monitor's ``multiclass_classification_constraints``), optional, default
  ``/opt/ml/processing/baseline/model_quality/constraints.json``; without it the data-quality
  constraints' block is used;
- ``baseline_vocabulary``: airsage's vocabulary, default
  ``/opt/ml/processing/baseline/vocabulary/vocabulary.json`` (optional);
- ``ground_truth_source``: Model Monitor ground-truth JSON lines (optional), default
  ``/opt/ml/processing/groundtruth``;
- ``output_path``: where the data-quality ``statistics.json`` and
  ``constraint_violations.json`` and airsage's ``summary.json`` go, default
  ``/opt/ml/processing/resultdata``; with ground truth, the model-quality
  ``statistics.json`` and ``constraint_violations.json`` go to its ``model_quality/``
  folder, in the shape of Model Monitor's model-quality job;
- ``end_time``: the interval's end (Model Monitor's variable), written as the
  model-quality statistics' ``evaluation_time``;
- ``airsage_monitoring_config``: JSON overrides of the baseline's ``monitoring_config``
  (thresholds, ``min_samples``, ``min_ground_truth``).

Command-line options of the same names (``--dataset-source`` ...) win over the environment.
On an error the reason goes to ``/opt/ml/output/message`` and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

try:
    import airsage  # noqa: F401  (shipped beside the script in the container)
except ModuleNotFoundError:  # a checkout: the package lives in plugins/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from airsage.monitoring.base import STATISTICS_FILE, SUMMARY_FILE, VIOLATIONS_FILE
from airsage.monitoring.capture import parse_captures, parse_ground_truth
from airsage.monitoring.checks import evaluate_interval
from airsage.monitoring.model_quality import MODEL_QUALITY_DIR, violations_document

OPTIONS = {
    "dataset_source": "processing/input/endpoint",
    "baseline_statistics": "processing/baseline/stats/statistics.json",
    "baseline_constraints": "processing/baseline/constraints/constraints.json",
    "baseline_model_quality_constraints": "processing/baseline/model_quality/constraints.json",
    "baseline_vocabulary": "processing/baseline/vocabulary/vocabulary.json",
    "ground_truth_source": "processing/groundtruth",
    "output_path": "processing/resultdata",
}


class JobError(Exception):
    """The job cannot run on these inputs (the message says which and why)."""


def resolve_paths(argv: list[str] | None, environ: dict[str, str]) -> dict[str, Path]:
    root = Path(environ.get("AIRSAGE_OPT_ML_ROOT") or "/opt/ml")
    parser = argparse.ArgumentParser(description="airsage monitor job")
    for name in OPTIONS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name)
    args = parser.parse_args(argv)
    paths = {}
    for name, default in OPTIONS.items():
        value = getattr(args, name) or environ.get(name)
        paths[name] = Path(value) if value else root / default
    paths["failure"] = root / "output" / "message"
    return paths


def _lines(directory: Path) -> Iterator[tuple[str, bytes]]:
    """(file:line, bytes) of every file below ``directory``, in name order."""
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                yield f"{path.relative_to(directory)}:{number}", line


def _read_json(path: Path, what: str, *, required: bool = True) -> dict | None:
    if not path.exists():
        if required:
            raise JobError(f"monitor job: the {what} {path} does not exist")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JobError(f"monitor job: the {what} {path} is not valid JSON: {exc}") from exc


def run(paths: dict[str, Path], environ: dict[str, str]) -> dict:
    statistics = _read_json(paths["baseline_statistics"], "baseline statistics")
    constraints = _read_json(paths["baseline_constraints"], "baseline constraints")
    quality_constraints = _read_json(paths["baseline_model_quality_constraints"],
                                     "baseline model-quality constraints", required=False)
    vocabulary = _read_json(paths["baseline_vocabulary"], "baseline vocabulary", required=False)
    try:
        overrides = json.loads(environ.get("airsage_monitoring_config") or "{}")
    except json.JSONDecodeError as exc:
        raise JobError(f"monitor job: airsage_monitoring_config is not JSON: {exc}") from exc
    source = paths["dataset_source"]
    captures = parse_captures(_lines(source) if source.is_dir() else iter(()))
    truth_dir = paths["ground_truth_source"]
    ground_truth = parse_ground_truth(_lines(truth_dir)) if truth_dir.is_dir() else None
    report = evaluate_interval(
        captures, statistics=statistics, constraints=constraints, vocabulary=vocabulary,
        ground_truth=ground_truth, overrides=overrides,
        model_quality_constraints=quality_constraints,
        evaluation_time=environ.get("end_time") or None,
    )
    output = paths["output_path"]
    documents = {
        STATISTICS_FILE: report.statistics,
        VIOLATIONS_FILE: {"violations": [v.to_dict() for v in report.violations]},
        SUMMARY_FILE: report.summary,
    }
    if report.model_quality_statistics is not None:
        documents[MODEL_QUALITY_DIR + STATISTICS_FILE] = report.model_quality_statistics
        documents[MODEL_QUALITY_DIR + VIOLATIONS_FILE] = violations_document(
            report.model_quality_violations)
    for name, document in documents.items():
        target = output / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    summary = report.summary
    print(f"monitor: samples={summary['samples']} malformed={summary['malformed_records']} "
          f"status={summary['status']} violations={len(report.all_violations)}")
    return summary


def main(argv: list[str] | None = None) -> int:
    environ = dict(os.environ)
    paths = resolve_paths(argv, environ)
    try:
        run(paths, environ)
    except Exception as exc:  # the reason must reach the failure file, whatever it is
        message = str(exc) if isinstance(exc, JobError) else f"monitor job crashed: {exc!r}"
        paths["failure"].parent.mkdir(parents=True, exist_ok=True)
        paths["failure"].write_text(message)
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
