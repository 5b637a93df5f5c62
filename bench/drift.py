"""How much captured traffic the drift monitor needs, and how often it cries wolf.

For each drift level of airsage's data generator and each interval size n, the benchmark
generates fresh captured traffic, runs the monitor's checks against a baseline built from
clean generator data, and counts an interval as *detected* when it has a violation that the
default retrain policy counts (baseline, text or prediction drift). ``min_samples`` is set
to n so that the statistical test itself is measured; with the default ``min_samples`` (200)
smaller intervals get no verdict at all. The false-alarm rate is the share of clean
intervals with *any* violation.

Usage: ``.venv/bin/python bench/drift.py [--trials 20] [--clean-intervals 50]``;
writes ``bench/results/drift.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "tests" / "monitoring"))

from monitoring_helpers import capture_lines, parsed  # noqa: E402  (capture contract writer)

from airsage.data.generator import GeneratorConfig, generate_batch  # noqa: E402
from airsage.monitoring.base import DEFAULT_RETRAIN_CHECKS, MonitoringSettings  # noqa: E402
from airsage.monitoring.baseline import build_baseline  # noqa: E402
from airsage.monitoring.checks import evaluate  # noqa: E402
from airsage.training.model import TfidfLinearModel  # noqa: E402

SENTIMENT = {1: -1, 2: -1, 3: 0, 4: 1, 5: 1}
DRIFTS = (0.1, 0.3, 0.5, 1.0)
SIZES = (50, 100, 200, 500, 1000)


def batch(rows: int, seed: int, drift: float = 0.0, day: str = "2024-01-01"):
    frame = generate_batch(GeneratorConfig(rows=rows, seed=seed, drift=drift, day=day))
    frame["sentiment"] = frame["rating"].map(SENTIMENT)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--clean-intervals", type=int, default=50)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "drift.json")
    args = parser.parse_args()

    started = time.perf_counter()
    train = batch(2000, seed=1).dropna(subset=["review_text"])
    model = TfidfLinearModel.fit(train["review_text"], train["sentiment"],
                                 {"max_features": 20000, "ngram_max": 2, "C": 1.0})
    reference = batch(2000, seed=2)
    settings = MonitoringSettings()
    baseline = build_baseline(
        {name: reference[name].tolist() for name in settings.features},
        probabilities=model.predict_proba(reference["review_text"].tolist()),
        labels=model.labels, settings=settings,
    )

    def run(frame, n: int):
        t0 = time.perf_counter()
        _, violations, summary = evaluate(
            parsed(capture_lines(frame, model, batch=5)), statistics=baseline.statistics,
            constraints=baseline.constraints, vocabulary=baseline.vocabulary,
            overrides={"min_samples": n},
        )
        return violations, summary, time.perf_counter() - t0

    detection: dict[str, dict[str, object]] = {}
    seconds: dict[int, list[float]] = {n: [] for n in SIZES}
    seed = 10_000
    for drift in DRIFTS:
        detection[str(drift)] = {}
        for n in SIZES:
            hits = 0
            by_feature: Counter[str] = Counter()
            by_check: Counter[str] = Counter()
            for _ in range(args.trials):
                seed += 1
                violations, _, elapsed = run(batch(n, seed=seed, drift=drift, day="2024-03-01"), n)
                seconds[n].append(elapsed)
                counted = [v for v in violations
                           if v.constraint_check_type in DEFAULT_RETRAIN_CHECKS]
                hits += bool(counted)
                by_check.update({v.constraint_check_type for v in counted})
                by_feature.update(f"{v.constraint_check_type}:{v.feature_name}" for v in counted)
            detection[str(drift)][str(n)] = {
                "detection_rate": hits / args.trials,
                "trials": args.trials,
                "detection_rate_by_check": {check: count / args.trials
                                            for check, count in by_check.most_common()},
                "violations_by_feature": dict(by_feature.most_common()),
            }
            print(f"drift={drift} n={n}: detection {hits}/{args.trials}", flush=True)

    false_alarm: dict[str, object] = {}
    for n in SIZES:
        alarms = 0
        by_check: Counter[str] = Counter()
        for _ in range(args.clean_intervals):
            seed += 1
            violations, _, elapsed = run(batch(n, seed=seed, day="2024-04-01"), n)
            seconds[n].append(elapsed)
            alarms += bool(violations)
            by_check.update(f"{v.constraint_check_type}:{v.feature_name}" for v in violations)
        false_alarm[str(n)] = {
            "false_alarm_rate": alarms / args.clean_intervals,
            "intervals": args.clean_intervals,
            "violations_by_feature": dict(by_check.most_common()),
        }
        print(f"clean n={n}: false alarms {alarms}/{args.clean_intervals}", flush=True)

    smallest = {}
    for drift, by_n in detection.items():
        enough = [int(n) for n, row in by_n.items() if row["detection_rate"] >= 0.9]
        smallest[drift] = min(enough) if enough else None
    result = {
        "benchmark": "drift",
        "description": __doc__.split("\n\n")[1].replace("\n", " "),
        "baseline_rows": len(reference),
        "model": "tfidf_linear (generator data, 2000 rows)",
        "comparison_method": settings.comparison_method,
        "thresholds": {"numerical": settings.distribution_threshold,
                       "categorical": settings.categorical_threshold},
        "detection": detection,
        "false_alarm": false_alarm,
        "smallest_n_with_90pct_detection": smallest,
        "check_seconds_mean_by_n": {str(n): sum(v) / len(v) for n, v in seconds.items() if v},
        "total_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"smallest_n_with_90pct_detection": smallest,
                      "false_alarm": {n: r["false_alarm_rate"] for n, r in false_alarm.items()}}))


if __name__ == "__main__":
    main()
