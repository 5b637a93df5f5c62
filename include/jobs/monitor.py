"""airsage's monitor job: a processing-job script over Model Monitor's file formats.

It follows airsage's job contract (:mod:`airsage.jobs.contract`; root ``AIRSAGE_JOB_ROOT``,
default ``/opt/ml``). Inputs, under ``processing/input/``:

- ``endpoint/``: captured JSON lines (Model Monitor's data capture), every file below it;
- ``baseline/``: the model version's baseline prefix: ``statistics.json`` and
  ``constraints.json`` (required), ``vocabulary.json`` (airsage's, optional) and
  ``model_quality/constraints.json`` (Model Monitor's ``multiclass_classification_constraints``,
  optional; without it the data-quality constraints' block is used);
- ``groundtruth/``: Model Monitor ground-truth JSON lines (optional).

The config (``processing/input/config/config.json``): ``monitoring_config``, overrides of the
baseline's ``monitoring_config`` (thresholds, ``min_samples``, ``min_ground_truth``), and
``end_time``, the interval's end (Model Monitor's variable), written as the model-quality
statistics' ``evaluation_time``.

Output, ``processing/output/report/``: the data-quality ``statistics.json`` and
``constraint_violations.json`` and airsage's ``summary.json``; with ground truth, the
model-quality ``statistics.json`` and ``constraint_violations.json`` in its
``model_quality/`` folder, in the shape of Model Monitor's model-quality job.

A missing or unreadable baseline exits 1 with the reason in ``output/message`` (the step
that writes the baseline can repair it); a malformed config exits 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

try:
    import airsage  # noqa: F401  (shipped beside the script in the container)
except ModuleNotFoundError:  # a checkout: the package lives in plugins/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from airsage.errors import ConfigurationError
from airsage.jobs import contract
from airsage.monitoring.base import (
    CONSTRAINTS_FILE,
    STATISTICS_FILE,
    SUMMARY_FILE,
    VIOLATIONS_FILE,
    VOCABULARY_FILE,
)
from airsage.monitoring.capture import parse_captures, parse_ground_truth
from airsage.monitoring.checks import evaluate_interval
from airsage.monitoring.model_quality import MODEL_QUALITY_DIR, violations_document

CAPTURE_CHANNEL = "endpoint"
BASELINE_CHANNEL = "baseline"
GROUND_TRUTH_CHANNEL = "groundtruth"
OUTPUT = "report"


class JobError(Exception):
    """The job cannot run on these inputs (the message says which and why); exit code 1:
    a baseline is written by an earlier step, and rerunning that step can repair it."""


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


def run() -> dict:
    config = contract.read_config()
    baseline = contract.processing_input(BASELINE_CHANNEL)
    statistics = _read_json(baseline / STATISTICS_FILE, "baseline statistics")
    constraints = _read_json(baseline / CONSTRAINTS_FILE, "baseline constraints")
    quality_constraints = _read_json(baseline / MODEL_QUALITY_DIR / CONSTRAINTS_FILE,
                                     "baseline model-quality constraints", required=False)
    vocabulary = _read_json(baseline / VOCABULARY_FILE, "baseline vocabulary", required=False)
    overrides = config.get("monitoring_config") or {}
    if not isinstance(overrides, dict):
        raise ConfigurationError("monitor job: config.monitoring_config must be a JSON object")
    source = contract.processing_input(CAPTURE_CHANNEL)
    captures = parse_captures(_lines(source) if source.is_dir() else iter(()))
    truth_dir = contract.processing_input(GROUND_TRUTH_CHANNEL)
    ground_truth = parse_ground_truth(_lines(truth_dir)) if truth_dir.is_dir() else None
    report = evaluate_interval(
        captures, statistics=statistics, constraints=constraints, vocabulary=vocabulary,
        ground_truth=ground_truth, overrides=overrides,
        model_quality_constraints=quality_constraints,
        evaluation_time=config.get("end_time") or None,
    )
    output = contract.processing_output(OUTPUT)
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


if __name__ == "__main__":
    sys.exit(contract.run_job(run, kind="processing"))
