"""Statistics, sketches, distances, and the shapes of the baseline documents."""

from __future__ import annotations

import math

import numpy as np
import pytest

from airsage.monitoring.base import (
    FRACTIONAL,
    INTEGRAL,
    PREDICTION_CONFIDENCE,
    PREDICTION_LABEL,
    STRING,
    TEXT_LENGTH,
    TEXT_OOV_RATE,
    TEXT_TOKENS,
)
from airsage.monitoring.statistics import (
    build_sketch,
    categorical_distance,
    feature_statistics,
    infer_column_type,
    numerical_distance,
    robust,
    sketch_points,
    string_statistics,
    suggested_domain,
    value_type,
)
from airsage.monitoring.text import build_vocabulary, text_features, tokenize


@pytest.mark.parametrize(
    ("value", "expected"),
    [(33, INTEGRAL), (33.0, INTEGRAL), ("33", INTEGRAL), (33.5, FRACTIONAL), ("3.5", FRACTIONAL),
     ("Tops", STRING), (True, STRING), (None, None), (float("nan"), None), ("  ", None)],
)
def test_value_type(value, expected):
    assert value_type(value)[0] == expected


def test_column_type_inference():
    assert infer_column_type([1, 2, None]) == INTEGRAL
    assert infer_column_type([1, 2.5]) == FRACTIONAL
    assert infer_column_type([1, "x"]) == STRING
    assert infer_column_type([None]) == "Unknown"


def test_sketch_is_exact_up_to_k_and_compacts_beyond():
    small = build_sketch(list(range(100)), k=128)
    assert small["parameters"]["k"] == 128
    assert small["data"] == [[float(v) for v in range(100)]]
    big = build_sketch(list(range(10_000)), k=128)
    items, weights = sketch_points(big)
    assert len(items) <= 128
    assert weights.sum() == pytest.approx(10_000, rel=0.05)
    # the median of the sketch is close to the true median
    cdf = np.cumsum(weights) / weights.sum()
    assert items[np.searchsorted(cdf, 0.5)] == pytest.approx(5_000, abs=200)


def test_numeric_statistics_shape():
    entry = feature_statistics("age", [20, 30, 40, None], sketch_size=16)
    stats = entry["numerical_statistics"]
    assert entry["inferred_type"] == INTEGRAL
    assert stats["common"] == {"num_present": 3, "num_missing": 1}
    assert stats["mean"] == 30 and stats["sum"] == 90 and stats["min"] == 20 and stats["max"] == 40
    assert stats["std_dev"] == pytest.approx(np.std([20, 30, 40]))
    kll = stats["distribution"]["kll"]
    assert len(kll["buckets"]) == 10
    assert sum(b["count"] for b in kll["buckets"]) == 3
    assert set(kll["sketch"]) == {"parameters", "data"}


def test_string_statistics_always_carry_a_top_k_distribution():
    # issue 12: Model Monitor writes a categorical distribution for every string column;
    # only small, complete distributions suggest a domain
    small = feature_statistics("d", ["a", "b", "a", None], max_domain_size=5)
    buckets = small["string_statistics"]["distribution"]["categorical"]["buckets"]
    assert buckets == [{"value": "a", "count": 2}, {"value": "b", "count": 1}]
    assert suggested_domain(small, max_domain_size=5) == ["a", "b"]
    large = feature_statistics("t", [f"text {i}" for i in range(20)], max_domain_size=5)
    assert large["string_statistics"]["distinct_count"] == 20
    assert len(large["string_statistics"]["distribution"]["categorical"]["buckets"]) == 20
    assert suggested_domain(large, max_domain_size=5) is None
    top = string_statistics(["x"] * 3 + ["y"] * 2 + [f"z{i}" for i in range(10)], 0, top_k=2)
    assert top["distinct_count"] == 12
    assert top["distribution"]["categorical"]["buckets"] == [{"value": "x", "count": 3},
                                                             {"value": "y", "count": 2}]
    assert suggested_domain(top["distribution"] and {"string_statistics": top}) is None


def test_a_mixed_column_has_the_block_of_its_inferred_type():
    mixed = feature_statistics("age", [31, 45, "unknown", 52])
    assert mixed["inferred_type"] == STRING
    assert set(mixed) == {"name", "inferred_type", "string_statistics"}
    numbers = feature_statistics("age", [31, 45.5, "52"])
    assert numbers["inferred_type"] == FRACTIONAL
    assert set(numbers) == {"name", "inferred_type", "numerical_statistics"}
    declared = feature_statistics("prediction_label", [1, -1, 1], kind=STRING)
    assert declared["inferred_type"] == STRING and "string_statistics" in declared


def test_a_constant_column_has_deequs_ten_zero_width_buckets():
    entry = feature_statistics("rating", [5, 5, 5, 5])
    buckets = entry["numerical_statistics"]["distribution"]["kll"]["buckets"]
    assert buckets == [{"lower_bound": 5.0, "upper_bound": 5.0, "count": 0}] * 9 + [
        {"lower_bound": 5.0, "upper_bound": 5.0, "count": 4}]


def test_kll_buckets_count_lower_inclusive_and_the_last_both_ends():
    entry = feature_statistics("x", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    buckets = entry["numerical_statistics"]["distribution"]["kll"]["buckets"]
    assert [b["count"] for b in buckets] == [1] * 9 + [2]
    assert buckets[3] == {"lower_bound": 3.0, "upper_bound": 4.0, "count": 1}


def test_categorical_distance_of_a_top_k_baseline_uses_every_baseline_value():
    # the baseline's buckets list 2 of its 10 values; shares are of all 10
    distance, n, m = categorical_distance({"a": 4, "b": 2}, ["a"] * 4 + ["c"] * 6, 10)
    assert m == 10 and n == 10
    assert distance == pytest.approx(0.6)  # c: 0.6 now, not among the baseline's top values


def test_numerical_distance_is_the_ks_statistic():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 1000)
    shifted = rng.normal(1, 1, 500)
    entry = feature_statistics("x", base.tolist(), sketch_size=2048)
    distance, n, m = numerical_distance(entry, shifted.tolist())
    from scipy.stats import ks_2samp

    assert (n, m) == (500, 1000)
    assert distance == pytest.approx(ks_2samp(base, shifted).statistic, abs=1e-9)


def test_categorical_distance_is_l_infinity():
    distance, n, m = categorical_distance({"a": 50, "b": 50}, ["a"] * 80 + ["b"] * 10 + ["c"] * 10)
    assert (n, m) == (100, 100)
    assert distance == pytest.approx(0.4)


def test_robust_correction_matches_deequ():
    assert robust(0.3, 100, 400, "Simple") == 0.3
    expected = 0.3 - 1.8 * math.sqrt((100 + 400) / (100 * 400))
    assert robust(0.3, 100, 400, "Robust") == pytest.approx(expected)
    assert robust(0.05, 100, 400, "Robust") == 0.0


def test_leave_one_out_oov_rate_is_not_trivially_zero():
    texts = ["red dress fits", "red dress itchy", "blue skirt"]
    vocabulary = build_vocabulary((tokenize(t) for t in texts), min_count=2)
    assert vocabulary == {"dress": 2, "red": 2}
    plain = text_features(texts, vocabulary, min_count=2)
    assert plain["oov_rate"] == pytest.approx([1 / 3, 1 / 3, 1.0])
    loo = text_features(texts, vocabulary, min_count=2, leave_one_out=True)
    # without its own row, "red" and "dress" have been seen once: below min_count
    assert loo["oov_rate"] == pytest.approx([1.0, 1.0, 1.0])
    assert plain["tokens"] == [3.0, 3.0, 2.0]
    assert plain["length"][0] == len("red dress fits")


def test_baseline_documents_follow_model_monitor_schemas(baseline_docs, monitoring_settings):
    statistics, constraints = baseline_docs.statistics, baseline_docs.constraints
    assert statistics["version"] == 0
    assert statistics["dataset"]["item_count"] == 2000
    names = [entry["name"] for entry in statistics["features"]]
    assert names == [*monitoring_settings.features, TEXT_LENGTH, TEXT_TOKENS, TEXT_OOV_RATE,
                     PREDICTION_LABEL, PREDICTION_CONFIDENCE]
    by_name = {entry["name"]: entry for entry in statistics["features"]}
    assert by_name["age"]["inferred_type"] == INTEGRAL
    assert "kll" in by_name["age"]["numerical_statistics"]["distribution"]
    assert by_name["department_name"]["inferred_type"] == STRING
    assert by_name[PREDICTION_LABEL]["string_statistics"]["distribution"]["categorical"]
    assert by_name[TEXT_OOV_RATE]["numerical_statistics"]["mean"] > 0.0
    assert "multiclass_classification_metrics" not in statistics  # a model-quality file's
    quality = baseline_docs.model_quality_statistics["multiclass_classification_metrics"]
    assert quality["accuracy"]["value"] > 0.5

    assert constraints["version"] == 0
    config = constraints["monitoring_config"]
    assert config["distribution_constraints"] == {
        "perform_comparison": "Enabled", "comparison_threshold": 0.1,
        "comparison_method": "Robust", "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    }
    assert config["datatype_check_threshold"] == 0.1
    cons = {entry["name"]: entry for entry in constraints["features"]}
    assert cons["age"]["completeness"] == 1.0
    assert cons["age"]["num_constraints"] == {"is_non_negative": True}
    assert "Tops" in cons["department_name"]["string_constraints"]["domains"]
    assert "string_constraints" not in cons["review_text"]
    assert "multiclass_classification_constraints" not in constraints
    accuracy = baseline_docs.model_quality_constraints["multiclass_classification_constraints"][
        "accuracy"]
    assert accuracy["comparison_operator"] == "LessThanThreshold"
    assert constraints["airsage"]["vocabulary_file"] == "vocabulary.json"
    assert baseline_docs.vocabulary["size"] == len(baseline_docs.vocabulary["tokens"]) > 100
