"""Test cases ported from SageMaker Clarify's own test suite (values, not code).

Source: github.com/aws/amazon-sagemaker-clarify, ``tests/unit/bias/metrics/test_metrics.py``
and ``tests/unit/bias/test_report.py``. Each metric case is the inputs Clarify's test builds
and the value (or error message) it expects; each report case is the data set, the analysis
config that matches Clarify's ``bias_report`` call, and the expected ``value_or_threshold``
and metric values per facet group. Numbers are copied as Clarify writes them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from airsage.bias import metrics as m

INF = math.inf

# -- the data sets of test_metrics.py -----------------------------------------------------------
DATASET_PDF = pd.DataFrame(
    np.array([
        ["a", 0, False, True], ["b", 0, False, False], ["b", 1, True, False],
        ["c", 1, True, True], ["a", 2, True, True], ["a", 1, True, True],
        ["b", 0, False, False], ["c", 1, True, True], ["b", 2, True, False],
        ["c", 2, True, True], ["b", 0, False, False], ["b", 2, True, False],
    ]),
    columns=["x", "label", "positive_label_index", "sensitive_facet_index"],
)
DF_B = pd.Series(["M", "F", "F", "M", "F", "M", "F", "F", "M", "M", "F", "F"])
DF_B_LABEL = pd.Series([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0]) == 1
DF_B_PRED = pd.Series([1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0]) == 1
DF_M = pd.Series(list("MOMMFOOFMMFFOFMFOFMMFFOO"))
DF_C = pd.Series([1.55255404, 1.87128923, 1.82640675, 0.48706083, 0.21833644, 0.45007763,
                  0.47457823, 1.5346789, 1.61042132, 1.87130261, 1.97768247, 1.05499183])
FT_ROWS = [
    [0, 0, 0, 0, True, 1, 1], [1, 0, 0, 0, True, 0, 1], [1, 0, 1, 0, True, 0, 1],
    [0, 0, 0, 0, False, 1, 1], [1, 0, 0, 1, True, 0, 1], [0, 0, 1, 0, True, 1, 1],
    [1, 0, 0, 0, True, 1, 1], [1, 1, 0, 0, True, 1, 1], [0, 0, 1, 0, True, 1, 1],
    [1, 0, 1, 1, True, 1, 0], [1, 0, 0, 0, True, 1, 0], [1, 0, 1, 0, True, 1, 1],
    [1, 0, 0, 0, False, 1, 1], [0, 0, 0, 0, True, 1, 1], [0, 0, 1, 0, True, 0, 1],
    [0, 0, 1, 0, True, 1, 1], [0, 1, 0, 1, False, 0, 1], [1, 0, 0, 0, False, 1, 1],
    [0, 0, 1, 0, False, 1, 1], [1, 0, 0, 0, True, 1, 0], [1, 0, 1, 0, False, 1, 1],
    [0, 1, 0, 0, False, 1, 1], [1, 0, 1, 0, True, 0, 1], [0, 0, 0, 1, True, 1, 0],
]
FT_SMALL_ROWS = [
    [0, 0, 0, 0, True, 1, 1], [1, 0, 0, 0, True, 0, 1], [1, 0, 1, 0, True, 0, 1],
    [1, 0, 0, 1, True, 0, 1], [1, 0, 0, 0, True, 1, 1], [1, 1, 0, 0, True, 1, 1],
    [1, 0, 1, 1, True, 1, 0], [1, 0, 0, 0, True, 1, 0], [1, 0, 1, 0, True, 1, 1],
    [1, 0, 0, 0, False, 1, 1], [1, 0, 0, 0, False, 1, 1], [0, 0, 1, 0, False, 1, 1],
    [1, 0, 0, 0, True, 1, 0], [1, 0, 1, 0, False, 1, 1], [1, 0, 1, 0, True, 0, 1],
    [0, 0, 0, 1, True, 1, 0],
]
FT_PRED = pd.Series([1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1])
FT_SMALL_PRED = pd.Series([1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1])
CDD_X = pd.Series(list("MMMFFFFMMMMFMMFMFFMMFMMF"))
CDD_LABEL = pd.Series([0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0])
CDD_GROUP = pd.Series([1, 0, 2, 2, 1, 1, 2, 1, 1, 2, 0, 1, 2, 0, 1, 1, 1, 2, 0, 1, 0, 0, 1, 1])
DRR_ZERO_PRED = pd.Series([1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1]) == 1
DI_ZERO_FOR_M = pd.Series([0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1]) == 1


def _ft_frame(rows: list[list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(np.array(rows))


def _ft_non_numeric() -> float:
    frame = _ft_frame(FT_ROWS)
    frame[3] = "a"
    return m.flip_test(frame, frame[0] == 1, FT_PRED == 1)


PDF_FACET_AC = DATASET_PDF["x"].isin(["a", "c"])
PDF_POSITIVE_12 = DATASET_PDF["label"].isin(["1", "2"])
SIX = pd.Series([True, True, True, False, False, False])
KS_FRAME = pd.DataFrame([["1", "a"], ["0", "a"], ["0", "b"], ["1", "b"], ["1", "b"]],
                        columns=["label", "x"])
DPL_FRAME = pd.DataFrame({"x": ["a", "a", "b", "b"], "y": [1, 1, 0, 1]})
JS_MANUAL = 0.5 * (0.5 * math.log(0.5 / 0.375) + 0.5 * math.log(0.5 / 0.625)
                   + 0.25 * math.log(0.25 / 0.375) + 0.75 * math.log(0.75 / 0.625))


def _dfb(metric: Any, facet: str, predicted: pd.Series = DF_B_PRED) -> Any:
    return lambda: metric(DF_B.eq(facet), DF_B_LABEL, predicted)


# (case id, computation, expected value or ("error", message))
METRIC_CASES: list[tuple[str, Any, Any]] = [
    ("CI-binary-F", lambda: m.class_imbalance(DF_B == "F"), -1 / 6),
    ("CI-binary-M", lambda: m.class_imbalance(DF_B == "M"), 1 / 6),
    ("CI-continuous-above-1", lambda: m.class_imbalance(DF_C > 1.0), -1 / 3),
    ("CI-continuous-below-1", lambda: m.class_imbalance(DF_C < 1.0), 1 / 3),
    ("CI-multicategory-M", lambda: m.class_imbalance(DF_M == "M"), 1 / 3),
    ("CI-multicategory-F", lambda: m.class_imbalance(DF_M == "F"), 1 / 4),
    ("CI-multicategory-O", lambda: m.class_imbalance(DF_M == "O"), 5 / 12),
    ("DPL-a", lambda: m.positive_proportion_difference(DPL_FRAME["x"] == "a",
                                                       DPL_FRAME["y"] == 1), -0.5),
    ("DPL-b", lambda: m.positive_proportion_difference(DPL_FRAME["x"] == "b",
                                                       DPL_FRAME["y"] == 1), 0.5),
    ("KL-one-sensitive", lambda: m.kl(SIX, pd.Series([True] + [False] * 5)), -0.366516),
    ("KL-equal", lambda: m.kl(SIX, pd.Series([True, False, False, False, True, False])), 0.0),
    ("KL-no-facet", lambda: m.kl(SIX, pd.Series([False] * 6)), ("error", m.NO_COMMON_OUTCOME)),
    ("KL-multi-facet-multi-category", lambda: m.kl(PDF_POSITIVE_12, PDF_FACET_AC), 0.2938933),
    ("KS-two-facets", lambda: m.ks(KS_FRAME["label"], KS_FRAME["x"] == "b"), 0.16666666),
    ("KS-multi-category", lambda: m.ks(DATASET_PDF["label"], DATASET_PDF["x"] != "b"),
     0.33333333),
    ("KS-positive-index", lambda: m.ks(DATASET_PDF["positive_label_index"],
                                       DATASET_PDF["x"] != "b"), 0.33333333),
    ("JS-one-sensitive", lambda: m.js(SIX, pd.Series([True] + [False] * 5)), 0.06641431438228168),
    ("JS-equal", lambda: m.js(SIX, pd.Series([True, False, False, False, True, False])), 0.0),
    ("JS-no-facet", lambda: m.js(SIX, pd.Series([False] * 6)), ("error", m.NO_COMMON_OUTCOME)),
    ("JS-multi-facet-multi-category", lambda: m.js(PDF_POSITIVE_12, PDF_FACET_AC), 0.06465997),
    ("JS-manual", lambda: m.js(pd.Series([True, True, True, True, False, False]),
                               pd.Series([True, False, False, False, True, False])), JS_MANUAL),
    ("LP-one-sensitive", lambda: m.lp(SIX, pd.Series([True] + [False] * 5)), 0.6),
    ("LP-equal", lambda: m.lp(SIX, pd.Series([True, False, False, False, True, False])), 0.0),
    ("LP-no-facet", lambda: m.lp(SIX, pd.Series([False] * 6)), ("error", m.NO_COMMON_OUTCOME)),
    ("LP-multi-facet-multi-category", lambda: m.lp(PDF_POSITIVE_12, PDF_FACET_AC), 0.471404520),
    ("CDDL-F", lambda: m.conditional_demographic_disparity(CDD_X == "F", CDD_LABEL == 1,
                                                           CDD_GROUP), 0.3982142857),
    ("CDDL-M", lambda: m.conditional_demographic_disparity(CDD_X == "M", CDD_LABEL == 1,
                                                           CDD_GROUP), -0.3982142857),
    ("DI-F", lambda: m.disparate_impact(DF_B == "F", DF_B_PRED), 10 / 7),
    ("DI-M", lambda: m.disparate_impact(DF_B == "M", DF_B_PRED), 7 / 10),
    ("DI-zero-for-M", lambda: m.disparate_impact(DF_B == "F", DI_ZERO_FOR_M), INF),
    ("DI-empty-facet", lambda: m.disparate_impact(DF_B.isna(), DI_ZERO_FOR_M),
     ("error", "Facet set is empty")),
    ("DI-empty-negated-facet", lambda: m.disparate_impact(pd.Series([True, True]),
                                                          pd.Series([False, True])),
     ("error", "Negated facet set is empty")),
    ("DCA-F", _dfb(m.conditional_acceptance_difference, "F"), 1 / 4),
    ("DCA-M", _dfb(m.conditional_acceptance_difference, "M"), -1 / 4),
    ("DCR-F", _dfb(m.conditional_rejection_difference, "F"), 1 / 3),
    ("DCR-M", _dfb(m.conditional_rejection_difference, "M"), -1 / 3),
    ("RD-F", _dfb(m.recall_difference, "F"), -2 / 3),
    ("RD-M", _dfb(m.recall_difference, "M"), 2 / 3),
    ("SD-F", _dfb(m.specificity_difference, "F"), 1 / 6),
    ("SD-M", _dfb(m.specificity_difference, "M"), -1 / 6),
    ("DRR-F", _dfb(m.rejection_rate_difference, "F"), 1 / 3),
    ("DRR-M", _dfb(m.rejection_rate_difference, "M"), -1 / 3),
    ("DRR-zero-F", _dfb(m.rejection_rate_difference, "F", DRR_ZERO_PRED), 0.5),
    ("DRR-zero-M", _dfb(m.rejection_rate_difference, "M", DRR_ZERO_PRED), -0.5),
    ("AD-F", _dfb(m.accuracy_difference, "F"), -13 / 35),
    ("AD-M", _dfb(m.accuracy_difference, "M"), 13 / 35),
    ("DAR-F", _dfb(m.acceptance_rate_difference, "F"), -1 / 2),
    ("DAR-M", _dfb(m.acceptance_rate_difference, "M"), 1 / 2),
    ("TE-F", _dfb(m.treatment_equality, "F"), -1 / 2),
    ("TE-M", _dfb(m.treatment_equality, "M"), 1 / 2),
    ("FT", lambda: m.flip_test(_ft_frame(FT_ROWS), _ft_frame(FT_ROWS)[0] == 1, FT_PRED == 1),
     -0.23076923076923078),
    ("FT-non-numeric", _ft_non_numeric,
     ("error", "FlipTest does not support non-numeric columns")),
    ("FT-small-samples", lambda: m.flip_test(_ft_frame(FT_SMALL_ROWS),
                                             _ft_frame(FT_SMALL_ROWS)[0] == 1,
                                             FT_SMALL_PRED == 1), -0.15384615384615385),
    ("GE", lambda: m.generalized_entropy(DF_B_LABEL, DF_B_PRED), 0.24556213017751485),
]

# -- the reports of test_report.py --------------------------------------------------------------
CATEGORY = pd.DataFrame([["a", 1, 1, 1, "1"], ["b", 1, 1, 0, "0"], ["b", 0, 1, 0, "0"],
                         ["b", 0, 0, 1, "1"]], columns=["x", "y", "z", "yhat", "yhat_cat"])
CONTINUOUS_ROWS = [
    [0, 0, 0, 0, True, 1, 1, 1], [3, 0, 0, 0, True, 0, 1, 1], [3, 0, 1, 0, True, 0, 1, 1],
    [0, 0, 0, 0, False, 1, 1, 0], [4, 0, 0, 1, True, 0, 1, 1], [0, 0, 1, 0, True, 1, 1, 1],
    [3, 0, 0, 0, True, 1, 1, 1], [3, 1, 0, 0, True, 1, 1, 1], [0, 0, 1, 0, True, 1, 1, 1],
    [3, 0, 1, 1, True, 1, 0, 1], [4, 0, 0, 0, True, 1, 0, 1], [3, 0, 1, 0, True, 1, 1, 1],
    [3, 0, 0, 0, False, 1, 1, 0], [0, 0, 0, 0, True, 1, 1, 1], [0, 0, 1, 0, True, 0, 1, 1],
    [0, 0, 1, 0, True, 1, 1, 1], [0, 1, 0, 1, False, 0, 1, 0], [3, 0, 0, 0, False, 1, 1, 0],
    [0, 0, 1, 0, False, 1, 1, 1], [3, 0, 0, 0, True, 1, 0, 1], [3, 0, 1, 0, False, 1, 1, 0],
    [0, 1, 0, 0, False, 1, 1, 0], [3, 0, 1, 0, True, 0, 1, 1], [0, 0, 0, 1, True, 1, 0, 1],
]
CONTINUOUS = pd.DataFrame(CONTINUOUS_ROWS, columns=["x", "y", "z", "a", "b", "c", "d", "yhat"])
REGRESSION = pd.DataFrame([
    [0, 0.0, 0, 0, True, 1, 1, 11], [3, 0.5, 0, 0, True, 0, 1, 6],
    [3, 2, 1, 0, True, 0, 1, 6.6], [0, 3, 0, 0, False, 1, 1, 0.3],
    [4, 2.2, 0, 1, True, 0, 1, 6], [0, 0.1, 1, 0, True, 1, 1, 6],
    [3, 0, 0, 0, True, 1, 1, 6], [3, 6, 0, 0, True, 1, 1, 6],
    [0, 0, 1, 0, True, 1, 1, 6], [3, 0, 1, 1, True, 1, 0, 6],
    [4, 0, 0, 0, True, 1, 0, 6], [3, 0, 1, 0, True, 1, 1, 6],
    [3, 0, 0, 0, False, 1, 1, 0], [0, 0, 0, 0, True, 1, 1, 6.2],
    [0, 0, 1, 0, True, 0, 1, 6.6], [0, 0, 1, 0, True, 1, 1, 6.6],
    [0, 7, 0, 1, False, 0, 1, 0.1], [3, 0, 0, 0, False, 1, 1, 2],
    [0, 0, 1, 0, False, 1, 1, 8], [3, 0, 0, 0, True, 1, 0, 9],
    [3, 0, 1, 0, False, 1, 1, 0.1], [0, 8, 0, 0, False, 1, 1, 2.2],
    [3, 0, 1, 0, True, 0, 1, 10], [0, 0, 0, 1, True, 1, 0, 9],
], columns=["x", "y", "z", "a", "b", "c", "d", "yhat"])
LABEL_VALUES = pd.DataFrame([["a", "p", 1, "p"], ["b", "q", 1, "p"], ["b", "r", 1, "q"],
                             ["c", "p", 0, "p"], ["c", "q", 0, "p"]],
                            columns=["x", "y", "z", "yhat"])
PARTIAL = pd.DataFrame([[1, 1, 1, 1], [2, 1, 1, 0], [3, 0, 0, 0], [2, 0, 1, 1], [0, 0, 1, 1]],
                       columns=["x", "y", "z", "yhat"])
STRINGS = pd.DataFrame([["1", "1", "1", "1"], ["2", "2", "2", "2"], ["3", "3", "3", "3"],
                        ["4", "4", "4", "4"]], columns=["Label", "Facet", "Feature",
                                                        "PredictedLabel"])
INTEGERS = pd.DataFrame([[1, 1, 1, 2], [1, 2, 2, 2], [3, 3, 3, 3], [4, 4, 4, 4]],
                        columns=["Label", "Facet", "Feature", "PredictedLabel"])


def _typed_label_values(y: list[Any], yhat: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({"x": ["a", "b", "b", "c", "c"], "z": [1, 1, 1, 0, 0]})
    frame["y"] = pd.Series(y).astype("category")
    frame["yhat"] = pd.Series(yhat).astype("category")
    return frame


def config(label: str, values: list[Any], facet: str, facet_values: list[Any] | None,
           *, pre: Any = None, post: Any = None, predicted: str | None = None,
           group: str | None = None) -> dict[str, Any]:
    """The analysis config equivalent to one of Clarify's ``bias_report`` calls."""
    spec: dict[str, Any] = {"name_or_index": facet}
    if facet_values is not None:
        spec["value_or_threshold"] = facet_values
    methods: dict[str, Any] = {}
    if pre is not None:
        methods["pre_training_bias"] = {"methods": pre}
    if post is not None:
        methods["post_training_bias"] = {"methods": post}
    result: dict[str, Any] = {"label": label, "label_values_or_threshold": values,
                              "facet": [spec], "methods": methods}
    if predicted:
        result["predicted_label"] = predicted
    if group:
        result["group_variable"] = group
    return result


CATEGORY_PRE = {
    "a": {"CDDL": -0.375, "CI": 0.5, "DPL": -0.6666666666666667, "JS": 0.08720802396075798,
          "KL": -0.3662040962227032, "KS": 0.6666666666666667, "LP": 0.6666666666666667,
          "TVD": 0.33333333333333337},
    "b": {"CDDL": 0.625, "CI": -0.5, "DPL": 0.6666666666666667, "JS": 0.08720802396075798,
          "KL": 1.0986122886681098, "KS": 0.6666666666666667, "LP": 0.6666666666666667,
          "TVD": 0.33333333333333337},
}
CATEGORY_POST = {
    "a": {"AD": -0.6666666666666667, "DI": 3.0, "DPPL": -0.6666666666666667, "RD": -1.0},
    "b": {"AD": 0.6666666666666667, "DI": 0.3333333333333333, "DPPL": 0.6666666666666667,
          "RD": 1.0},
}
CONTINUOUS_PRE = {"(2, 4]": {
    "CDDL": 0.3851010101010101, "CI": -0.08333333333333333, "DPL": 0.1048951048951049,
    "JS": 0.01252420207928287, "KL": 0.057704603668062765, "KS": 0.1048951048951049,
    "LP": 0.14834407996920576, "TVD": 0.1048951048951049}}
CONTINUOUS_POST = {"(2, 4]": {
    "AD": -0.2167832167832168, "CDDPL": 0.07592592592592595, "DAR": -0.1, "DCA": 0.15,
    "DCR": 1.0, "DI": 1.0576923076923077, "DPPL": -0.04195804195804198,
    "DRR": 0.6666666666666667, "FT": -0.23076923076923078, "GE": 0.07593688362919139,
    "RD": -1.0, "SD": 0.1388888888888889, "TE": -0.25}}
LABEL_VALUES_PRE = {"a": {"CDDL": -0.3, "DPL": -0.25}, "b": {"CDDL": 0.3, "DPL": 0.5},
                    "c": {"CDDL": -0.4, "DPL": -0.33333333333333337}}
LABEL_VALUES_POST = {
    "a": {"AD": -0.25, "DAR": -0.25, "DI": 1.0, "DPPL": 0.0, "DRR": 0.0, "RD": 0.0},
    "b": {"AD": 0.5, "DAR": 0.5, "DI": 1.0, "DPPL": 0.0, "DRR": 0.0, "RD": 0.0},
    "c": {"AD": -0.33333333333333337, "DAR": -0.33333333333333337, "DI": 1.0, "DPPL": 0.0,
          "DRR": 0.0, "RD": 0.0},
}
TYPED_POST = {group: {"CDDPL": values["CDDL"], "DPPL": values["DPL"]}
              for group, values in LABEL_VALUES_PRE.items()}
PARTIAL_PRE = {"(2, 3]": {"CDDL": ("error", "Group variable is empty or not provided"),
                          "CI": 0.6, "DPL": 0.5, "KL": -0.34657359027997264}}
PARTIAL_POST = {"(2, 3]": {"AD": -0.75,
                           "CDDPL": ("error", "Group variable is empty or not provided"),
                           "DCA": 0.6666666666666666, "DI": 0.0, "DPPL": 0.75, "FT": -1.0,
                           "GE": 0.19444444444444456, "SD": 1.0}}

# (case id, data, analysis config, stage, {value_or_threshold: {metric: expected}})
REPORT_CASES: list[tuple[str, pd.DataFrame, dict[str, Any], str, dict[str, dict[str, Any]]]] = [
    ("category-pre", CATEGORY, config("y", [0], "x", None, pre="all", group="z"),
     "pre_training", CATEGORY_PRE),
    ("category-pre-string-predictions", CATEGORY.drop(columns=["yhat"]),
     config("y", [0], "x", None, pre="all", group="z"), "pre_training", CATEGORY_PRE),
    ("category-post", CATEGORY.drop(columns=["yhat_cat"]),
     config("y", [0], "x", None, post=["AD", "DI", "DPPL", "RD"], predicted="yhat", group="z"),
     "post_training", CATEGORY_POST),
    ("category-post-string-predictions", CATEGORY.drop(columns=["yhat"]),
     config("y", [0], "x", None, post=["AD", "DI", "DPPL", "RD"], predicted="yhat_cat",
            group="z"), "post_training", CATEGORY_POST),
    ("continuous-pre", CONTINUOUS, config("y", [0], "x", [2], pre="all", group="z"),
     "pre_training", CONTINUOUS_PRE),
    ("continuous-post", CONTINUOUS,
     config("y", [0], "x", [2], post="all", predicted="yhat", group="z"),
     "post_training", CONTINUOUS_POST),
    ("regression-threshold-5", REGRESSION.assign(z=CONTINUOUS["z"]),
     config("y", [5], "x", [2], post="all", predicted="yhat", group="z"),
     "post_training", CONTINUOUS_POST),
    ("strings-read-as-continuous", STRINGS,
     config("Label", [2], "Facet", [2], post=["DPPL"], predicted="PredictedLabel"),
     "post_training", {"(2, 4]": {"DPPL": -1.0}}),
    ("integers-read-as-categories", INTEGERS,
     config("Label", [1, 2], "Facet", [1, 2], post=["DPPL"], predicted="PredictedLabel"),
     "post_training", {"1,2": {"DPPL": -1.0}}),
    ("label-values-pre", LABEL_VALUES,
     config("y", ["p", "q"], "x", None, pre=["DPL", "CDDL"], group="z"),
     "pre_training", LABEL_VALUES_PRE),
    ("label-values-post", LABEL_VALUES,
     config("y", ["p", "q"], "x", None, post=["AD", "DI", "DPPL", "RD", "DAR", "DRR"],
            predicted="yhat", group="z"), "post_training", LABEL_VALUES_POST),
    ("partial-pre", PARTIAL, config("y", [0], "x", [2], pre=["CI", "CDDL", "DPL", "KL"]),
     "pre_training", PARTIAL_PRE),
    ("partial-post", PARTIAL,
     config("y", [0], "x", [2], post=["AD", "CDDPL", "DCA", "DI", "DPPL", "FT", "GE", "SD"],
            predicted="yhat"), "post_training", PARTIAL_POST),
]
for _name, _y, _yhat, _values in [
    ("int-series-int-values", [1, 2, 0, 1, 2], [1, 1, 0, 1, 1], [1, 2]),
    ("str-series-int-values", ["1", "2", "0", "1", "2"], ["1", "1", "0", "1", "1"], [1, 2]),
    ("int-series-str-values", [1, 2, 0, 1, 2], [1, 1, 0, 1, 1], ["1", "2"]),
    ("str-series-str-values", ["1", "2", "0", "1", "2"], ["1", "1", "0", "1", "1"], ["1", "2"]),
]:
    REPORT_CASES.append((f"typed-{_name}-pre", _typed_label_values(_y, _yhat),
                         config("y", _values, "x", None, pre=["DPL", "CDDL"], group="z"),
                         "pre_training", LABEL_VALUES_PRE))
    REPORT_CASES.append((f"typed-{_name}-post", _typed_label_values(_y, _yhat),
                         config("y", _values, "x", None, post=["DPPL", "CDDPL"],
                                predicted="yhat", group="z"), "post_training", TYPED_POST))

# label_value_or_threshold (test_report.py): (series, values, Clarify's text)
LABEL_TEXT_CASES: list[tuple[str, pd.Series, list[Any], str]] = [
    ("category-series", pd.Series([1, 2, 3]).astype("category"), [2], "2"),
    ("several-values", pd.Series([1, 2, 3]), [1, 2], "1,2"),
    ("continuous", pd.Series([1.0, 2.0, 3.0]), [2.0], "(2.0, 3.0]"),
    ("threshold-below-data", pd.Series([1.0, 2.0, 3.0]), [0.0], "(0.0, 3.0]"),
    ("threshold-above-data", pd.Series([1.0, 2.0, 3.0]), [5.0], "(3.0, 5.0]"),
    ("text", pd.Series(["yes", "no", "yes"]), ["yes"], "yes"),
    ("numeric-text", pd.Series(["1", "2", "3"]), [2], "(2, 3]"),
    ("booleans", pd.Series([True, False, True]), [True], "True"),
    ("one-row", pd.Series([0]), [1], "(0, 1]"),
]
