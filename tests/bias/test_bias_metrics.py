"""Clarify's metrics on small cases computed by hand (the arithmetic is in each test)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from bias_helpers import confusion_frame

from airsage.bias.base import POSTTRAINING_METRICS, PRETRAINING_METRICS, MetricValues
from airsage.bias.metrics import posttraining_metrics, pretraining_metrics
from airsage.errors import ConfigurationError, InputDataError

# facet a (Tops): labels 1,1,1,1,0,-1 -> Pa = (1: 4/6, 0: 1/6, -1: 1/6)
# facet d (Intimate): labels 1,0,-1,-1 -> Pd = (1: 1/4, 0: 1/4, -1: 2/4)
# groups: g1 = a[1,1,0] + d[1,-1]; g2 = a[1,1,-1] + d[0,-1]
SMALL = pd.DataFrame({
    "department_name": ["Tops"] * 6 + ["Intimate"] * 4,
    "sentiment": [1, 1, 0, 1, 1, -1, 1, -1, 0, -1],
    "group": ["g1", "g1", "g1", "g2", "g2", "g2", "g1", "g1", "g2", "g2"],
})
# Clarify reduces the label to positive (1) vs the rest before KL, JS, LP, TVD and KS:
PA = {True: 4 / 6, False: 2 / 6}
PD = {True: 1 / 4, False: 3 / 4}


def pre(df: pd.DataFrame = SMALL, **kwargs) -> MetricValues:
    args = {"facet": "department_name", "facet_values": ["Intimate"], "label": "sentiment",
            "label_values": [1], **kwargs}
    return pretraining_metrics(df, **args)


def post(df: pd.DataFrame, **kwargs) -> MetricValues:
    args = {"facet": "department_name", "facet_values": ["Intimate"], "label": "sentiment",
            "label_values": [1], "predicted_label": "predicted", **kwargs}
    return posttraining_metrics(df, **args)


def test_every_pretraining_metric_on_a_hand_computed_case():
    m = pre(group="group")
    assert list(m) == list(PRETRAINING_METRICS)
    assert m["CI"] == pytest.approx((6 - 4) / (6 + 4))  # 0.2
    assert m["DPL"] == pytest.approx(4 / 6 - 1 / 4)  # qa - qd = 0.4167
    kl = sum(PA[y] * math.log(PA[y] / PD[y]) for y in PA)
    assert m["KL"] == pytest.approx(kl)
    mean = {y: (PA[y] + PD[y]) / 2 for y in PA}
    js = 0.5 * (sum(PA[y] * math.log(PA[y] / mean[y]) for y in PA)
                + sum(PD[y] * math.log(PD[y] / mean[y]) for y in PD))
    assert m["JS"] == pytest.approx(js)
    # binary outcome: LP = sqrt(2) |DPL|, TVD = KS = |DPL|
    assert m["LP"] == pytest.approx(math.sqrt(2) * 5 / 12)
    assert m["TVD"] == pytest.approx(5 / 12)
    assert m["KS"] == pytest.approx(5 / 12)
    # g1: rejections a1 d1 (n0=2), acceptances a2 d1 (n1=3): DD = 1/2 - 1/3 = 1/6
    # g2: rejections a1 d2 (n0=3), acceptances a2 d0 (n1=2): DD = 2/3 - 0 = 2/3
    assert m["CDDL"] == pytest.approx((5 * (1 / 6) + 5 * (2 / 3)) / 10)  # 5/12
    assert m.reasons == {}


def test_cddl_without_a_group_has_clarifys_error():
    m = pre(metrics=["CDDL"])
    assert m == {"CDDL": None}
    assert m.reasons["CDDL"] == "Group variable is empty or not provided"


def test_cddl_keeps_strata_without_rejections_with_a_zero_rejection_share():
    # g3 only accepts (a: 1, d: 1): its rejection share is 0, its acceptance share 1/2,
    # so DD_3 = -1/2 with weight 2 (issue 12: Clarify keeps the stratum)
    extra = pd.DataFrame({"department_name": ["Tops", "Intimate"], "sentiment": [1, 1],
                          "group": ["g3", "g3"]})
    m = pre(pd.concat([SMALL, extra], ignore_index=True), group="group", metrics=["CDDL"])
    assert m["CDDL"] == pytest.approx((5 * (1 / 6) + 5 * (2 / 3) + 2 * (-1 / 2)) / 12)


def test_ks_matches_the_clarify_documentation_example():
    # d: rejected/wait-listed/accepted 40/40/20 %, a: 20/10/70 %: KS = |0.7 - 0.2| = 0.5
    df = pd.DataFrame({
        "department_name": ["Intimate"] * 10 + ["Tops"] * 10,
        "sentiment": [-1] * 4 + [0] * 4 + [1] * 2 + [-1] * 2 + [0] * 1 + [1] * 7,
    })
    assert pre(df, metrics=["KS", "TVD"]) == {"KS": pytest.approx(0.5),
                                              "TVD": pytest.approx(0.5 * (0.2 + 0.3 + 0.5))}


def test_cdd_documentation_example():
    # women (d) are 60 % of the rejected and 50 % of the accepted: DD = 0.6 - 0.5 = 0.1
    df = pd.DataFrame({
        "department_name": ["Intimate"] * 6 + ["Tops"] * 4 + ["Intimate"] * 5 + ["Tops"] * 5,
        "sentiment": [-1] * 10 + [1] * 10,
        "group": ["all"] * 20,
    })
    assert pre(df, metrics=["CDDL"], group="group")["CDDL"] == pytest.approx(0.1)


def test_several_facet_values_form_one_sensitive_group():
    df = pd.DataFrame({"department_name": ["A", "B", "C", "C"], "sentiment": [1, -1, 1, 1]})
    # d = {A, B}: qd = 1/2, qa = 2/2: DPL = 0.5; CI = (2 - 2)/4 = 0
    m = pre(df, facet_values=["A", "B"], metrics=["CI", "DPL"])
    assert m == {"CI": 0.0, "DPL": pytest.approx(0.5)}


def test_numeric_facet_with_threshold_puts_rows_above_it_in_d():
    df = pd.DataFrame({"age": [25, 30, 40, 41, 60], "sentiment": [1, 1, 0, -1, 1]})
    # d = age > 40: {41, 60} -> qd = 1/2; a = {25, 30, 40} -> qa = 2/3
    m = pretraining_metrics(df, facet="age", facet_threshold=40, label="sentiment",
                            label_values=[1], metrics=["CI", "DPL"])
    assert m["CI"] == pytest.approx((3 - 2) / 5)
    assert m["DPL"] == pytest.approx(2 / 3 - 1 / 2)


def test_label_values_from_json_match_integer_labels_and_zero_is_a_rejection():
    df = SMALL.assign(sentiment=SMALL["sentiment"].astype(str))
    assert pre(df, label_values=[1], metrics=["DPL"])["DPL"] == pytest.approx(4 / 6 - 1 / 4)
    # with 0 and 1 both positive: qa = 5/6, qd = 2/4
    assert pre(label_values=[0, 1], metrics=["DPL"])["DPL"] == pytest.approx(5 / 6 - 2 / 4)


def test_a_facet_value_without_rows_is_refused_by_name():
    with pytest.raises(InputDataError, match=r"Intimates.*values present: \['Intimate', 'Tops'\]"):
        pre(facet_values=["Intimates"])


def test_a_batch_without_a_comparison_group_is_refused():
    with pytest.raises(InputDataError, match="no comparison group"):
        pre(SMALL[SMALL["department_name"] == "Intimate"])


def test_missing_columns_and_bad_arguments_are_named():
    with pytest.raises(InputDataError, match="'division'"):
        pre(facet="division")
    with pytest.raises(InputDataError, match="group"):
        pre(group="season")
    with pytest.raises(ConfigurationError, match="exactly one"):
        pre(facet_threshold=3.0)
    with pytest.raises(ConfigurationError, match="unknown metric"):
        pre(metrics=["DPL", "XYZ"])
    with pytest.raises(InputDataError, match="holds"):
        pretraining_metrics(SMALL, facet="department_name", facet_threshold=1.0,
                            label="sentiment", label_values=[1])


def test_divergences_use_the_outcomes_both_facets_have():
    # a = (0, 1) -> outcomes (False, True); d = (1, 1) -> only True. Clarify compares the
    # shared outcome True alone, without renormalising: KL = 1/2 log(1/2 / 1) (issue 12)
    df = pd.DataFrame({"department_name": ["Tops", "Tops", "Intimate", "Intimate"],
                       "sentiment": [0, 1, 1, 1], "group": ["g"] * 4})
    m = pre(df, metrics=["KL", "JS"])
    assert m["KL"] == pytest.approx(0.5 * math.log(0.5))
    js = 0.5 * (0.5 * math.log(0.5 / 0.75) + 1.0 * math.log(1 / 0.75))
    assert m["JS"] == pytest.approx(js)
    # no outcome in common: no value, Clarify's error
    apart = df.assign(sentiment=[0, 0, 1, 1])
    none = pre(apart, metrics=["KL", "LP"])
    assert none == {"KL": None, "LP": None}
    assert none.reasons["KL"] == "No instance of common facet found, dataset may be too small"
    all_positive = df.assign(sentiment=1)  # no rejection anywhere
    cddl = pre(all_positive, metrics=["CDDL"], group="group")
    assert cddl["CDDL"] is None and cddl.reasons["CDDL"] == "No negative labels in set"


def test_rows_with_a_missing_facet_or_label_are_left_out():
    df = pd.concat([SMALL, pd.DataFrame({"department_name": [None, "Intimate"],
                                         "sentiment": [1, None]})], ignore_index=True)
    assert pre(df, metrics=["CI", "DPL"]) == pre(metrics=["CI", "DPL"])


# -- post-training: the confusion matrices of Clarify's RD documentation example ---------
# facet a: TN 20, FN 5, FP 10, TP 65 (n = 100); facet d: TN 18, FN 7, FP 5, TP 20 (n = 50)
DOC_A = {"TP": 65, "FP": 10, "FN": 5, "TN": 20}
DOC_D = {"TP": 20, "FP": 5, "FN": 7, "TN": 18}


def test_every_posttraining_metric_on_the_documentation_confusion_matrices():
    m = post(confusion_frame(DOC_A, DOC_D))
    assert list(m) == list(POSTTRAINING_METRICS)
    assert m["DPPL"] == pytest.approx(75 / 100 - 25 / 50)  # predicted positive rates
    assert m["DI"] == pytest.approx((25 / 50) / (75 / 100))  # 2/3
    assert m["DCA"] == pytest.approx(70 / 75 - 27 / 25)  # observed / predicted acceptances
    assert m["DCR"] == pytest.approx(23 / 25 - 30 / 25)  # rd - ra, observed / predicted rejections
    assert m["RD"] == pytest.approx(65 / 70 - 20 / 27)  # the documented 0.19
    assert m["DAR"] == pytest.approx(65 / 75 - 20 / 25)  # precision a - precision d
    assert m["DRR"] == pytest.approx(18 / 25 - 20 / 25)  # TNd/(TNd+FNd) - TNa/(TNa+FNa)
    assert m["AD"] == pytest.approx(85 / 100 - 38 / 50)  # 0.09
    assert m["TE"] == pytest.approx(7 / 5 - 5 / 10)  # FNd/FPd - FNa/FPa (issue 12)
    assert m["SD"] == pytest.approx(18 / 23 - 20 / 30)  # specificity d - specificity a
    # GE(2): benefits 1 (TP, TN), 2 (FP), 0 (FN); mean 1 + (15 - 12)/150
    benefits = [1] * (85 + 38) + [2] * 15 + [0] * 12
    mean = sum(benefits) / 150
    assert m["GE"] == pytest.approx(sum((b / mean) ** 2 - 1 for b in benefits) / (150 * 2))
    # no group variable, no numeric column for FT's neighbours: no value, with the reason
    assert m["CDDPL"] is None and m["FT"] is None
    assert m.reasons["CDDPL"] == "Group variable is empty or not provided"


def test_documentation_examples_for_dca_te_dar_and_drr():
    # DCA: predicted acceptances a 60, d 30; observed a 70, d 20: 70/60 - 20/30 = 1/2
    dca = post(confusion_frame({"TP": 60, "FN": 10, "TN": 30}, {"TP": 20, "FP": 10, "TN": 20}),
               metrics=["DCA"])
    assert dca["DCA"] == pytest.approx(0.5)
    # TE as Clarify computes it: FNd/FPd - FNa/FPa = 5/2 - 8/6
    te = post(confusion_frame({"FP": 6, "FN": 8, "TP": 43, "TN": 43},
                              {"FP": 2, "FN": 5, "TP": 20, "TN": 23}), metrics=["TE", "AD"])
    assert te["TE"] == pytest.approx(5 / 2 - 8 / 6)
    assert te["AD"] == pytest.approx(86 / 100 - 43 / 50)  # same accuracy: 0
    # DAR: a accepts 70 (35 qualified), d accepts 100 (40 qualified): 0.5 - 0.4 = 0.1
    # DRR: a rejects 100 (80 unqualified), d rejects 50 (40 unqualified): 0.8 - 0.8 = 0
    m = post(confusion_frame({"TP": 35, "FP": 35, "TN": 80, "FN": 20},
                             {"TP": 40, "FP": 60, "TN": 40, "FN": 10}), metrics=["DAR", "DRR"])
    assert m["DAR"] == pytest.approx(0.1)
    assert m["DRR"] == pytest.approx(0.0)


def test_multiclass_predictions_count_only_label_values_as_positive():
    df = pd.DataFrame({"department_name": ["Tops"] * 4 + ["Intimate"] * 4,
                       "sentiment": [1, 1, 0, -1, 1, 0, 0, -1],
                       "predicted": [1, 0, 0, -1, 1, 1, 0, 0]})
    # predicted positive: a 1/4, d 2/4 -> DPPL = -0.25, DI = 0.5 / 0.25 = 2
    m = post(df, metrics=["DPPL", "DI", "AD"])
    assert m["DPPL"] == pytest.approx(-0.25)
    assert m["DI"] == pytest.approx(2.0)
    # binarised: a y=(1,1,0,0) yhat=(1,0,0,0): 3/4 right; d y=(1,0,0,0) yhat=(1,1,0,0): 3/4
    assert m["AD"] == pytest.approx(0.0)


def test_zero_denominators_give_clarifys_infinities_and_zeros():
    # facet a: TN 3, FN 1, no predicted positive; facet d: TP 2, TN 2
    m = post(confusion_frame({"TN": 3, "FN": 1}, {"TP": 2, "TN": 2}))
    assert m["DI"] == math.inf  # q_d / 0
    assert m["DCA"] == math.inf  # a: 1 observed acceptance / 0 predicted
    assert m["DAR"] == pytest.approx(0.0 - 1.0)  # a: 0/0 = 0
    assert m["TE"] == -math.inf  # d: 0/0 = 0, a: FN 1 / FP 0 = inf
    assert m["DPPL"] == pytest.approx(0 - 2 / 4)
    assert not any(isinstance(v, float) and math.isnan(v) for v in m.values())
    # the same infinity on both sides is no difference
    both = post(confusion_frame({"TN": 3, "FN": 1}, {"TN": 2, "FN": 2}), metrics=["TE", "DCA"])
    assert both == {"TE": 0.0, "DCA": 0.0}


def test_flip_test_with_a_predictor_has_clarifys_sign():
    frame = confusion_frame(DOC_A, DOC_D)

    def favours_a(rows: pd.DataFrame) -> list[int]:
        return [1 if v == "Tops" else -1 for v in rows["department_name"]]

    def ignores_facet(rows: pd.DataFrame) -> list[int]:
        return list(rows["predicted"])

    # flipped to "Tops", every d row is predicted positive: the 25 d rows the model predicts
    # negative would be positive as facet a, so FT = (0 - 25) / 50 (Clarify's sign: negative
    # when the model treats d worse than a)
    assert post(frame, predictor=favours_a, metrics=["FT"])["FT"] == pytest.approx(-0.5)
    assert post(frame, predictor=ignores_facet, metrics=["FT"])["FT"] == pytest.approx(0.0)

    def favours_d(rows: pd.DataFrame) -> list[int]:
        return [-1] * len(rows)  # as facet a, the 25 predicted positives would be negative

    assert post(frame, predictor=favours_d, metrics=["FT"])["FT"] == pytest.approx(0.5)

    with pytest.raises(InputDataError, match="one predicted label per row"):
        post(frame, predictor=lambda rows: [1], metrics=["FT"])


def test_posttraining_refuses_a_missing_prediction_column():
    with pytest.raises(InputDataError, match="predicted label"):
        post(SMALL)


def test_metric_values_turn_non_finite_values_into_none_with_a_reason():
    values = MetricValues()
    values.set("TE", float("inf"))
    values.set("DPL", 0.1)
    assert values == {"TE": None, "DPL": 0.1}
    assert "not finite" in values.reasons["TE"]


def test_metric_values_put_keeps_infinities_and_refuses_nan():
    values = MetricValues()
    values.put("TE", float("inf"))
    values.put("DI", float("nan"))
    assert values["TE"] == math.inf and values["DI"] is None
    assert "not a number" in values.reasons["DI"]
