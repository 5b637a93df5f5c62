"""Metrics history in the lake and the anomaly checks that read it."""

from __future__ import annotations

import json

import pytest

from airsage.config import Settings
from airsage.errors import ConfigurationError
from airsage.lake.local import LocalLake
from airsage.quality.history import (
    AnomalyRule,
    MetricsHistory,
    QualitySettings,
    check_anomalies,
)

ROWS = "Dataset.*.RowCount"
RULE = AnomalyRule(metric="RowCount", min_ratio=0.2, max_ratio=5.0, min_history=3)


def test_one_file_per_day_and_a_rerun_overwrites(lake: LocalLake) -> None:
    history = MetricsHistory(lake, "reviews")
    history.write("2024-03-01", {ROWS: 10})
    history.write("2024-03-01", {ROWS: 12})
    keys = list(lake.list("reports/quality-metrics/"))
    assert keys == ["reports/quality-metrics/reviews/dt=2024-03-01/metrics.json"]
    document = json.loads(lake.read_bytes(keys[0]))
    assert document == {"dataset": "reviews", "day": "2024-03-01", "accepted": True,
                        "metrics": {ROWS: 12}}
    assert history.read("2024-03-01") == {ROWS: 12}
    assert history.read("2024-03-02") is None


def test_trailing_window_holds_only_earlier_days(lake: LocalLake) -> None:
    history = MetricsHistory(lake, "reviews")
    for day, rows in [("2024-03-01", 1), ("2024-03-05", 5), ("2024-03-07", 7),
                      ("2024-03-08", 8), ("2024-03-09", 9)]:
        history.write(day, {ROWS: rows})
    trailing = history.trailing("2024-03-08", window_days=7)
    assert [day for day, _ in trailing] == ["2024-03-01", "2024-03-05", "2024-03-07"]
    assert [day for day, _ in history.trailing("2024-03-08", window_days=3)] == [
        "2024-03-05", "2024-03-07"]


def test_refused_days_stay_stored_but_leave_the_trailing_window(lake: LocalLake) -> None:
    history = MetricsHistory(lake, "reviews")
    history.write("2024-03-01", {ROWS: 100})
    history.write("2024-03-02", {ROWS: 5000}, refused_by="quality")
    assert history.read("2024-03-02") == {ROWS: 5000}
    assert history.document("2024-03-02")["refused_by"] == "quality"
    assert [day for day, _ in history.trailing("2024-03-03", 7)] == ["2024-03-01"]
    assert history.refused("2024-03-03", 7) == ["2024-03-02"]


def test_not_enough_history_passes_with_a_message() -> None:
    (result,) = check_anomalies([RULE], {ROWS: 100}, [("2024-03-01", {ROWS: 100})], 7)
    assert result.result == "PASS"
    assert result.name == "Anomaly RowCount"
    assert "not enough history" in result.evaluation_message


@pytest.mark.parametrize(("today", "outcome"), [(100, "PASS"), (19, "FAIL"), (501, "FAIL"),
                                                (20, "PASS"), (500, "PASS")])
def test_ratio_to_trailing_mean(today: int, outcome: str) -> None:
    history = [(f"2024-03-0{i}", {ROWS: rows}) for i, rows in enumerate([80, 100, 120], 1)]
    (result,) = check_anomalies([RULE], {ROWS: today}, history, 7)
    assert result.result == outcome, result.evaluation_message
    assert result.evaluated_metrics[f"{ROWS}.TrailingMean"] == pytest.approx(100)
    assert result.measured == pytest.approx(today / 100)
    if outcome == "FAIL":
        assert ("below" in result.evaluation_message) or ("above" in result.evaluation_message)


def test_missing_metric_is_an_error() -> None:
    rule = AnomalyRule(metric="Column.x.Mean", min_ratio=0.5, max_ratio=2.0)
    (result,) = check_anomalies([rule], {ROWS: 1}, [], 7)
    assert result.result == "ERROR" and "not measured" in result.evaluation_message


def test_settings_section_is_read_and_checked(settings: Settings) -> None:
    quality = QualitySettings.from_settings(settings)
    assert quality.ruleset == "quality/reviews.dqdl"
    assert quality.history_window_days == 7
    assert quality.anomaly == (RULE,)
    bad = settings.with_overrides({"quality": {"anomaly": [{"metric": "RowCount", "ratio": 2}]}})
    with pytest.raises(ConfigurationError, match="unknown key"):
        QualitySettings.from_settings(bad)
    bad = settings.with_overrides({"quality": {"history_window_days": 0}})
    with pytest.raises(ConfigurationError, match="history_window_days"):
        QualitySettings.from_settings(bad)
