"""False alarms and detection on traffic from airsage's own data generator."""

from __future__ import annotations

import pytest
from monitoring_helpers import capture_lines, parsed

from airsage.monitoring.base import MonitoringSettings
from airsage.monitoring.baseline import build_baseline
from airsage.monitoring.checks import evaluate
from airsage.training.model import TfidfLinearModel

generator = pytest.importorskip("airsage.data.generator")
SENTIMENT = {1: -1, 2: -1, 3: 0, 4: 1, 5: 1}


def batch(rows, seed, drift=0.0, day="2024-01-01"):
    frame = generator.generate_batch(
        generator.GeneratorConfig(rows=rows, seed=seed, drift=drift, day=day))
    frame["sentiment"] = frame["rating"].map(SENTIMENT)
    return frame


@pytest.fixture(scope="module")
def generated():
    train = batch(1500, seed=1).dropna(subset=["review_text"])
    model = TfidfLinearModel.fit(train["review_text"], train["sentiment"],
                                 {"max_features": 5000, "ngram_max": 1})
    reference = batch(2000, seed=2)  # ~4 % of texts missing, as the generator makes them
    settings = MonitoringSettings()
    baseline = build_baseline(
        {name: reference[name].tolist() for name in settings.features},
        probabilities=model.predict_proba(reference["review_text"].tolist()),
        labels=model.labels, settings=settings,
    )
    return model, baseline


def check(baseline, lines):
    return evaluate(parsed(lines), statistics=baseline.statistics,
                    constraints=baseline.constraints, vocabulary=baseline.vocabulary)


def test_twenty_clean_intervals_raise_no_violation(generated):
    model, baseline = generated
    for interval in range(20):
        frame = batch(250, seed=500 + interval, day=f"2024-02-{interval + 1:02d}")
        _, violations, summary = check(baseline, capture_lines(frame, model, batch=5))
        assert summary["status"] == "ok"
        assert violations == [], f"interval {interval}: {[v.description for v in violations]}"


def test_generator_drift_is_detected_on_the_drifted_features(generated):
    model, baseline = generated
    frame = batch(250, seed=900, drift=1.0, day="2024-03-01")
    _, violations, _ = check(baseline, capture_lines(frame, model))
    found = {(v.feature_name, v.constraint_check_type) for v in violations}
    assert {("age", "baseline_drift_check"), ("review_text_oov_rate", "text_drift_check"),
            ("review_text_token_count", "text_drift_check")} <= found
    assert all(check_type in {"baseline_drift_check", "text_drift_check",
                              "prediction_drift_check"} for _, check_type in found)
