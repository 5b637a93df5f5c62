"""The metrics history (Deequ's metrics repository) and anomaly checks over it.

Each run's metrics land at ``reports/quality-metrics/<dataset>/dt=<day>/metrics.json``: one
file per (dataset, day), so a rerun overwrites its own day and never adds a duplicate row.
An anomaly check compares the day's metric with the mean of the trailing
``history_window_days`` days *before* that day, so a backfill or a rerun of an old day sees
exactly the history it saw the first time, whatever ran since.
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
class QualitySettings:
    """The ``quality:`` section of the airsage config."""

    ruleset: str = "quality/reviews.dqdl"
    history_window_days: int = 7
    anomaly: tuple[AnomalyRule, ...] = ()

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
        )


class MetricsHistory:
    """Per-day metrics of one dataset, stored in the lake (one JSON file per day)."""

    def __init__(self, lake: Lake, dataset: str) -> None:
        self.lake = lake
        self.dataset = dataset
        self.layout = LakeLayout(dataset)

    def key(self, day: dt_.date | str) -> str:
        return self.layout.report(METRICS_KIND, day, METRICS_FILE)

    def write(self, day: dt_.date | str, metrics: Mapping[str, Any]) -> str:
        document = {
            "dataset": self.dataset,
            "day": partition_value(day),
            "metrics": {k: json_number(v) for k, v in sorted(metrics.items())},
        }
        data = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
        return self.lake.write_bytes(self.key(day), data)

    def read(self, day: dt_.date | str) -> dict[str, Any] | None:
        key = self.key(day)
        if not self.lake.exists(key):
            return None
        try:
            return dict(json.loads(self.lake.read_bytes(key))["metrics"])
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable day is treated as missing history, not as a zero

    def trailing(self, day: dt_.date | str, window_days: int) -> list[tuple[str, dict[str, Any]]]:
        """(day, metrics) for each stored day in [day - window_days, day - 1], oldest first."""
        current = dt_.date.fromisoformat(partition_value(day))
        found = []
        for back in range(window_days, 0, -1):
            earlier = (current - dt_.timedelta(days=back)).isoformat()
            metrics = self.read(earlier)
            if metrics is not None:
                found.append((earlier, metrics))
        return found


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
