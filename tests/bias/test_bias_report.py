"""analysis.json shape, reading it back, and the pass / warn / fail verdict."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airsage.bias.base import BiasSettings, MetricValues
from airsage.bias.report import build_analysis, evaluate_thresholds, read_metrics
from airsage.config import PROJECT_ROOT
from airsage.errors import ConfigurationError, InputDataError


def sample_metrics() -> MetricValues:
    values = MetricValues({"CI": 0.8, "DPL": -0.3})
    values.set("KL", None, "KL is infinite: label value(s) ['0'] occur in facet a only")
    return values


def test_analysis_has_clarifys_shape_and_is_strict_json():
    analysis = build_analysis(label="sentiment", label_values=[1], facet="department_name",
                              facet_value_or_threshold=["Intimate"], pre_training=sample_metrics())
    assert analysis == {
        "version": "1.0",
        "pre_training_bias_metrics": {
            "label": "sentiment",
            "facets": {"department_name": [{
                "value_or_threshold": "Intimate",
                "metrics": [
                    {"name": "CI", "description": "Class Imbalance (CI)", "value": 0.8},
                    {"name": "DPL",
                     "description": "Difference in Positive Proportions in Labels (DPL)",
                     "value": -0.3},
                    {"name": "KL", "description": "Kullback-Liebler Divergence (KL)",
                     "value": None,
                     "error": "KL is infinite: label value(s) ['0'] occur in facet a only"},
                ],
            }]},
            "label_value_or_threshold": "1",
        },
    }
    json.dumps(analysis, allow_nan=False)


def test_read_metrics_round_trips_values_and_reasons():
    analysis = build_analysis(label="sentiment", label_values=[1.0, 0], facet="age",
                              facet_value_or_threshold=[40.0],
                              post_training=MetricValues({"DI": 0.7}))
    section = analysis["post_training_bias_metrics"]
    assert section["label_value_or_threshold"] == "1,0"
    assert section["facets"]["age"][0]["value_or_threshold"] == "40"
    assert read_metrics(analysis, stage="post_training") == {"DI": 0.7}

    pre = build_analysis(label="s", label_values=[1], facet="f", facet_value_or_threshold="x",
                         pre_training=sample_metrics())
    back = read_metrics(pre, facet="f", value_or_threshold=["x"])
    assert back == {"CI": 0.8, "DPL": -0.3, "KL": None}
    assert back.reasons["KL"].startswith("KL is infinite")


def test_infinite_values_are_written_and_read_as_clarify_writes_them():
    values = MetricValues()
    values.put("TE", float("-inf"))
    values.put("DI", float("inf"))
    values.put("AD", 0.5)
    analysis = build_analysis(label="s", label_values=[1], facet="f",
                              facet_value_or_threshold="(40, 70]", post_training=values)
    entries = analysis["post_training_bias_metrics"]["facets"]["f"][0]["metrics"]
    # sorted by name, infinities as strings, strict JSON
    assert [(e["name"], e["value"]) for e in entries] == [
        ("AD", 0.5), ("DI", "Infinity"), ("TE", "-Infinity")]
    json.dumps(analysis, allow_nan=False)
    back = read_metrics(analysis, stage="post_training", facet="f", value_or_threshold=40)
    assert back == {"AD": 0.5, "DI": float("inf"), "TE": float("-inf")}
    verdict = evaluate_thresholds(back, {"DI": {"fail": 0.35}, "TE": {"warn": 1.0}})
    assert {c.metric: c.status for c in verdict.checks} == {"AD": "pass", "DI": "fail",
                                                            "TE": "warn"}
    assert "zero denominator" in verdict.failures[0].reason
    assert json.loads(json.dumps(verdict.to_dict(), allow_nan=False))["checks"][1]["value"] \
        == "Infinity"


def test_read_metrics_names_what_the_report_holds():
    analysis = build_analysis(label="s", label_values=[1], facet="f", facet_value_or_threshold="x",
                              pre_training=sample_metrics())
    with pytest.raises(InputDataError, match="post_training_bias_metrics"):
        read_metrics(analysis, stage="post_training")
    with pytest.raises(InputDataError, match=r"facets: \['f'\]"):
        read_metrics(analysis, facet="g")
    with pytest.raises(InputDataError, match="holds groups"):
        read_metrics(analysis, facet="f", value_or_threshold="y")


def test_verdict_compares_magnitudes_and_uses_one_minus_di():
    metrics = MetricValues({"DPL": -0.3, "KL": 0.05, "CI": 0.95, "DI": 0.7, "AD": 0.01})
    verdict = evaluate_thresholds(metrics, {
        "DPL": {"warn": 0.1, "fail": 0.25},   # |-0.3| > 0.25: fail
        "KL": {"warn": 0.05, "fail": 0.2},    # 0.05 is not above 0.05: pass
        "CI": {"warn": 0.9, "fail": 0.97},    # 0.95: warn
        "DI": {"warn": 0.2, "fail": 0.35},    # |1 - 0.7| = 0.3: warn
    })
    status = {c.metric: c.status for c in verdict.checks}
    assert status == {"DPL": "fail", "KL": "pass", "CI": "warn", "DI": "warn", "AD": "pass"}
    assert verdict.status == "fail" and not verdict.passed
    assert [c.metric for c in verdict.failures] == ["DPL"]
    assert "|DPL| = 0.3 > fail limit 0.25" in verdict.failures[0].reason
    assert {c.metric for c in verdict.warnings} == {"CI", "DI"}
    assert json.loads(json.dumps(verdict.to_dict()))["status"] == "fail"


def test_overall_status_is_the_worst_check():
    assert evaluate_thresholds({"DPL": 0.0}, {"DPL": {"warn": 0.1, "fail": 0.2}}).status == "pass"
    assert evaluate_thresholds({"DPL": 0.15}, {"DPL": {"warn": 0.1, "fail": 0.2}}).status == "warn"
    # a fail limit alone: at the limit passes, above it fails
    assert evaluate_thresholds({"JS": 0.2}, {"JS": {"fail": 0.2}}).status == "pass"
    assert evaluate_thresholds({"JS": 0.21}, {"JS": {"fail": 0.2}}).status == "fail"


def test_a_threshold_on_a_missing_value_fails_closed():
    verdict = evaluate_thresholds(sample_metrics(), {"KL": {"warn": 0.1, "fail": 0.2},
                                                     "CDDL": {"fail": 0.1}})
    failed = {c.metric: c for c in verdict.failures}
    assert set(failed) == {"KL", "CDDL"}
    assert "infinite" in failed["KL"].reason and "fails closed" in failed["KL"].reason
    assert "not computed" in failed["CDDL"].reason
    # without a threshold a None value is only reported
    quiet = evaluate_thresholds(sample_metrics(), {})
    assert quiet.status == "pass"
    assert {c.metric: c.reason for c in quiet.checks}["KL"].startswith("KL is infinite")


def test_bad_thresholds_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="unknown metric 'XYZ'"):
        evaluate_thresholds({}, {"XYZ": {"fail": 1}})
    with pytest.raises(ConfigurationError, match="warn must be the smaller"):
        evaluate_thresholds({}, {"DPL": {"warn": 0.5, "fail": 0.2}})
    with pytest.raises(ConfigurationError, match="must be a number"):
        evaluate_thresholds({}, {"DPL": {"fail": "high"}})


def test_bias_settings_require_one_way_to_name_the_sensitive_group():
    base = {"facet": "department_name", "label": "sentiment", "label_values": [1]}
    with pytest.raises(ConfigurationError, match="exactly one of facet_values"):
        BiasSettings.from_mapping(base)
    with pytest.raises(ConfigurationError, match="exactly one of facet_values"):
        BiasSettings.from_mapping({**base, "facet_values": ["A"], "facet_threshold": 3})
    with pytest.raises(ConfigurationError, match="lacks 'label'"):
        BiasSettings.from_mapping({"facet": "x", "facet_values": ["A"]})
    parsed = BiasSettings.from_mapping({**base, "facet_values": "Intimate",
                                        "thresholds": {"dpl": {"fail": 0.3}}})
    assert parsed.facet_values == ("Intimate",)
    assert parsed.thresholds["DPL"].fail == 0.3
    assert parsed.facet_description == "facet department_name=Intimate"
    threshold = BiasSettings.from_mapping({**base, "facet": "age", "facet_threshold": "40"})
    assert threshold.facet_description == "facet age>40"


def test_the_shipped_config_parses(settings):
    bias = BiasSettings.from_settings(settings)
    assert bias.facet == "department_name" and bias.facet_values == ("Intimate",)
    assert {"DPL", "KL", "JS", "TVD"} <= set(bias.thresholds)
    assert set(bias.post_training_thresholds) >= {"DPPL", "DI"}


def test_importing_the_bias_package_and_gate_loads_no_pandas():
    code = ("import sys, airsage.bias, airsage.bias.gate, airsage.jobs.local; "
            "print(sorted(m for m in ('pandas', 'numpy', 'duckdb') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={"PYTHONPATH": str(PROJECT_ROOT / "plugins")})
    assert result.stdout.strip() == "[]"
