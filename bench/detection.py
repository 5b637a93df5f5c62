"""Detection you can trust: false alarms of every gate and the monitor, and what each catches.

Clean data first. ``--days`` generated days (the generator's clean mode, the default daily
size and config) go through every data gate in order — crawl, validate_sql, quality_gate
(with the metrics history the days build up), bias_gate — as the daily DAG runs them, and
the real 1k sample (``../shared``) goes through them as a day of its own. A model is then
trained on one clean day, baselined the way the daily run does it (rows it never saw), and
``--hours`` hours of clean generated traffic, plus unseen rows of the real sample against a
model trained on the rest of it, go through the drift monitor's checks. Any refusal, any bias
``warn`` and any interval the violation policy would retrain on counts as a false alarm.

Then faults, each injected into an otherwise clean day (with the clean history behind it)
or an otherwise clean hour, at several strengths: nulls, duplicates, schema changes, size
drops, bias against each department in turn, covariate drift, label drift and prediction
drift (a degraded model serving). A fault is detected when some gate refuses it (data) or
the monitor would retrain (traffic); the table says which gate caught it and whether it was
the gate meant for it. The capability functions are called directly, not through Airflow
(and the bias job script in-process, not in a subprocess), so it runs in minutes.

Usage: ``.venv/bin/python bench/detection.py [--days 30] [--hours 36] [--rows 4000]``;
writes ``bench/results/detection.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "tests" / "monitoring"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from monitoring_helpers import capture_lines, parsed  # noqa: E402  (capture contract writer)

from airsage.bias.gate import run_bias_gate  # noqa: E402
from airsage.catalog.local import LocalCatalog  # noqa: E402
from airsage.config import Settings, load_settings  # noqa: E402
from airsage.data.generator import DEPARTMENTS, GeneratorConfig, generate_batch  # noqa: E402
from airsage.errors import GateFailedError, InputDataError  # noqa: E402
from airsage.ingest import land_file  # noqa: E402
from airsage.jobs.local import LocalJobRunner  # noqa: E402
from airsage.lake.local import LocalLake  # noqa: E402
from airsage.lake.quarantine import quarantine  # noqa: E402
from airsage.monitoring.base import MonitoringSettings  # noqa: E402
from airsage.monitoring.checks import evaluate  # noqa: E402
from airsage.monitoring.step import create_baseline, decide_retrain  # noqa: E402
from airsage.prepare.curate import curate_partition  # noqa: E402
from airsage.prepare.prepare import prepare_dataset  # noqa: E402
from airsage.quality.history import MetricsHistory  # noqa: E402
from airsage.quality.local import DuckDBQualityGate  # noqa: E402
from airsage.sql.local import DuckDBSqlEngine  # noqa: E402
from airsage.training.model import TfidfLinearModel, pack_model, save_model  # noqa: E402

DATASET = "reviews"
SEED = 7
DATA_GATES = ("crawl", "validate_sql", "quality_gate", "bias_gate")
GATES = (*DATA_GATES, "monitor")
SENTIMENT = {1: -1, 2: -1, 3: 0, 4: 1, 5: 1}
PUBLIC_SAMPLE = ROOT.parent / "shared" / "data" / "womens_clothing_reviews_1k.csv"
HYPERPARAMETERS = {"max_features": 20000, "ngram_max": 2, "C": 1.0}
TRAFFIC_ROWS = 300  # per hour: above the monitor's min_samples (200)


class InProcessBiasJob:
    """``include/jobs/bias.py`` called in this process: the same script functions as the
    local runner's subprocess runs, on the same request (lake key in, report prefix out),
    without a Python start-up per day (the benchmark runs ~70 days)."""

    _script: Any = None

    def __init__(self) -> None:
        if InProcessBiasJob._script is None:
            import importlib.util

            spec = importlib.util.spec_from_file_location(
                "airsage_bias_job", ROOT / "include" / "jobs" / "bias.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            InProcessBiasJob._script = module

    def run(self, lake: Any, request: Any, *, on_metric: Any = None) -> None:
        script = InProcessBiasJob._script
        data_key = request.inputs[script.DATA_CHANNEL]
        with tempfile.TemporaryDirectory(prefix="airsage-bias-bench-") as tmp:
            local = lake.download(data_key, Path(tmp) / Path(data_key).name)
            analysis = script.analyze(script.read_dataset(local, dict(request.config)),
                                      dict(request.config))
        lake.write_bytes(request.output(script.OUTPUT) + script.ANALYSIS_FILE,
                         json.dumps(analysis).encode())

    attempt = run


class Plane:
    """One airsage home (lake, catalog, history) on the local target."""

    def __init__(self, root: Path, **overrides: Any) -> None:
        self.root = root
        self.settings: Settings = load_settings(environ={}, overrides={"home": str(root),
                                                                      **overrides})
        self.lake = LocalLake(root=root / "lake")
        self.catalog = LocalCatalog(self.settings)

    def land(self, day: str, frame: pd.DataFrame | None = None, path: Path | None = None) -> None:
        if path is None:
            path = self.root / "inbox" / f"{day}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            assert frame is not None
            frame.to_csv(path, index=False)
        land_file(self.lake, self.settings.dataset(DATASET), path, day)

    def run_day(self, day: str) -> dict[str, Any]:
        """Every data gate in the DAG's order; the first refusal stops the day (and quarantines)."""
        outcome: dict[str, Any] = {"day": day, "caught_by": None, "warnings": [], "message": ""}
        step = "crawl"
        try:
            self.catalog.crawl(self.lake, DATASET, day)
            step = "validate_sql"
            DuckDBSqlEngine(self.settings).run_checks(self.lake, DATASET, day)
            step = "quality_gate"
            relation = self.catalog.partition_relation(self.lake, DATASET, day)
            DuckDBQualityGate(self.settings).run(self.lake, DATASET, day, relation)
            step = "curate"
            curated = curate_partition(self.settings, self.lake, DATASET, day, relation)
            step = "bias_gate"
            report = run_bias_gate(self.settings, self.lake, DATASET, day, data_key=curated.key,
                                   runner=InProcessBiasJob())
            outcome["warnings"] = [f"{c.metric} ({c.group}): {c.reason}" for c in report.warnings]
            outcome["bias_status"] = report.status
        except (GateFailedError, InputDataError) as exc:
            outcome["caught_by"] = step
            outcome["message"] = str(exc).splitlines()[0][:300]
            details = [f"{f.check}: measured {f.measured}" for f in
                       getattr(exc, "failures", [])][:4]
            if details:
                outcome["message"] += " | " + "; ".join(details)
            quarantine(self.lake, DATASET, day, step=step, reason=str(exc))
        return outcome


def clean_batch(rows: int, day: str, **knobs: Any) -> pd.DataFrame:
    return generate_batch(GeneratorConfig(rows=rows, seed=SEED, day=day, **knobs))


def day_name(index: int) -> str:
    return (pd.Timestamp("2026-01-01") + pd.Timedelta(days=index)).date().isoformat()


# -- data faults ----------------------------------------------------------------------------
def _rows(frame: pd.DataFrame, share: float, salt: int) -> np.ndarray:
    rng = np.random.default_rng(salt)
    return rng.choice(len(frame), size=max(1, round(share * len(frame))), replace=False)


def null_rating(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    frame = frame.copy()
    frame["rating"] = frame["rating"].astype("Int64")
    frame.loc[frame.index[_rows(frame, share, 1)], "rating"] = pd.NA
    return frame


def null_text(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[_rows(frame, share, 2)], "review_text"] = None
    return frame


def duplicates(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[_rows(frame, share, 3)]], ignore_index=True)


def size_drop(frame: pd.DataFrame, keep: float) -> pd.DataFrame:
    rows = int(keep) if keep >= 1 else max(1, round(keep * len(frame)))
    return frame.head(rows)


def data_faults(rows: int) -> list[tuple[str, str, str, Callable[[str], pd.DataFrame]]]:
    """(kind, strength, gate meant to catch it, day -> faulty batch)."""
    faults: list[tuple[str, str, str, Callable[[str], pd.DataFrame]]] = []
    for share in (0.005, 0.05, 0.2):
        faults.append(("nulls_rating", f"{share:g}", "quality_gate",
                       lambda d, s=share: null_rating(clean_batch(rows, d), s)))
    for share in (0.1, 0.3):
        faults.append(("nulls_text", f"{share:g}", "quality_gate",
                       lambda d, s=share: null_text(clean_batch(rows, d), s)))
    for share in (0.001, 0.01, 0.1):
        faults.append(("duplicates", f"{share:g}", "quality_gate",
                       lambda d, s=share: duplicates(clean_batch(rows, d), s)))
    for kind in ("missing_column", "extra_column", "retyped_column"):
        faults.append(("schema_change", kind, "crawl",
                       lambda d, k=kind: clean_batch(rows, d, defect=k)))
    for keep in (0.5, 0.15, 0.05, 12):
        label = f"{keep:g} of rows" if keep < 1 else f"{keep} rows"
        faults.append(("size_drop", label, "quality_gate",
                       lambda d, k=keep: size_drop(clean_batch(rows, d), k)))
    for department in DEPARTMENTS:
        for strength in (0.3, 0.5, 0.8):
            faults.append((f"bias_against_{department}", f"{strength:g}", "bias_gate",
                           lambda d, c=department, s=strength: clean_batch(
                               rows, d, biased_category=c, bias_strength=s)))
    return faults


# -- monitor --------------------------------------------------------------------------------
def with_sentiment(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["sentiment"] = frame["rating"].map(SENTIMENT)
    return frame


def train_and_baseline(plane: Plane, day: str, source: str, *, label_noise: float = 0.0,
                       version: str = "1") -> tuple[Any, dict[str, Any]]:
    """Train on the day's training split, package it, baseline it as the daily run does."""
    train = pd.read_parquet(io.BytesIO(plane.lake.read_bytes(
        f"features/{DATASET}/dt={day}/train/part-0.parquet")))
    labels = train["sentiment"].to_numpy().copy()
    if label_noise:
        rng = np.random.default_rng(11)
        flip = rng.random(len(labels)) < label_noise
        labels[flip] = rng.choice([-1, 0, 1], size=int(flip.sum()))
    model = TfidfLinearModel.fit(train["review_text"].tolist(), labels.tolist(), HYPERPARAMETERS)
    model_dir = save_model(model, plane.root / f"model-{version}")
    tar = pack_model(model_dir, plane.root / f"model-{version}.tar.gz")
    key = f"models/{DATASET}/bench-{version}/output/model.tar.gz"
    plane.lake.upload(tar, key)
    settings = plane.settings.with_overrides({"monitoring": {"baseline_source": source}})
    result = create_baseline(settings, plane.lake, DATASET, day, model_name=f"bench-{source}",
                             model_version=version, model_artifact_key=key,
                             runner=LocalJobRunner(settings))
    documents = {name: json.loads(plane.lake.read_bytes(result.baseline_prefix + name))
                 for name in ("statistics.json", "constraints.json", "vocabulary.json")}
    return model, {"documents": documents, "rows": result.item_count, "source": result.source}


def monitor_hour(frame: pd.DataFrame, model: Any, baseline: dict[str, Any],
                 policy: Any) -> dict[str, Any]:
    docs = baseline["documents"]
    _, violations, summary = evaluate(
        parsed(capture_lines(frame, model, batch=5)), statistics=docs["statistics.json"],
        constraints=docs["constraints.json"], vocabulary=docs["vocabulary.json"])
    should, _ = decide_retrain(violations, policy)
    prediction = (summary.get("checks") or {}).get("prediction_drift_check") or {}
    return {"alarm": should, "samples": summary.get("samples"),
            "checks": sorted({v.constraint_check_type for v in violations}),
            "features": sorted({f"{v.constraint_check_type}:{v.feature_name}"
                                for v in violations}),
            "prediction_confidence_distance": (prediction.get("prediction_confidence") or {}
                                               ).get("distance")}


def relabelled_hour(rows: int, day: str, negative_share: float) -> pd.DataFrame:
    """Clean generated reviews resampled so that ``negative_share`` of them are negative."""
    pool = with_sentiment(clean_batch(rows * 6, day))
    negatives = pool[pool["sentiment"] == -1]
    others = pool[pool["sentiment"] != -1]
    n_neg = min(len(negatives), round(rows * negative_share))
    return pd.concat([negatives.head(n_neg), others.head(rows - n_neg)]).sample(
        frac=1.0, random_state=5)


# -- main -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--hours", type=int, default=36)
    parser.add_argument("--rows", type=int, default=4000, help="rows per generated day")
    parser.add_argument("--fault-hours", type=int, default=4, help="hours per monitor fault")
    parser.add_argument("--output", type=Path,
                        default=ROOT / "bench" / "results" / "detection.json")
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="airsage-detection-"))
    false_alarms: Counter[str] = Counter()
    clean_runs: Counter[str] = Counter()
    alarms: list[dict[str, Any]] = []
    try:
        # 1. clean generated days through every data gate, building the metrics history
        main_plane = Plane(work / "clean")
        for index in range(args.days):
            day = day_name(index)
            main_plane.land(day, clean_batch(args.rows, day))
            outcome = main_plane.run_day(day)
            for gate in DATA_GATES:
                clean_runs[gate] += 1
            if outcome["caught_by"] or outcome["warnings"]:
                gate = outcome["caught_by"] or "bias_gate"
                false_alarms[gate] += 1
                alarms.append({"source": "generated", **outcome})
            print(f"clean {day}: {outcome['caught_by'] or outcome.get('bias_status')}",
                  flush=True)
        # 2. the real sample as a day of its own (first day: no history)
        real: dict[str, Any] = {"present": PUBLIC_SAMPLE.exists()}
        if PUBLIC_SAMPLE.exists():
            real_plane = Plane(work / "real")
            real_plane.land("2026-03-01", path=PUBLIC_SAMPLE)
            outcome = real_plane.run_day("2026-03-01")
            for gate in DATA_GATES:
                clean_runs[gate] += 1
            real["day"] = outcome
            if outcome["caught_by"] or outcome["warnings"]:
                false_alarms[outcome["caught_by"] or "bias_gate"] += 1
                alarms.append({"source": "real sample", **outcome})
            print(f"real sample day: {outcome['caught_by'] or outcome.get('bias_status')}",
                  flush=True)

        # 3. data faults, each on the day after the clean days with their history behind it
        history = MetricsHistory(main_plane.lake, DATASET)
        fault_day = day_name(args.days)
        faults: list[dict[str, Any]] = []
        for number, (kind, strength, expected, make) in enumerate(data_faults(args.rows)):
            plane = Plane(work / f"fault-{number}")
            target = MetricsHistory(plane.lake, DATASET)
            for back in range(1, 8):
                earlier = day_name(args.days - back)
                if history.accepted(earlier):
                    target.write(earlier, history.read(earlier) or {})
            plane.land(fault_day, make(fault_day))
            outcome = plane.run_day(fault_day)
            caught = outcome["caught_by"]
            warned = caught is None and bool(outcome["warnings"])
            faults.append({"kind": kind, "strength": strength, "expected_gate": expected,
                           "caught_by": caught, "detected": caught is not None,
                           "outcome": "refused" if caught else "warned" if warned else "missed",
                           "by_the_gate_meant_for_it": caught == expected,
                           "bias_warnings": outcome["warnings"][:6],
                           "message": outcome["message"]})
            print(f"fault {kind} {strength}: {caught}", flush=True)
            shutil.rmtree(plane.root, ignore_errors=True)

        # 4. the monitor: a model trained on the last clean day, baselined on unseen rows
        train_day = day_name(args.days - 1)
        prepare_dataset(main_plane.settings, main_plane.lake, DATASET, train_day)
        policy = MonitoringSettings.from_settings(main_plane.settings).violation_policy
        model, unseen = train_and_baseline(main_plane, train_day, "unseen")
        _, curated = train_and_baseline(main_plane, train_day, "curated")
        hours: list[dict[str, Any]] = []
        for hour in range(args.hours):
            frame = with_sentiment(clean_batch(TRAFFIC_ROWS, day_name(200 + hour)))
            result = monitor_hour(frame, model, unseen, policy)
            old = monitor_hour(frame, model, curated, policy)
            hours.append({"hour": hour, **result, "alarm_with_curated_baseline": old["alarm"],
                          "curated_baseline_checks": old["checks"]})
            clean_runs["monitor"] += 1
            if result["alarm"]:
                false_alarms["monitor"] += 1
                alarms.append({"source": "generated traffic", "hour": hour, **result})
        print(f"clean traffic: {sum(h['alarm'] for h in hours)}/{len(hours)} alarms "
              f"(curated baseline: {sum(h['alarm_with_curated_baseline'] for h in hours)})",
              flush=True)

        real_traffic: dict[str, Any] = {"present": PUBLIC_SAMPLE.exists()}
        if PUBLIC_SAMPLE.exists():
            sample = pd.read_csv(PUBLIC_SAMPLE, index_col=0)
            plane = Plane(work / "real-model")
            split = 700
            day = "2026-03-02"
            head = plane.root / "head.csv"
            head.parent.mkdir(parents=True, exist_ok=True)
            sample.iloc[:split].to_csv(head, index_label="")  # the published header
            plane.land(day, path=head)
            outcome = plane.run_day(day)
            if outcome["caught_by"] is None:
                prepare_dataset(plane.settings, plane.lake, DATASET, day)
                real_model, real_unseen = train_and_baseline(plane, day, "unseen")
                _, real_curated = train_and_baseline(plane, day, "curated")
                mapping = dict(plane.settings.dataset(DATASET).source_columns)
                traffic = sample.iloc[split:].rename_axis("review_id").reset_index() \
                    .rename(columns=mapping)
                traffic = with_sentiment(traffic.dropna(subset=["age"]))
                result = monitor_hour(traffic, real_model, real_unseen, policy)
                old = monitor_hour(traffic, real_model, real_curated, policy)
                real_traffic.update({"rows": len(traffic), "baseline_rows": real_unseen["rows"],
                                     **result, "alarm_with_curated_baseline": old["alarm"],
                                     "curated_baseline": old})
                clean_runs["monitor"] += 1
                if result["alarm"]:
                    false_alarms["monitor"] += 1
                    alarms.append({"source": "real traffic", **result})
            else:
                real_traffic["refused"] = outcome
            print(f"real traffic: {real_traffic.get('alarm')} (curated baseline: "
                  f"{real_traffic.get('alarm_with_curated_baseline')})", flush=True)

        # 5. monitor faults
        models = {"clean": model}
        for noise in (0.5, 0.8):
            models[f"noise {noise:g}"], _ = train_and_baseline(
                main_plane, train_day, "unseen", label_noise=noise, version=f"noisy-{noise:g}")
        monitor_faults: list[tuple[str, str, Callable[[int], pd.DataFrame], Any]] = []
        for drift in (0.3, 0.5, 1.0):
            monitor_faults.append(("covariate_drift", f"{drift:g}", lambda h, s=drift: (
                with_sentiment(clean_batch(TRAFFIC_ROWS, day_name(400 + h), drift=s))), model))
        for share in (0.3, 0.5, 0.7):
            monitor_faults.append(("label_drift", f"negative share {share:g}",
                                   lambda h, s=share: relabelled_hour(TRAFFIC_ROWS,
                                                                      day_name(500 + h), s),
                                   model))
        for noise in (0.5, 0.8):
            monitor_faults.append(("prediction_drift", f"serving a model trained with "
                                   f"{noise:g} label noise", lambda h: with_sentiment(
                                       clean_batch(TRAFFIC_ROWS, day_name(600 + h))),
                                   models[f"noise {noise:g}"]))
        expected_checks = {"covariate_drift": {"baseline_drift_check", "text_drift_check"},
                           "label_drift": {"prediction_drift_check"},
                           "prediction_drift": {"prediction_drift_check"}}
        for kind, strength, make, serving in monitor_faults:
            caught = Counter[str]()
            detected = meant = 0
            for hour in range(args.fault_hours):
                result = monitor_hour(make(hour), serving, unseen, policy)
                detected += result["alarm"]
                meant += result["alarm"] and bool(set(result["checks"]) & expected_checks[kind])
                caught.update(result["checks"])
            faults.append({"kind": kind, "strength": strength, "expected_gate": "monitor",
                           "expected_checks": sorted(expected_checks[kind]),
                           "caught_by": "monitor" if detected else None,
                           "detected": detected == args.fault_hours,
                           "outcome": "alarm" if detected == args.fault_hours
                           else "partly" if detected else "missed",
                           "detection_rate": detected / args.fault_hours,
                           "by_the_gate_meant_for_it": meant == args.fault_hours,
                           "checks": dict(caught)})
            print(f"fault {kind} {strength}: {detected}/{args.fault_hours}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    gates: dict[str, dict[str, Any]] = {}
    for gate in GATES:
        meant = [f for f in faults if f["expected_gate"] == gate]
        gates[gate] = {
            "clean_runs": clean_runs[gate],
            "false_alarms": false_alarms[gate],
            "faults_meant_for_it": len(meant),
            "caught_by_it": sum(1 for f in meant if f["by_the_gate_meant_for_it"]),
            "caught_elsewhere": sum(1 for f in meant if f["detected"]
                                    and not f["by_the_gate_meant_for_it"]),
            "warned_only": sum(1 for f in meant if f.get("outcome") == "warned"),
            "missed": sum(1 for f in meant if not f["detected"]),
            "detection_rate": (sum(1 for f in meant if f["by_the_gate_meant_for_it"])
                               / len(meant)) if meant else None,
        }
    by_kind: dict[str, dict[str, Any]] = {}
    for fault in faults:
        row = by_kind.setdefault(fault["kind"], {"injected": 0, "detected": 0,
                                                 "caught_by": Counter()})
        row["injected"] += 1
        row["detected"] += fault["detected"]
        row["caught_by"][str(fault["caught_by"])] += 1
    for row in by_kind.values():
        row["detection_rate"] = row["detected"] / row["injected"]
        row["caught_by"] = dict(row["caught_by"])
    result = {
        "benchmark": "detection",
        "description": " ".join(__doc__.split("\n\n")[1].split()),
        "false_alarms": sum(false_alarms.values()),
        "false_alarms_by_gate": {gate: false_alarms[gate] for gate in GATES},
        "gates": gates,
        "clean": {"generated_days": args.days, "rows_per_day": args.rows,
                  "real_sample_day": real, "traffic_hours": args.hours,
                  "traffic_rows_per_hour": TRAFFIC_ROWS, "real_sample_traffic": real_traffic,
                  "baseline_rows_unseen": unseen["rows"], "baseline_rows_curated": curated["rows"],
                  "monitor_alarms_with_the_old_curated_baseline":
                      sum(h["alarm_with_curated_baseline"] for h in hours),
                  "alarms": alarms},
        "detection_by_kind": by_kind,
        "faults": faults,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({"false_alarms": result["false_alarms"], "gates": gates}, indent=2))


if __name__ == "__main__":
    main()
