"""reviews_daily's ML plane end to end: the full chain registers and deploys a model that
beats the majority class; a weaker challenger is not registered and the champion keeps
serving; a biased batch stops at the bias gate; the trigger form refuses bad Params."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from e2e_harness import Pipeline
from e2e_traffic import invoke

pytestmark = pytest.mark.e2e

# The candidate must beat the majority-class baseline of its held-out test split by this.
MARGIN_OVER_MAJORITY = 0.2


def test_full_chain_registers_deploys_and_keeps_the_champion_against_a_weaker_model(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pipeline.run("2026-05-01")
    assert first.state == "success", first.task_states
    assert first.task_states["auto_approved"] == "success"
    assert first.task_states["keep_champion"] == "skipped"

    metrics = first.xcoms["evaluate"]["evaluation"]["multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] >= metrics["baseline_accuracy"]["value"] + MARGIN_OVER_MAJORITY

    registered = first.xcoms["register"]
    assert registered["blessed"] is True
    assert registered["model_version"]["status"] == "Approved"
    deployed = first.xcoms["deploy"]
    assert deployed["model_version"] == registered["model_version"]["version"]

    url = deployed["url"]
    with urllib.request.urlopen(f"{url}/ping", timeout=10) as response:
        assert response.status == 200
    answer = invoke(url, [{"review_text": "I love this dress, the fit is perfect and so soft"},
                          {"review_text": "Terrible quality, it ripped and I returned it"}])
    assert [p["label"] for p in answer["predictions"]] == [1, -1]

    # A deliberately weakened challenger (almost no regularisation budget, 5 features),
    # configured through the Airflow Variable: it must not replace the champion.
    weak = {"training": {"hyperparameters": {"C": 0.0001, "max_features": 5}}}
    monkeypatch.setenv("AIRFLOW_VAR_AIRSAGE_CONFIG", json.dumps(weak))
    second = pipeline.run("2026-05-02", conf={"accuracy_threshold": 0.0})
    assert second.state == "success", second.task_states
    assert second.task_states["keep_champion"] == "success"
    assert second.task_states["deploy"] == "skipped"
    blessing = second.xcoms["register"]["blessing"]
    assert blessing["blessed"] is False
    assert any(f["check"].startswith("champion") for f in blessing["failures"]), blessing

    from airsage.config import load_settings
    from airsage.serving.local import LocalEndpointDeployer

    live = LocalEndpointDeployer(load_settings()).describe("reviews-sentiment")
    serving = [v for v in live.variants if v["weight"] > 0]
    assert [str(v["model_version"]) for v in serving] == [registered["model_version"]["version"]]


def test_a_batch_biased_against_a_category_fails_the_bias_gate(pipeline: Pipeline, tmp_path: Path) -> None:
    from airsage.data.generator import GeneratorConfig, generate_batch, write_batch

    day = "2026-05-03"
    # 4000 rows (the daily default): a biased department keeps >= bias.min_group_size rows
    biased = generate_batch(GeneratorConfig(rows=4000, seed=5, day=day, biased_category="Intimate",
                                            bias_strength=0.6))
    pipeline.land(write_batch(biased, tmp_path / "biased.csv", "csv"), day)
    summary = pipeline.run(day, until=["bias_gate"])
    assert summary.task_states["quality_gate"] == "success"
    assert summary.task_states["bias_gate"] == "failed", summary.task_states
    message = next(a for a in pipeline.alerts() if a.task_id == "bias_gate").message
    assert "DPL" in message and "Intimate" in message
    assert pipeline.lake.exists(f"reports/bias/reviews/dt={day}/pre_training/analysis.json")


def test_the_trigger_form_refuses_out_of_range_params(pipeline: Pipeline) -> None:
    """A run's conf is merged into the DAG's ParamsDict, which resolves each value against its
    JSON schema: the same check the trigger form and the REST API apply."""
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    params = pipeline.dags["reviews_daily"].params
    for key, bad in (("max_jobs", 500), ("accuracy_threshold", 1.5), ("model_family", "gpt"),
                     ("balance", "smote"), ("tuning", "yes")):
        candidate = copy.deepcopy(params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {key}"):
            candidate[key] = bad
    accepted = copy.deepcopy(params)
    accepted.update({"max_jobs": 8, "model_family": "bert", "accuracy_threshold": 0.7})
    assert accepted.validate()["max_jobs"] == 8


def test_tuning_from_the_trigger_form_tracks_every_trial(pipeline: Pipeline) -> None:
    summary = pipeline.run("2026-05-04", conf={"tuning": True, "max_jobs": 3}, until=["train"])
    assert summary.state == "success", summary.task_states
    trained = summary.xcoms["train"]
    trials = trained["tuning"]["trials"]
    assert len(trials) == 3
    assert trained["job_name"] in {t["job_name"] for t in trials}
    assert set(trained["tracking_runs"]) == {trained["tuning"]["tuning_job_name"]} | {
        t["job_name"] for t in trials}


def test_a_runs_conf_does_not_leak_into_the_next_run_of_the_same_dag(pipeline: Pipeline) -> None:
    """dag.test() resolves conf into the task objects' params; the runner restores them."""
    dag = pipeline.dags["reviews_daily"]
    before = dag.get_task("prepare").params["balance"]
    summary = pipeline.run("2026-05-05", conf={"balance": "none"}, until=["ingest"])
    assert summary.state == "success"
    assert dag.get_task("prepare").params["balance"] == before == "undersample"
    assert dag.get_task("ingest").params["balance"] == "undersample"
