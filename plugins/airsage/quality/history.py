"""The metrics history (Deequ's metrics repository) and anomaly checks over it.

Each run's metrics land at ``reports/quality-metrics/<dataset>/dt=<day>/metrics.json``: one
file per (dataset, day), so a rerun overwrites its own day and never adds a duplicate row.
An anomaly check compares the day's metric with the mean of the trailing
``history_window_days`` days *before* that day, so a backfill or a rerun of an old day sees
exactly the history it saw the first time, whatever ran since.

Only accepted batches are history. A refused batch keeps its metrics file (the report needs
them) marked ``"accepted": false`` with the refusing gate, and a day whose batch a later gate
quarantined (its ``_QUARANTINED.json`` marker exists) is skipped too: otherwise a batch
quarantined for nulls would pull tomorrow's trailing mean toward itself.

The size floor (``quality.size``) needs no history: a batch below ``min_rows``, or below
``min_share`` of ``expected_rows`` when that is configured, is refused from the first day on.
"""

from __future__ import annotations

import datetime as dt_
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.quality.results import ERROR, FAIL, PASS, RuleResult, json_number

METRICS_KIND = "quality-metrics"
METRICS_FILE = "metrics.json"
REPORT_KIND = "quality"
REPORT_FILE = "results.json"

# Short names accepted in the anomaly settings -> the metric keys the gate reports.
METRIC_ALIASES = {"RowCount": "Dataset.*.RowCount", "ColumnCount": "Dataset.*.ColumnCount"}


@dataclass(frozen=True)
class AnomalyRule:
    """Flag a day whose metric / trailing mean leaves [min_ratio, max_ratio]."""

    metric: str
    min_ratio: float | None = None
    max_ratio: float | None = None
    min_history: int = 3

    @property
    def metric_key(self) -> str:
        return METRIC_ALIASES.get(self.metric, self.metric)

    @property
    def name(self) -> str:
        return f"Anomaly {self.metric}"

    def expected(self, window_days: int) -> str:
        bounds = []
        if self.min_ratio is not None:
            bounds.append(f">= {self.min_ratio:g}")
        if self.max_ratio is not None:
            bounds.append(f"<= {self.max_ratio:g}")
        return (f"ratio to the mean of the previous {window_days} day(s) "
                f"{' and '.join(bounds) or 'unbounded'}")

    def describe(self, window_days: int) -> str:
        return f"{self.metric} {self.expected(window_days)}"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str) -> AnomalyRule:
        if not isinstance(raw, Mapping) or "metric" not in raw:
            raise ConfigurationError(f"{where}: an anomaly rule needs a 'metric' key, got {raw!r}")
        unknown = set(raw) - {"metric", "min_ratio", "max_ratio", "min_history"}
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {sorted(unknown)} in anomaly rule "
                                     "(valid: metric, min_ratio, max_ratio, min_history)")
        try:
            rule = cls(
                metric=str(raw["metric"]),
                min_ratio=None if raw.get("min_ratio") is None else float(raw["min_ratio"]),
                max_ratio=None if raw.get("max_ratio") is None else float(raw["max_ratio"]),
                min_history=int(raw.get("min_history", 3)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: anomaly rule {raw!r} has a non-numeric bound") from exc
        if rule.min_history < 1:
            raise ConfigurationError(f"{where}: min_history must be >= 1, got {rule.min_history}")
        return rule


@dataclass(frozen=True)
class SizeFloor:
    """The smallest batch worth judging: ``min_rows``, and ``min_share`` of ``expected_rows``."""

    min_rows: int = 0
    min_share: float = 0.0
    expected_rows: int | None = None

    NAME = "Size floor RowCount"

    @property
    def floor(self) -> float:
        """The row count a batch must reach (the larger of the two limits)."""
        share = self.min_share * self.expected_rows if self.expected_rows else 0.0
        return max(float(self.min_rows), share)

    def expected(self) -> str:
        parts = [f">= {self.min_rows} rows"]
        if self.expected_rows and self.min_share:
            parts.append(f">= {self.min_share:g} of the expected {self.expected_rows} rows")
        return " and ".join(parts)

    @classmethod
    def from_mapping(cls, raw: Any, where: str) -> SizeFloor:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"{where}: 'size' must be a mapping such as "
                                     "{min_rows: 100, min_share: 0.2, expected_rows: 4000}")
        unknown = set(raw) - {"min_rows", "min_share", "expected_rows"}
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {sorted(unknown)} in 'size' "
                                     "(valid: min_rows, min_share, expected_rows)")
        try:
            floor = cls(
                min_rows=int(raw.get("min_rows") or 0),
                min_share=float(raw.get("min_share") or 0.0),
                expected_rows=None if raw.get("expected_rows") is None
                else int(raw["expected_rows"]),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: 'size' {dict(raw)!r} has a non-numeric value") \
                from exc
        if floor.min_rows < 0 or not 0.0 <= floor.min_share <= 1.0:
            raise ConfigurationError(f"{where}: size.min_rows must be >= 0 and size.min_share "
                                     f"in [0, 1]; got {floor.min_rows} and {floor.min_share}")
        if floor.expected_rows is not None and floor.expected_rows < 1:
            raise ConfigurationError(f"{where}: size.expected_rows must be >= 1 or null, got "
                                     f"{floor.expected_rows}")
        return floor


@dataclass(frozen=True)
class QualitySettings:
    """The ``quality:`` section of the airsage config."""

    ruleset: str = "quality/reviews.dqdl"
    history_window_days: int = 7
    anomaly: tuple[AnomalyRule, ...] = ()
    size: SizeFloor = SizeFloor()

    @classmethod
    def from_settings(cls, settings: Settings) -> QualitySettings:
        raw = settings.section("quality")
        where = f"section 'quality' of {settings.source}"
        anomaly_raw = raw.get("anomaly") or []
        if not isinstance(anomaly_raw, Sequence) or isinstance(anomaly_raw, (str, bytes)):
            raise ConfigurationError(f"{where}: 'anomaly' must be a list of rules")
        try:
            window = int(raw.get("history_window_days", cls.history_window_days))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: history_window_days must be an integer") from exc
        if window < 1:
            raise ConfigurationError(f"{where}: history_window_days must be >= 1, got {window}")
        return cls(
            ruleset=str(raw.get("ruleset") or cls.ruleset),
            history_window_days=window,
            anomaly=tuple(AnomalyRule.from_mapping(r, where) for r in anomaly_raw),
            size=SizeFloor.from_mapping(raw.get("size"), where),
        )


class MetricsHistory:
    """Per-day metrics of one dataset, stored in the lake (one JSON file per day)."""

    def __init__(self, lake: Lake, dataset: str) -> None:
        self.lake = lake
        self.dataset = dataset
        self.layout = LakeLayout(dataset)

    def key(self, day: dt_.date | str) -> str:
        return self.layout.report(METRICS_KIND, day, METRICS_FILE)

    def write(self, day: dt_.date | str, metrics: Mapping[str, Any], *,
              refused_by: str | None = None) -> str:
        """Store a day's metrics; ``refused_by`` names the gate that refused the batch."""
        document: dict[str, Any] = {
            "dataset": self.dataset,
            "day": partition_value(day),
            "accepted": refused_by is None,
            "metrics": {k: json_number(v) for k, v in sorted(metrics.items())},
        }
        if refused_by is not None:
            document["refused_by"] = refused_by
        data = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
        return self.lake.write_bytes(self.key(day), data)

    def document(self, day: dt_.date | str) -> dict[str, Any] | None:
        """The stored document of a day (metrics, accepted, refused_by) or None."""
        key = self.key(day)
        if not self.lake.exists(key):
            return None
        try:
            document = json.loads(self.lake.read_bytes(key))
            document["metrics"] = dict(document["metrics"])
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable day is treated as missing history, not as a zero
        return document

    def read(self, day: dt_.date | str) -> dict[str, Any] | None:
        document = self.document(day)
        return None if document is None else document["metrics"]

    def accepted(self, day: dt_.date | str) -> bool:
        """Whether the day's batch counts as history: stored, not refused, not quarantined."""
        document = self.document(day)
        if document is None or document.get("accepted") is False:
            return False
        return not self.lake.exists(self.layout.quarantine_marker(day))

    def trailing(self, day: dt_.date | str, window_days: int) -> list[tuple[str, dict[str, Any]]]:
        """(day, metrics) of each *accepted* day in [day - window_days, day - 1], oldest first."""
        current = dt_.date.fromisoformat(partition_value(day))
        found = []
        for back in range(window_days, 0, -1):
            earlier = (current - dt_.timedelta(days=back)).isoformat()
            if self.accepted(earlier):
                found.append((earlier, self.read(earlier) or {}))
        return found

    def refused(self, day: dt_.date | str, window_days: int) -> list[str]:
        """Days in the same window whose stored batch was refused (left out of ``trailing``)."""
        current = dt_.date.fromisoformat(partition_value(day))
        days = [(current - dt_.timedelta(days=back)).isoformat()
                for back in range(window_days, 0, -1)]
        return [d for d in days if self.document(d) is not None and not self.accepted(d)]


def check_size_floor(floor: SizeFloor, today: Mapping[str, Any]) -> tuple[RuleResult, ...]:
    """The size floor against today's row count; no result when no floor is configured."""
    if floor.floor <= 0:
        return ()
    key = METRIC_ALIASES["RowCount"]
    expected = floor.expected()
    description = f"RowCount {expected}"
    value = today.get(key)
    if value is None:
        return (RuleResult(
            name=SizeFloor.NAME, description=description, result=ERROR,
            evaluation_message=(f"metric {key} was not measured; the ruleset needs a RowCount "
                                "rule for the size floor"), expected=expected),)
    rows = float(value)
    metrics = {key: value, f"{key}.Floor": floor.floor}
    if rows < floor.floor:
        message = (f"the batch has {int(rows)} row(s), fewer than the size floor of "
                   f"{floor.floor:g} ({expected}); too small to judge or to train on")
        return (RuleResult(name=SizeFloor.NAME, description=description, result=FAIL,
                           evaluation_message=message, evaluated_metrics=metrics,
                           measured=int(rows), expected=expected),)
    return (RuleResult(name=SizeFloor.NAME, description=description, result=PASS,
                       evaluation_message=f"{int(rows)} row(s) >= floor {floor.floor:g}",
                       evaluated_metrics=metrics, measured=int(rows), expected=expected),)


def check_anomalies(
    rules: Sequence[AnomalyRule],
    today: Mapping[str, Any],
    history: Sequence[tuple[str, Mapping[str, Any]]],
    window_days: int,
) -> tuple[RuleResult, ...]:
    """One result per anomaly rule: today's metric against the trailing mean."""
    results = []
    for rule in rules:
        description = rule.describe(window_days)
        expected = rule.expected(window_days)
        key = rule.metric_key
        value = today.get(key)
        if value is None:
            results.append(RuleResult(
                name=rule.name, description=description, result=ERROR,
                evaluation_message=(f"metric {key} was not measured today; add a rule that "
                                    "measures it to the ruleset or fix the anomaly setting"),
                expected=expected))
            continue
        past = [float(m[key]) for _, m in history
                if m.get(key) is not None and math.isfinite(float(m[key]))]
        metrics: dict[str, Any] = {key: value}
        if len(past) < rule.min_history:
            results.append(RuleResult(
                name=rule.name, description=description, result=PASS,
                evaluation_message=(f"not enough history: {len(past)} earlier day(s) with "
                                    f"{key} in the last {window_days}, {rule.min_history} needed"),
                evaluated_metrics=metrics, measured=value, expected=expected))
            continue
        mean = sum(past) / len(past)
        zero_mean_ratio = 1.0 if float(value) == 0 else math.inf
        ratio = float(value) / mean if mean else zero_mean_ratio
        metrics[f"{key}.TrailingMean"] = mean
        metrics[f"{key}.Ratio"] = ratio
        low = rule.min_ratio is not None and ratio < rule.min_ratio
        high = rule.max_ratio is not None and ratio > rule.max_ratio
        if low or high:
            bound = rule.min_ratio if low else rule.max_ratio
            message = (f"{key} is {value} against a mean of {mean:.6g} over {len(past)} earlier "
                       f"day(s): ratio {ratio:.4g} is {'below' if low else 'above'} {bound:g}")
            outcome = FAIL
        else:
            message = f"ratio {ratio:.4g} to the mean of {len(past)} earlier day(s) ({mean:.6g})"
            outcome = PASS
        results.append(RuleResult(
            name=rule.name, description=description, result=outcome,
            evaluation_message=message, evaluated_metrics=metrics, measured=ratio,
            expected=expected))
    return tuple(results)
