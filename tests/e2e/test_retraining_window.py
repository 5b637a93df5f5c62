"""A drift-triggered retraining trains on the drifted days, and its candidate and the serving
champion are scored on the same held-out evaluation set, in the same run, by a paired test."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from e2e_harness import Pipeline

pytestmark = pytest.mark.e2e

FIRST, DRIFTED = "2026-06-01", ("2026-06-02", "2026-06-03")


def _ids(pipeline: Pipeline, key: str) -> set[int]:
    return set(pd.read_parquet(io.BytesIO(pipeline.lake.read_bytes(key)))["review_id"])


def test_drift_retraining_learns_the_drifted_days_and_is_compared_fairly(
        pipeline: Pipeline, tmp_path: Path) -> None:
    from airsage.data.generator import GeneratorConfig, generate_batch, write_batch

    first = pipeline.run(FIRST, until=["register"])
    assert first.state == "success", first.task_states
    champion_version = first.xcoms["register"]["model_version"]["version"]
    assert first.xcoms["prepare"]["window_days"] == [FIRST]

    drifted_ids: set[int] = set()
    for seed, day in enumerate(DRIFTED, start=31):
        batch = generate_batch(GeneratorConfig(rows=1500, seed=seed, day=day, drift=0.6))
        drifted_ids |= set(batch["review_id"].astype("int64"))
        pipeline.land(write_batch(batch, tmp_path / f"{day}.csv", "csv"), day)
    # 06-02's daily run passes the data gates (only gated, curated days enter a window) ...
    gated = pipeline.run(DRIFTED[0], until=["bias_gate"])
    assert gated.state == "success", gated.task_states

    # ... then drift is detected: the asset's queued run has no logical date and processes the
    # newest landed partition (06-03), training on the window that ends there.
    retrain = pipeline.run(None, until=["register"])
    assert retrain.state == "success", retrain.task_states
    prepared = retrain.xcoms["prepare"]
    assert prepared["day"] == DRIFTED[-1]
    assert prepared["window_days"] == [FIRST, *DRIFTED]  # the drifted days are in the window
    trained_on = (_ids(pipeline, prepared["split_keys"]["train"])
                  | _ids(pipeline, prepared["split_keys"]["validation"]))
    assert len(trained_on & drifted_ids) > len(trained_on) / 2  # two of the three days
    evaluation_ids = _ids(pipeline, prepared["split_keys"]["test"])
    assert not evaluation_ids & trained_on

    # candidate and champion: the same job, the same rows, the same run
    candidate = retrain.xcoms["evaluate"]["evaluation"]["metadata"]
    layout_key = f"reports/evaluation/reviews/dt={DRIFTED[-1]}/champion/evaluation.json"
    champion = json.loads(pipeline.lake.read_bytes(layout_key))["metadata"]
    for key in ("test_split", "test_rows", "evaluation_set_sha256"):
        assert candidate[key] == champion[key], key
    assert candidate["evaluation_set_sha256"] == prepared["evaluation_set"]["ids_sha256"]
    assert candidate["test_rows"] == len(evaluation_ids) == prepared["evaluation_set"]["rows"]

    registered = retrain.xcoms["register"]
    assert registered["champion_version"]["version"] == champion_version
    (paired,) = [c for c in registered["blessing"]["checks"]
                 if c["check"] == "champion_bootstrap_macro_f1"]
    assert paired["measured"]["rows"] == len(evaluation_ids)
    assert "paired bootstrap" in paired["message"]
    # the verdict follows the paired test: blessed exactly when the interval clears zero
    assert paired["passed"] is (paired["measured"]["ci_low"] > 0)
    if registered["blessed"]:
        assert registered["model_version"]["version"] != champion_version
