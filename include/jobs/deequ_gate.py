"""airsage's PyDeequ quality job: the shipped DQDL ruleset evaluated by Deequ on Spark.

Runs in the SageMaker Spark processing container (``smspark-submit deequ_gate.py ...``), for
users who run Deequ themselves rather than through Glue Data Quality. Arguments:

- ``--data DIR``: the day's raw partition (CSV with a header, JSON Lines or Parquet files);
- ``--ruleset-b64 TEXT``: the DQDL document, base64-encoded (the shipped file as it is);
- ``--output FILE``: where the rule outcomes go, in Glue Data Quality's ``RuleResults`` keys
  (``Name``, ``Description``, ``Result``, ``EvaluationMessage``, ``EvaluatedMetrics``), so
  the aws target's collect phase reads both engines the same way;
- ``--jars-packages COORD``: PyDeequ's Deequ Maven coordinate (``spark.jars.packages``).

Exit codes: 0 on success (whatever the rules' outcomes: the gate judges, not the job), 2 when
the input or the ruleset cannot be used (retrying will not help), 1 for anything else.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2
OUTCOMES = {"passed": "PASS", "pass": "PASS", "failed": "FAIL", "fail": "FAIL",
            "error": "ERROR"}
READERS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


class BadInput(Exception):
    """The data or the ruleset cannot be used as given."""


def to_glue_rule_results(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """PyDeequ's outcome rows (``Rule``, ``Outcome``, ``FailureReason``, ``EvaluatedMetrics``)
    in Glue Data Quality's ``RuleResults`` shape; an unknown outcome is an ERROR that says so."""
    results = []
    for index, row in enumerate(rows, start=1):
        raw_outcome = str(row.get("Outcome") or "")
        outcome = OUTCOMES.get(raw_outcome.strip().lower())
        message = str(row.get("FailureReason") or "")
        if outcome is None:
            outcome = "ERROR"
            message = f"PyDeequ reported the outcome {raw_outcome!r}, which is not Passed/Failed. {message}"
        metrics = {str(k): (None if v is None else float(v))
                   for k, v in dict(row.get("EvaluatedMetrics") or {}).items()}
        results.append({"Name": f"Rule_{index}", "Description": str(row.get("Rule") or ""),
                        "Result": outcome, "EvaluationMessage": message.strip(),
                        "EvaluatedMetrics": metrics})
    return results


def _format(folder: Path) -> str:
    kinds = {READERS[p.suffix] for p in folder.rglob("*") if p.is_file() and p.suffix in READERS}
    if len(kinds) != 1:
        raise BadInput(f"{folder} must hold files of one format ({', '.join(READERS)}); "
                       f"found {sorted(kinds) or 'none'}")
    return kinds.pop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--ruleset-b64", required=True)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--jars-packages", required=True)
    args = parser.parse_args(argv)
    try:
        ruleset = base64.b64decode(args.ruleset_b64).decode("utf-8")
        if "Rules" not in ruleset:
            raise BadInput("the ruleset has no Rules section")
        kind = _format(args.data)
        from pydeequ.dqdl import EvaluateDataQuality
        from pyspark.sql import SparkSession

        spark = (SparkSession.builder.appName("airsage-deequ-gate")
                 .config("spark.jars.packages", args.jars_packages).getOrCreate())
        reader = spark.read.option("header", "true").option("inferSchema", "true") \
            if kind == "csv" else spark.read
        frame = getattr(reader, kind)(str(args.data))
        outcomes = EvaluateDataQuality.process(spark, frame, ruleset, pandas=True)
        results = to_glue_rule_results(outcomes.to_dict("records"))
    except (BadInput, UnicodeDecodeError, ValueError) as exc:
        print(f"deequ_gate: bad input: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"RuleResults": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
