"""Check one interval of captured traffic against a baseline: the monitor job's logic.

Checks, in Model Monitor's names where Model Monitor has them:

- schema (always, on any sample size): ``missing_column_check``, ``extra_column_check``,
  ``data_type_check`` (share of values of the wrong type above ``datatype_check_threshold``);
- statistical (only with at least ``min_samples`` instances, otherwise the interval is
  reported as ``insufficient_samples``, which is not a violation): ``completeness_check``,
  ``categorical_values_check`` (share of values outside the baseline domain above
  ``domain_content_threshold``), ``baseline_drift_check`` on the input features,
  ``text_drift_check`` on the derived text features and ``prediction_drift_check`` on the
  predicted label and confidence (distances and the Robust/Simple methods as in
  :mod:`airsage.monitoring.statistics`);
- ``model_quality_check`` (with at least ``min_ground_truth`` labelled instances): each
  metric of the model-quality ``multiclass_classification_constraints`` compared with its
  threshold (see :mod:`airsage.monitoring.model_quality`). Its statistics and violations
  are Model Monitor's model-quality files, kept apart from the data-quality ones.

Tabular features are read from structured (JSON) requests only: a CSV request carries just
the review text, so CSV-only traffic leaves them "not observed" rather than "missing".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airsage.monitoring.base import (
    BASELINE_DRIFT_CHECK,
    CATEGORICAL_VALUES_CHECK,
    COMPLETENESS_CHECK,
    DATA_TYPE_CHECK,
    EXTRA_COLUMN_CHECK,
    MISSING_COLUMN_CHECK,
    MODEL_QUALITY_CHECK,
    PREDICTION_DRIFT_CHECK,
    TEXT_DRIFT_CHECK,
    UNKNOWN,
    Violation,
)
from airsage.monitoring.baseline import DERIVED_TYPES, derived_columns
from airsage.monitoring.capture import ParsedCaptures, ParsedGroundTruth
from airsage.monitoring.model_quality import constraints_block, evaluate_model_quality
from airsage.monitoring.statistics import (
    as_category,
    baseline_frequencies,
    baseline_total,
    categorical_distance,
    common_counts,
    feature_statistics,
    numerical_distance,
    robust,
    statistics_document,
    type_matches,
    value_type,
)

DEFAULT_MONITORING_CONFIG: dict[str, Any] = {
    "datatype_check_threshold": 0.1,
    "domain_content_threshold": 0.1,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
    "min_samples": 200,
    "min_ground_truth": 50,
}
COMPLETENESS_ALPHA = 0.001
ROLE_CHECKS = {"input": BASELINE_DRIFT_CHECK, "text": TEXT_DRIFT_CHECK,
               "prediction": PREDICTION_DRIFT_CHECK}


def merged_config(constraints: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults < the baseline's ``monitoring_config`` < the run's overrides."""
    config = _merge(DEFAULT_MONITORING_CONFIG, constraints.get("monitoring_config") or {})
    return _merge(config, overrides)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _fmt(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True)
class IntervalReport:
    """Everything the monitor job writes for one interval.

    Data quality (``statistics``, ``violations``) and model quality (``model_quality_*``)
    are separate file sets, as Model Monitor's two jobs write them; ``summary`` is airsage's.
    """

    statistics: dict[str, Any]
    violations: list[Violation]
    model_quality_statistics: dict[str, Any] | None
    model_quality_violations: list[Violation]
    summary: dict[str, Any]

    @property
    def all_violations(self) -> list[Violation]:
        """Both kinds, as the retraining policy counts them."""
        return [*self.violations, *self.model_quality_violations]


def evaluate(
    captures: ParsedCaptures,
    *,
    statistics: Mapping[str, Any],
    constraints: Mapping[str, Any],
    vocabulary: Mapping[str, Any] | None,
    ground_truth: ParsedGroundTruth | None = None,
    overrides: Mapping[str, Any] | None = None,
    model_quality_constraints: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Violation], dict[str, Any]]:
    """The interval's data-quality ``statistics.json``, every violation (data and model
    quality) and airsage's summary; :func:`evaluate_interval` keeps the two apart."""
    report = evaluate_interval(
        captures, statistics=statistics, constraints=constraints, vocabulary=vocabulary,
        ground_truth=ground_truth, overrides=overrides,
        model_quality_constraints=model_quality_constraints)
    return report.statistics, report.all_violations, report.summary


def evaluate_interval(
    captures: ParsedCaptures,
    *,
    statistics: Mapping[str, Any],
    constraints: Mapping[str, Any],
    vocabulary: Mapping[str, Any] | None,
    ground_truth: ParsedGroundTruth | None = None,
    overrides: Mapping[str, Any] | None = None,
    model_quality_constraints: Mapping[str, Any] | None = None,
    evaluation_time: str | None = None,
) -> IntervalReport:
    """Check one interval against the baseline (see the module doc).

    ``model_quality_constraints`` is a model-quality ``constraints.json``; without one, the
    ``multiclass_classification_constraints`` of ``constraints`` are used (airsage's older
    baselines kept them there).
    """
    config = merged_config(constraints, overrides or {})
    dist = config["distribution_constraints"]
    method = str(dist.get("comparison_method", "Robust"))
    min_samples = int(config["min_samples"])
    airsage = constraints.get("airsage") or {}
    base_stats = {entry["name"]: entry for entry in statistics.get("features", [])}
    base_constraints = {entry["name"]: entry for entry in constraints.get("features", [])}
    derived_roles: dict[str, str] = dict(airsage.get("derived_features") or {})
    inputs = list(airsage.get("input_features")
                  or [name for name in base_constraints if name not in derived_roles])
    text_column = airsage.get("text_column")
    identifiers = set(config.get("identifier_columns") or airsage.get("identifier_columns") or [])

    records = captures.records
    structured = [record for record in records if record.features is not None]
    text_only = len(records) - len(structured)
    violations: list[Violation] = []
    details: dict[str, Any] = defaultdict(dict)

    # -- columns of the interval -----------------------------------------------------------
    columns: dict[str, list[Any]] = {}
    present_keys: set[str] = set()
    for record in structured:
        present_keys.update(record.features or {})
    not_observed: list[str] = []
    for name in inputs:
        if name == text_column:
            columns[name] = [record.text for record in records]
            if structured and name not in present_keys and not text_only:
                violations.append(Violation(name, MISSING_COLUMN_CHECK,
                                            f"Column {name} is missing from every request."))
                del columns[name]
        elif not structured:
            not_observed.append(name)
        elif name not in present_keys:
            violations.append(Violation(name, MISSING_COLUMN_CHECK,
                                        f"Column {name} is missing from every request."))
        else:
            columns[name] = [(record.features or {}).get(name) for record in structured]
    for extra in sorted(present_keys - set(inputs) - identifiers):
        violations.append(Violation(extra, EXTRA_COLUMN_CHECK,
                                    f"Column {extra} is not in the baseline's columns {inputs}."))

    vocab_tokens = (vocabulary or {}).get("tokens") or {}
    min_count = int((vocabulary or {}).get("min_count") or airsage.get("vocabulary_min_count") or 1)
    has_predictions = any(record.label is not None for record in records)
    derived = derived_columns(
        [record.text for record in records],
        [record.label for record in records] if has_predictions else None,
        [record.confidence for record in records] if has_predictions else None,
        vocab_tokens, min_count=min_count,
    ) if text_column and records else {}
    derived = {name: values for name, values in derived.items() if name in derived_roles}

    # -- statistics of the interval ---------------------------------------------------------
    entries = []
    for name, values in [*columns.items(), *derived.items()]:
        # an input column's type is what its values are this interval (a type change is the
        # data_type_check's business); a derived feature's type is declared
        declared = DERIVED_TYPES.get(name) if name in derived else None
        entries.append(feature_statistics(name, values, kind=declared))
    interval_statistics = statistics_document(len(records), entries)

    # -- data types (any sample size) -------------------------------------------------------
    threshold = float(config["datatype_check_threshold"])
    for name, values in columns.items():
        expected = (base_constraints.get(name) or {}).get("inferred_type", UNKNOWN)
        observed = [value_type(value)[0] for value in values]
        present = [kind for kind in observed if kind is not None]
        if not present:
            continue
        wrong = sum(1 for kind in present if not type_matches(kind, expected))
        share = wrong / len(present)
        details[DATA_TYPE_CHECK][name] = {"expected": expected, "mismatch_share": share}
        if share > threshold:
            violations.append(Violation(name, DATA_TYPE_CHECK, (
                f"Data type match requirement is not met. Expected data type: {expected}, "
                f"{wrong} of {len(present)} values ({_fmt(share)}) differ; tolerance "
                f"datatype_check_threshold: {threshold}.")))

    summary: dict[str, Any] = {
        "samples": len(records),
        "structured_samples": len(structured),
        "text_only_samples": text_only,
        "events": captures.events,
        "malformed_records": captures.malformed,
        "malformed_examples": captures.errors[:5],
        "min_samples": min_samples,
        "not_observed": not_observed,
    }
    if not records:
        summary["status"] = "no_data"
    elif len(records) < min_samples:
        summary["status"] = "insufficient_samples"
    else:
        summary["status"] = "ok"
    summary["drift_verdict"] = summary["status"] == "ok"

    if summary["drift_verdict"]:
        violations += _completeness(columns, base_constraints, base_stats, method, details)
        violations += _domains(columns, base_constraints, config, details)
        roles = {name: "input" for name in columns if name != text_column}
        roles.update({name: derived_roles[name] for name in derived})
        for name, role in roles.items():
            violation = _drift(name, role, base_stats.get(name), columns.get(name, derived.get(name)),
                               dist, method, details)
            if violation:
                violations.append(violation)

    quality = evaluate_model_quality(
        records, ground_truth,
        constraints=constraints_block(model_quality_constraints, constraints),
        min_ground_truth=int(config["min_ground_truth"]), method=method,
        evaluation_time=evaluation_time)
    summary["ground_truth"] = quality.summary
    if quality.summary.get("checks"):
        details[MODEL_QUALITY_CHECK] = quality.summary["checks"]
    summary["checks"] = dict(details)
    counts: dict[str, int] = defaultdict(int)
    for violation in [*violations, *quality.violations]:
        counts[violation.constraint_check_type] += 1
    summary["violation_counts"] = dict(counts)
    return IntervalReport(statistics=interval_statistics, violations=violations,
                          model_quality_statistics=quality.statistics,
                          model_quality_violations=quality.violations, summary=summary)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (n is an interval's size)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    return min(1.0, sum(
        math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
        for i in range(k, n + 1)
    ))


def _completeness(
    columns: Mapping[str, list[Any]], base_constraints: Mapping[str, Any],
    base_stats: Mapping[str, Any], method: str, details: dict[str, Any],
) -> list[Violation]:
    """Completeness below the baseline's, beyond sampling noise when the method is Robust.

    Robust: the interval's count of missing values is tested against a binomial with the
    baseline's missing rate (raised by one standard error of the baseline's own estimate);
    a count that rare (p-value below ``COMPLETENESS_ALPHA``) is a violation. A feature that
    is 4 % missing in training is thus not flagged for 7 % missing in 250 requests, but is
    for 15 %. A feature complete in the baseline tolerates nothing, as in Model Monitor.
    Simple: any completeness below the baseline's.
    """
    found = []
    for name, values in columns.items():
        expected = (base_constraints.get(name) or {}).get("completeness")
        if expected is None or not values:
            continue
        n = len(values)
        missing = sum(1 for value in values if value_type(value)[0] is None)
        observed = 1 - missing / n
        expected = float(expected)
        present, base_missing = common_counts(base_stats.get(name) or {})
        m = present + base_missing
        rate = 1 - expected
        if m:
            rate = min(1.0, rate + math.sqrt(rate * (1 - rate) / m))
        if method == "Robust":
            p_value = binomial_tail(missing, n, rate)
            failed = observed < expected and p_value < COMPLETENESS_ALPHA
        else:
            p_value = None
            failed = observed < expected - 1e-12
        details[COMPLETENESS_CHECK][name] = {"observed": observed, "expected": expected,
                                             "p_value": p_value}
        if failed:
            found.append(Violation(name, COMPLETENESS_CHECK, (
                f"Data completeness requirement is not met. Expected completeness: "
                f"{_fmt(expected)}, observed: {_fmt(observed)} over {n} values"
                + (f" (binomial p-value {p_value:.2g} < {COMPLETENESS_ALPHA})."
                   if p_value is not None else "."))))
    return found


def _domains(
    columns: Mapping[str, list[Any]], base_constraints: Mapping[str, Any],
    config: Mapping[str, Any], details: dict[str, Any],
) -> list[Violation]:
    found = []
    threshold = float(config["domain_content_threshold"])
    for name, values in columns.items():
        domain = ((base_constraints.get(name) or {}).get("string_constraints") or {}).get("domains")
        if not domain:
            continue
        allowed = {str(value) for value in domain}
        present = [as_category(value) for value in values if value_type(value)[0] is not None]
        if not present:
            continue
        unknown = [value for value in present if value not in allowed]
        share = len(unknown) / len(present)
        details[CATEGORICAL_VALUES_CHECK][name] = {"unknown_share": share,
                                                   "unknown_examples": sorted(set(unknown))[:5]}
        if share > threshold:
            found.append(Violation(name, CATEGORICAL_VALUES_CHECK, (
                f"Data content requirement is not met. {_fmt(share)} of the values are outside "
                f"the baseline domain (e.g. {sorted(set(unknown))[:3]}); tolerance "
                f"domain_content_threshold: {threshold}.")))
    return found


def _drift(
    name: str, role: str, base_entry: Mapping[str, Any] | None, values: Sequence[Any] | None,
    dist: Mapping[str, Any], method: str, details: dict[str, Any],
) -> Violation | None:
    check = ROLE_CHECKS[role]
    if base_entry is None or values is None or dist.get("perform_comparison") == "Disabled":
        return None
    if "numerical_statistics" in base_entry:
        numbers = [number for _, number in (value_type(value) for value in values)
                   if number is not None]
        measured = numerical_distance(base_entry, numbers)
        threshold = float(dist.get("comparison_threshold", 0.1))
        kind = "numerical"
    else:
        counts = baseline_frequencies(base_entry)
        if counts is None:
            return None
        present = [as_category(value) for value in values if value_type(value)[0] is not None]
        measured = categorical_distance(counts, present, baseline_total(base_entry))
        threshold = float(dist.get("categorical_comparison_threshold",
                                   dist.get("comparison_threshold", 0.1)))
        kind = "categorical"
    if measured is None:
        return None
    raw, n, m = measured
    distance = robust(raw, n, m, method)
    drifted = distance > threshold
    details[check][name] = {"distance": distance, "raw_distance": raw, "n": n, "m": m,
                            "threshold": threshold, "method": method, "kind": kind,
                            "drifted": drifted}
    if not drifted:
        return None
    return Violation(name, check, (
        f"Baseline drift distance: {_fmt(distance)} exceeds threshold: {threshold} "
        f"({kind} L-infinity, {method}; raw distance {_fmt(raw)}, n={n}, baseline m={m})."))
