"""Batch scoring on the local target: rows per second of the whole step and of each phase.

Generated reviews (the airsage generator) curated to Parquet, a TF-IDF model trained on
another generated day, then :func:`airsage.batch.scoring` phase by phase — stage the JSON
Lines, run ``include/jobs/batch_transform.py`` through the one local job runner (a
subprocess: interpreter start, model load, mini-batches through the inference handlers),
collect into ``predictions.parquet`` — for a few partition sizes and both batch
strategies. Writes bench/results/batch_scoring.json.

    python bench/batch_scoring.py [--rows 2000 20000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "batch_scoring.json"
DAY = "2026-03-02"


class OneVersion:
    """A registry holding one Approved version (the bench measures scoring, not MLflow)."""

    def __init__(self, version: Any) -> None:
        self.version = version

    def get_version(self, name: str, version: str) -> Any:
        return self.version

    def champion(self, name: str) -> Any:
        return self.version


def _setup(home: Path, rows: int) -> tuple[Any, Any, Any]:
    from airsage.config import load_settings
    from airsage.data.generator import GeneratorConfig, generate_batch
    from airsage.lake.layout import LakeLayout
    from airsage.lake.local import LocalLake
    from airsage.registry.base import ModelVersion
    from airsage.training.model import TfidfLinearModel, pack_model, save_model

    settings = load_settings(environ={}, overrides={"home": str(home)})
    lake = LocalLake(settings)
    train = generate_batch(GeneratorConfig(rows=3000, seed=1, day="2026-03-01"))
    labels = [(-1 if r <= 2 else 0 if r == 3 else 1) for r in train["rating"]]
    model = TfidfLinearModel.fit(train["review_text"].fillna("").tolist(), labels,
                                 {"max_features": 5000, "C": 1.0})
    key = LakeLayout("reviews").model_artifact("reviews-20260301-train-bench0001")
    lake.upload(pack_model(save_model(model, home / "model"), home / "model.tar.gz"), key)
    frame = generate_batch(GeneratorConfig(rows=rows, seed=2, day=DAY))
    curated = LakeLayout("reviews").curated(DAY) + "reviews.parquet"
    path = Path(settings.lake_root) / curated
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    version = ModelVersion(name="reviews-sentiment", version="1", status="Approved",
                           artifact_uri=lake.uri(key),
                           tags={"lineage.model_artifact_key": key, "lineage.partition_day": DAY})
    return settings, lake, version


def _once(settings: Any, lake: Any, version: Any, strategy: str) -> dict[str, float]:
    from airsage.batch.scoring import (
        collect_predictions,
        local_job_request,
        stage_input,
        transform_request,
    )
    from airsage.jobs.local import LocalJobRunner

    tuned = settings.with_overrides({"batch": {"batch_strategy": strategy}})
    request = transform_request(tuned, "reviews", DAY, version)
    times = {}
    start = time.perf_counter()
    rows = stage_input(lake, request)
    times["stage_s"] = time.perf_counter() - start
    start = time.perf_counter()
    LocalJobRunner(tuned).run(lake, local_job_request(request))
    times["job_s"] = time.perf_counter() - start
    start = time.perf_counter()
    result = collect_predictions(lake, request, scored_at=dt.datetime.now(dt.UTC))
    times["collect_s"] = time.perf_counter() - start
    assert result.rows == rows
    times["total_s"] = times["stage_s"] + times["job_s"] + times["collect_s"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--single-record-rows", type=int, default=2000,
                        help="also time SingleRecord at this size (0: skip)")
    args = parser.parse_args()
    runs = []
    for rows in args.rows:
        strategies = ["MultiRecord"] + (["SingleRecord"] if rows == args.single_record_rows else [])
        with tempfile.TemporaryDirectory(prefix="airsage-bench-batch-") as tmp:
            settings, lake, version = _setup(Path(tmp), rows)
            for strategy in strategies:
                samples = [_once(settings, lake, version, strategy) for _ in range(args.repeats)]
                median = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
                runs.append({"rows": rows, "batch_strategy": strategy, "repeats": args.repeats,
                             **{k: round(v, 3) for k, v in median.items()},
                             "rows_per_s": round(rows / median["total_s"], 1)})
                print(json.dumps(runs[-1]))
    RESULT.write_text(json.dumps({
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "note": "medians; job_s includes the subprocess's interpreter start and model load",
        "runs": runs}, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
