"""The bias gate step end to end on the local target: lake in, job, report, verdict."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from bias_helpers import confusion_frame, sentiment_of

from airsage.bias.base import PRE_TRAINING_ANALYSIS, PRE_TRAINING_VERDICT, BiasSettings
from airsage.bias.gate import analysis_config, evaluate_posttraining, run_bias_gate
from airsage.errors import GateFailedError, InputDataError
from airsage.lake.layout import LakeLayout

DAY = "2024-03-01"
DATA_KEY = LakeLayout("reviews").curated(DAY) + "reviews.parquet"


def batch(positive_rate_intimate: float, positive_rate_other: float = 0.77,
          rows: int = 1000, seed: int = 3) -> pd.DataFrame:
    """A batch with exact positive shares per department (10 % Intimate: 100 rows, the
    default bias.min_group_size, so both departments are judged)."""
    rng = np.random.default_rng(seed)
    n_d = rows // 10
    department = np.array(["Intimate"] * n_d + ["Tops"] * (rows - n_d))

    def ratings(n: int, positive: float) -> np.ndarray:
        n_pos = round(n * positive)
        rest = rng.choice([1, 2, 3], n - n_pos)
        return np.concatenate([rng.choice([4, 5], n_pos), rest])

    rating = np.concatenate([ratings(n_d, positive_rate_intimate),
                             ratings(rows - n_d, positive_rate_other)])
    frame = pd.DataFrame({"review_id": np.arange(rows), "department_name": department,
                          "age": rng.integers(20, 70, rows), "rating": rating})
    frame["sentiment"] = sentiment_of(frame["rating"])
    return frame


def put(lake, frame: pd.DataFrame, key: str = DATA_KEY) -> str:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    lake.write_bytes(key, buffer.getvalue())
    return key


def test_analysis_config_names_every_group_by_default(settings):
    """gate_groups: all -> the facet without a value: the job measures every value (Clarify)."""
    config = analysis_config(BiasSettings.from_settings(settings))
    assert config["facet"] == [{"name_or_index": "department_name"}]
    assert config["min_group_size"] == 100


def test_analysis_config_uses_clarifys_keys(settings):
    configured = settings.with_overrides({"bias": {"gate_groups": "configured"}})
    config = analysis_config(BiasSettings.from_settings(configured))
    assert config["label"] == "sentiment"
    assert config["label_values_or_threshold"] == [1]
    assert config["facet"] == [{"name_or_index": "department_name",
                                "value_or_threshold": ["Intimate"], "facet_type": "values"}]
    assert config["group_variable"] == "age"
    assert config["methods"] == {"pre_training_bias": {"methods": "all"}}


def test_a_fair_batch_passes_and_its_report_is_in_the_lake(settings, lake, job_runner):
    report = run_bias_gate(settings, lake, "reviews", DAY, put(lake, batch(0.775)), runner=job_runner)
    assert report.status == "pass", report.verdict.to_dict()
    assert abs(report.metrics["DPL"]) < 0.05
    key = LakeLayout("reviews").report("bias", DAY, PRE_TRAINING_ANALYSIS)
    assert report.report_uri == lake.uri(key)
    analysis = json.loads(lake.read_bytes(key))
    assert analysis["pre_training_bias_metrics"]["facets"]["department_name"][0][
        "value_or_threshold"] == "Intimate"
    verdict = json.loads(lake.read_bytes(LakeLayout("reviews").report("bias", DAY,
                                                                      PRE_TRAINING_VERDICT)))
    assert verdict["status"] == "pass" and verdict["data_key"] == DATA_KEY


def test_a_biased_batch_fails_on_dpl_with_measured_and_expected(settings, lake, job_runner):
    # Intimate 30 % positive, others 77 %: DPL = 0.77 - 0.30 = 0.47 (> fail 0.2)
    with pytest.raises(GateFailedError) as caught:
        run_bias_gate(settings, lake, "reviews", DAY, put(lake, batch(0.30)), runner=job_runner)
    error = caught.value
    assert error.gate == "bias" and "reviews" in error.resource and DAY in error.resource
    dpl = {f.check: f for f in error.failures}["DPL (facet department_name=Intimate)"]
    assert dpl.measured == pytest.approx(0.47, abs=0.01)
    assert dpl.expected == "|DPL| <= 0.2"
    assert error.report_uri == lake.uri(LakeLayout("reviews").report("bias", DAY,
                                                                     PRE_TRAINING_ANALYSIS))
    assert lake.exists(LakeLayout("reviews").report("bias", DAY, PRE_TRAINING_ANALYSIS))
    assert "DPL (facet department_name=Intimate): measured" in str(error)


def test_a_mildly_skewed_batch_passes_with_a_warning(settings, lake, job_runner):
    # DPL = 0.77 - 0.62 = 0.15: above warn 0.12, below fail 0.2
    report = run_bias_gate(settings, lake, "reviews", DAY, put(lake, batch(0.62)), runner=job_runner)
    assert report.status == "warn"
    assert "DPL" in {c.metric for c in report.warnings}


def test_a_missing_batch_and_a_missing_facet_value_are_bad_input(settings, lake, job_runner):
    with pytest.raises(InputDataError, match="no batch"):
        run_bias_gate(settings, lake, "reviews", DAY, DATA_KEY, runner=job_runner)
    no_intimate = batch(0.775)
    no_intimate = no_intimate[no_intimate["department_name"] != "Intimate"]
    configured = settings.with_overrides({"bias": {"gate_groups": "configured"}})
    with pytest.raises(InputDataError, match="Intimate"):
        run_bias_gate(configured, lake, "reviews", DAY, put(lake, no_intimate), runner=job_runner)


def test_thresholds_come_from_the_settings(settings, lake, job_runner):
    strict = settings.with_overrides({"bias": {"thresholds": {"DPL": {"warn": 0.005, "fail": 0.01}}}})
    with pytest.raises(GateFailedError) as caught:
        run_bias_gate(strict, lake, "reviews", DAY, put(lake, batch(0.70)), runner=job_runner)
    # both departments are judged (each against the other): one DPL failure per group
    assert sorted(f.check for f in caught.value.failures) == [
        "DPL (facet department_name=Intimate)", "DPL (facet department_name=Tops)"]
    assert {f.expected for f in caught.value.failures} == {"|DPL| <= 0.01"}


def test_the_real_sample_passes(settings, lake, real_sample, job_runner):
    report = run_bias_gate(settings, lake, "reviews", DAY, put(lake, real_sample), runner=job_runner)
    assert report.status == "pass", report.verdict.to_dict()


def test_generated_batches_fair_pass_and_biased_fail(settings, lake, job_runner):
    generator = pytest.importorskip("airsage.data.generator")

    def generated(**knobs) -> pd.DataFrame:
        config = generator.GeneratorConfig(rows=4000, seed=11, day=DAY, **knobs)
        frame = generator.generate_batch(config)
        frame["sentiment"] = sentiment_of(frame["rating"])
        return frame

    fair = run_bias_gate(settings, lake, "reviews", DAY, put(lake, generated()), runner=job_runner)
    assert fair.status in ("pass", "warn") and not fair.verdict.failures
    with pytest.raises(GateFailedError) as caught:
        run_bias_gate(settings, lake, "reviews", DAY,
                      put(lake, generated(biased_category="Intimate", bias_strength=0.6)), runner=job_runner)
    failed = {f.check.split(" ")[0] for f in caught.value.failures}
    assert {"DPL", "KL", "JS", "TVD"} <= failed


def test_evaluate_posttraining_reports_and_writes(settings, lake):
    # DPPL = 75/100 - 25/50 = 0.25 (warn at 0.15, fail above 0.25: warn);
    # DI = 0.5 / 0.75: |1 - DI| = 1/3 (warn 0.2, fail 0.35: warn)
    frame = confusion_frame({"TP": 65, "FP": 10, "FN": 5, "TN": 20},
                            {"TP": 20, "FP": 5, "FN": 7, "TN": 18})
    report = evaluate_posttraining(settings, frame, dataset="reviews", day=DAY,
                                   predicted_label="predicted", lake=lake)
    assert report.stage == "post_training"
    assert report.metrics["DPPL"] == pytest.approx(0.25)
    assert report.status == "warn"
    analysis = json.loads(lake.read_bytes(LakeLayout("reviews").report(
        "bias", DAY, "post_training/analysis.json")))
    assert "post_training_bias_metrics" in analysis
    with pytest.raises(GateFailedError, match="DI"):
        evaluate_posttraining(settings, frame, dataset="reviews", day=DAY,
                              predicted_label="predicted",
                              thresholds={"DI": {"fail": 0.3}}, raise_on_fail=True)


def _generated(rows: int = 4000, **knobs) -> pd.DataFrame:
    from airsage.data.generator import GeneratorConfig, generate_batch

    frame = generate_batch(GeneratorConfig(rows=rows, seed=11, day=DAY, **knobs))
    frame["sentiment"] = sentiment_of(frame["rating"])
    return frame


@pytest.mark.parametrize("department", ["Bottoms", "Dresses", "Intimate", "Jackets", "Tops"])
def test_a_batch_biased_against_any_one_department_fails_under_the_default_config(
    settings, lake, department, job_runner
):
    """Not only the department named in facet_values: every one is judged in turn."""
    with pytest.raises(GateFailedError) as caught:
        run_bias_gate(settings, lake, "reviews", DAY,
                      put(lake, _generated(biased_category=department, bias_strength=0.5)), runner=job_runner)
    checks = {f.check for f in caught.value.failures}
    assert f"DPL (facet department_name={department})" in checks, checks


def test_a_fair_generated_day_passes_every_group(settings, lake, job_runner):
    report = run_bias_gate(settings, lake, "reviews", DAY, put(lake, _generated()), runner=job_runner)
    assert report.status == "pass", report.verdict.to_dict()
    judged = {g["value"] for g in report.groups if g["status"] != "skipped"}
    assert judged == {"Bottoms", "Dresses", "Intimate", "Jackets", "Tops"}
    (trend,) = [g for g in report.groups if g["value"] == "Trend"]
    assert trend["status"] == "skipped" and trend["rows"] < 100


def test_a_small_group_is_too_few_rows_to_judge_not_an_infinite_divergence(settings, lake, job_runner):
    frame = batch(0.775)
    tiny = frame.head(12).assign(department_name="Trend", rating=1, review_id=range(5000, 5012))
    tiny["sentiment"] = sentiment_of(tiny["rating"])
    report = run_bias_gate(settings, lake, "reviews", DAY,
                           put(lake, pd.concat([frame, tiny], ignore_index=True)), runner=job_runner)
    assert report.status == "pass", report.verdict.to_dict()
    (trend,) = [g for g in report.groups if g["value"] == "Trend"]
    assert trend == {"facet": "department_name", "value": "Trend", "rows": 12,
                     "status": "skipped",
                     "reason": "too few rows to judge: 12 row(s) in this group, "
                               "min_group_size is 100"}
    analysis = json.loads(lake.read_bytes(LakeLayout("reviews").report("bias", DAY,
                                                                       PRE_TRAINING_ANALYSIS)))
    entries = analysis["pre_training_bias_metrics"]["facets"]["department_name"]
    entry = next(e for e in entries if e["value_or_threshold"] == "Trend")
    assert entry["metrics"] == [] and entry["rows"] == 12 and "too few rows" in entry["skipped"]


def test_no_group_large_enough_fails_closed(settings, lake, job_runner):
    with pytest.raises(GateFailedError) as caught:
        run_bias_gate(settings, lake, "reviews", DAY, put(lake, batch(0.775, rows=90)), runner=job_runner)
    (failure,) = caught.value.failures
    assert failure.expected == "a group with enough rows to judge"
    assert "no facet group has enough rows" in failure.message
    assert "Intimate: too few rows to judge: 9 row(s)" in failure.message


def test_a_warning_is_logged_returned_and_made_an_alert(settings, lake, caplog, job_runner):
    import logging

    from airsage.bias.gate import warning_alert

    with caplog.at_level(logging.INFO, logger="airsage.bias.gate"):
        report = run_bias_gate(settings, lake, "reviews", DAY, put(lake, batch(0.62)), runner=job_runner)
    assert report.status == "warn"
    assert {c.group for c in report.warnings if c.metric == "DPL"} == {
        "department_name=Intimate", "department_name=Tops"}
    assert any("bias gate WARN: DPL on department_name=Intimate" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    assert report.to_dict()["verdict"]["status"] == "warn"
    alert = warning_alert(report)
    assert alert is not None and alert.severity == "warning"
    assert "DPL (facet department_name=Intimate)" in alert.message
    fair = run_bias_gate(settings, lake, "reviews", DAY, put(lake, batch(0.775)), runner=job_runner)
    assert warning_alert(fair) is None
