"""airsage's bias metrics and job against the cases of Clarify's own test suite.

One test per expected value (see ``clarify_cases``): the metric primitives for the cases
of Clarify's ``test_metrics.py``; the bias job's ``analyze`` (Clarify's analysis config in,
``analysis.json`` out) for the reports of its ``test_report.py``.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import pytest
from clarify_cases import LABEL_TEXT_CASES, METRIC_CASES, REPORT_CASES

from airsage.bias.base import DESCRIPTIONS, parse_value
from airsage.bias.metrics import MetricError
from airsage.config import INCLUDE_DIR

SPEC = importlib.util.spec_from_file_location("airsage_bias_job", INCLUDE_DIR / "jobs" / "bias.py")
JOB = importlib.util.module_from_spec(SPEC)  # type: ignore[arg-type]
SPEC.loader.exec_module(JOB)  # type: ignore[union-attr]

SECTIONS = {"pre_training": "pre_training_bias_metrics",
            "post_training": "post_training_bias_metrics"}


def _expect(actual: float | None, error: str | None, expected: Any) -> None:
    if isinstance(expected, tuple):
        assert actual is None and error == expected[1]
    elif math.isinf(expected):
        assert actual == expected
    else:
        assert error is None, error
        assert actual == pytest.approx(expected)


@pytest.mark.parametrize(("compute", "expected"),
                         [pytest.param(c, e, id=name) for name, c, e in METRIC_CASES])
def test_metric_case(compute, expected):
    try:
        actual, error = compute(), None
    except MetricError as exc:
        actual, error = None, str(exc)
    _expect(actual, error, expected)


REPORT_VALUES = [
    pytest.param(frame, config, stage, group, metric, value,
                 id=f"{name}-{group}-{metric}")
    for name, frame, config, stage, groups in REPORT_CASES
    for group, values in groups.items()
    for metric, value in values.items()
]
_ANALYSES: dict[int, dict[str, Any]] = {}


def _analysis(frame, config) -> dict[str, Any]:
    key = id(config)
    if key not in _ANALYSES:
        _ANALYSES[key] = JOB.analyze(frame.copy(), config)
    return _ANALYSES[key]


@pytest.mark.parametrize(("frame", "config", "stage", "group", "metric", "expected"),
                         REPORT_VALUES)
def test_report_case(frame, config, stage, group, metric, expected):
    section = _analysis(frame, config)[SECTIONS[stage]]
    facet = config["facet"][0]["name_or_index"]
    groups = {g["value_or_threshold"]: g for g in section["facets"][facet]}
    assert group in groups, f"groups: {list(groups)}"
    entries = {e["name"]: e for e in groups[group]["metrics"]}
    entry = entries[metric]
    assert entry["description"] == DESCRIPTIONS[metric]
    _expect(parse_value(entry["value"]), entry.get("error"), expected)


@pytest.mark.parametrize(("name", "frame", "config", "stage", "groups"),
                         [pytest.param(*case, id=case[0]) for case in REPORT_CASES])
def test_report_lists_clarifys_groups_and_metrics_in_its_order(name, frame, config, stage,
                                                               groups):
    section = _analysis(frame, config)[SECTIONS[stage]]
    facet = config["facet"][0]["name_or_index"]
    listed = section["facets"][facet]
    assert [g["value_or_threshold"] for g in listed] == list(groups)
    for group in listed:
        assert [e["name"] for e in group["metrics"]] == sorted(groups[group["value_or_threshold"]])


@pytest.mark.parametrize(("series", "values", "text"),
                         [pytest.param(s, v, t, id=n) for n, s, v, t in LABEL_TEXT_CASES])
def test_label_value_or_threshold(series, values, text):
    frame = series.to_frame("label").assign(facet=["x"] + ["y"] * (len(series) - 1))
    assert JOB._outcome(frame, "label", {"label_values_or_threshold": list(values)})["text"] \
        == text


def test_clarifys_invalid_inputs_are_refused_with_its_reasons():
    import pandas as pd

    from airsage.errors import ConfigurationError, InputDataError

    frame = pd.DataFrame([["a", 0, 0, "n"], ["b", 0, 1, "y"], ["c", 1, 0, "n"]],
                         columns=["x", "y", "label", "predicted_label"])
    base = {"label": "label", "label_values_or_threshold": [1],
            "facet": [{"name_or_index": "x"}],
            "methods": {"post_training_bias": {"methods": "all"}}}
    pre = {"pre_training_bias": {"methods": "all"}}
    with pytest.raises(ConfigurationError, match="'z' is not a column"):
        JOB.analyze(frame.copy(), {**base, "methods": pre, "facet": [{"name_or_index": "z"}]})
    with pytest.raises(ConfigurationError, match="label values or thresholds are empty"):
        JOB.analyze(frame.copy(), {**base, "methods": pre, "label_values_or_threshold": []})
    with pytest.raises(ConfigurationError, match="needs predicted_label"):
        JOB.analyze(frame.copy(), base)
    with pytest.raises(InputDataError, match="same kind"):
        JOB.analyze(frame.copy(), {**base, "predicted_label": "predicted_label"})
    numbers = pd.DataFrame([[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0], [3.0, 4.0, 5.0, 6.0],
                            [4.0, 5.0, 6.0, 7.0]],
                           columns=["Label", "Facet", "Feature", "PredictedLabel"])
    with pytest.raises(ConfigurationError, match="threshold values must be provided"):
        JOB.analyze(numbers.copy(), {**base, "label": "Label",
                                     "label_values_or_threshold": [2.0],
                                     "predicted_label": "PredictedLabel",
                                     "facet": [{"name_or_index": "Facet"}]})
    with pytest.raises(ConfigurationError, match="single numeric threshold"):
        JOB.analyze(numbers.copy(), {**base, "label": "Label",
                                     "label_values_or_threshold": ["string_threshold"],
                                     "facet": [{"name_or_index": "Facet",
                                                "value_or_threshold": [3.0]}],
                                     "methods": {"pre_training_bias": {"methods": "all"}}})
