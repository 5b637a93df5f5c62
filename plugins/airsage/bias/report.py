"""Clarify's ``analysis.json`` shape, reading it back, and the threshold verdict.

Shape (one section per stage, each facet a list of sensitive groups)::

    {"version": "1.0",
     "pre_training_bias_metrics": {
         "label": "sentiment", "label_value_or_threshold": "1",
         "facets": {"department_name": [
             {"value_or_threshold": "Intimate",
              "metrics": [{"name": "CI", "description": "Class Imbalance (CI)", "value": 0.8},
                          {"name": "KL", "description": "...", "value": null,
                           "error": "KL is infinite: ..."}]}]}},
     "post_training_bias_metrics": {...same...}}

As Clarify writes it: metrics sorted by name; an infinite value (a zero denominator) is the
string ``"Infinity"`` (``"-Infinity"``); a metric that could not be computed keeps
``value: null`` and carries Clarify's ``error``. A threshold facet's group is named by its
interval, e.g. ``"(40, 70]"``, and is also found by its threshold (``40``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from airsage.bias.base import (
    DESCRIPTIONS,
    FAIL,
    PASS,
    WARN,
    BiasVerdict,
    MetricCheck,
    MetricValues,
    Threshold,
    json_value,
    parse_thresholds,
    parse_value,
)
from airsage.errors import InputDataError

ANALYSIS_VERSION = "1.0"
SECTIONS = {"pre_training": "pre_training_bias_metrics",
            "post_training": "post_training_bias_metrics"}


def value_or_threshold_text(values: Sequence[Any] | Any) -> str:
    """Clarify writes the facet values and label values as one comma-joined string."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        values = [values]
    return ",".join(_scalar_text(v) for v in values)


def _scalar_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def metric_entries(metrics: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """The ``metrics`` list of one facet value, sorted by name as Clarify sorts it."""
    reasons = getattr(metrics, "reasons", {})
    entries = []
    for name, value in sorted(metrics.items()):
        entry: dict[str, Any] = {
            "name": name,
            "description": DESCRIPTIONS.get(name, name),
            "value": json_value(value),
        }
        if value is None:
            entry["error"] = reasons.get(name, f"{name} could not be computed")
        entries.append(entry)
    return entries


def stage_section(
    *,
    label: str,
    label_values: Sequence[Any],
    facets: Mapping[str, Sequence[tuple[Any, ...]]],
) -> dict[str, Any]:
    """One stage's section: ``facets`` maps a facet to ``[(value_or_threshold, metrics)]``.

    A group may carry a third item, a mapping of extra keys for its entry (airsage writes
    ``rows`` and, for a group too small to judge, ``skipped``).
    """
    def entry(group: tuple[Any, ...]) -> dict[str, Any]:
        shown, metrics, *extra = group
        return {"value_or_threshold": value_or_threshold_text(shown),
                "metrics": metric_entries(metrics), **(dict(extra[0]) if extra else {})}

    return {
        "label": label,
        "facets": {facet: [entry(group) for group in groups]
                   for facet, groups in facets.items()},
        "label_value_or_threshold": value_or_threshold_text(label_values),
    }


def build_analysis(
    *,
    label: str,
    label_values: Sequence[Any],
    facet: str,
    facet_value_or_threshold: Sequence[Any] | Any,
    pre_training: Mapping[str, float | None] | None = None,
    post_training: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """A complete ``analysis.json`` for one facet; stages without metrics are left out."""
    analysis: dict[str, Any] = {"version": ANALYSIS_VERSION}
    for stage, metrics in (("pre_training", pre_training), ("post_training", post_training)):
        if metrics is not None:
            analysis[SECTIONS[stage]] = stage_section(
                label=label, label_values=label_values,
                facets={facet: [(facet_value_or_threshold, metrics)]},
            )
    return analysis


def read_metrics(
    analysis: Mapping[str, Any],
    *,
    stage: str = "pre_training",
    facet: str | None = None,
    value_or_threshold: Sequence[Any] | Any | None = None,
) -> MetricValues:
    """The metrics of one facet group from an ``analysis.json`` (ours or Clarify's).

    With one facet and one group in the report, ``facet`` and ``value_or_threshold`` may be
    omitted. A report without the stage, facet or group is refused, naming what it holds.
    """
    facets = _stage_facets(analysis, stage)
    if facet is None:
        if len(facets) != 1:
            raise InputDataError(f"bias report holds facets {sorted(facets)}; name one")
        facet = next(iter(facets))
    if facet not in facets:
        raise InputDataError(f"bias report has no facet {facet!r}; facets: {sorted(facets)}")
    groups = facets[facet]
    if value_or_threshold is not None:
        wanted = value_or_threshold_text(value_or_threshold)
        groups = [g for g in groups
                  if _names_group(str(g.get("value_or_threshold")), wanted)]
    if len(groups) != 1:
        present = [g.get("value_or_threshold") for g in facets[facet]]
        raise InputDataError(
            f"bias report: facet {facet!r} holds groups {present}; expected exactly one "
            f"matching {value_or_threshold!r}"
        )
    return _group_metrics(groups[0], facet)


def _stage_facets(analysis: Mapping[str, Any], stage: str) -> Mapping[str, Any]:
    """A stage's ``facets`` mapping, or a refusal naming the sections the report has."""
    if stage not in SECTIONS:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(SECTIONS)}")
    section = analysis.get(SECTIONS[stage])
    if not isinstance(section, Mapping) or not isinstance(section.get("facets"), Mapping):
        raise InputDataError(
            f"bias report has no {SECTIONS[stage]!r} section with facets; sections present: "
            f"{sorted(k for k in analysis if k != 'version')}"
        )
    return section["facets"]


def _group_metrics(group: Mapping[str, Any], facet: str) -> MetricValues:
    """One group's metrics as Clarify reports them (an infinity stays infinite)."""
    out = MetricValues()
    for entry in group.get("metrics", []):
        try:
            value = parse_value(entry.get("value"))
        except (TypeError, ValueError):
            raise InputDataError(
                f"bias report: metric {entry.get('name')!r} of facet {facet!r} has the value "
                f"{entry.get('value')!r}, which is not a number"
            ) from None
        out.put(str(entry["name"]), value, entry.get("error") or None)
    return out


def _names_group(text: str, wanted: str) -> bool:
    """A group's text names ``wanted``: equal, or Clarify's interval ``(wanted, max]``."""
    if text == wanted:
        return True
    if not (text.startswith("(") and text.endswith("]") and "," in text):
        return False
    try:
        return float(text[1:].split(",", 1)[0]) == float(wanted)
    except ValueError:
        return False


def read_groups(
    analysis: Mapping[str, Any], *, stage: str = "pre_training",
) -> list[dict[str, Any]]:
    """Every facet group of a stage: ``{facet, value, rows, skipped, metrics}`` per group.

    ``rows`` and ``skipped`` are airsage's additions (None in a report written by Clarify).
    """
    return [{"facet": str(facet), "value": str(entry.get("value_or_threshold")),
             "rows": entry.get("rows"), "skipped": entry.get("skipped"),
             "metrics": _group_metrics(entry, str(facet))}
            for facet, entries in _stage_facets(analysis, stage).items() for entry in entries]


def _measure(metric: str, value: float) -> float:
    return abs(1.0 - value) if metric == "DI" else abs(value)


def evaluate_thresholds(
    metrics: Mapping[str, float | None],
    thresholds: Mapping[str, Threshold | Mapping[str, float]],
) -> BiasVerdict:
    """Compare each metric's magnitude with its limits; fail closed on missing values.

    The magnitude is ``|value|`` (every Clarify metric is zero when facets are treated
    alike) except DI, a ratio that is one when they are: ``|1 - DI|``. A value strictly above
    ``fail`` fails, strictly above ``warn`` warns. A threshold on a metric that is None or
    absent fails: a gate that cannot measure must not pass. Metrics without a threshold are
    reported as ``pass`` (informational).
    """
    limits = parse_thresholds(thresholds, list(DESCRIPTIONS))
    reasons = getattr(metrics, "reasons", {})
    checks: list[MetricCheck] = []
    names = list(metrics) + [name for name in limits if name not in metrics]
    for name in names:
        value = metrics.get(name)
        limit = limits.get(name)
        warn, fail = (limit.warn, limit.fail) if limit else (None, None)
        if limit is None:
            status, reason = PASS, reasons.get(name, "") if value is None else ""
        elif value is None or math.isnan(value):
            status = FAIL
            reason = reasons.get(name) or f"{name} was not computed"
            reason = f"{reason}; a threshold is configured, so the gate fails closed"
            value = None
        else:
            measured = _measure(name, value)
            measure = "|1 - DI|" if name == "DI" else f"|{name}|"
            if fail is not None and measured > fail:
                status, reason = FAIL, f"{measure} = {measured:.4g} > fail limit {fail:g}"
                if math.isinf(value):
                    reason += f" ({name} is {value}: a zero denominator, as Clarify reports it)"
            elif warn is not None and measured > warn:
                status, reason = WARN, f"{measure} = {measured:.4g} > warn limit {warn:g}"
            else:
                status, reason = PASS, ""
        checks.append(MetricCheck(metric=name, value=value, status=status, warn=warn,
                                  fail=fail, reason=reason))
    statuses = {c.status for c in checks}
    overall = FAIL if FAIL in statuses else WARN if WARN in statuses else PASS
    return BiasVerdict(status=overall, checks=tuple(checks))
