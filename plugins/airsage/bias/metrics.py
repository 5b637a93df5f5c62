"""SageMaker Clarify's bias metrics, ported from Clarify's definitions and its own test cases.

Terms (Clarify's): the *facet* is the column bias is measured against; facet **d** is the
sensitive group — the rows whose facet value is one of ``facet_values``, or whose numeric
facet lies in Clarify's interval ``(facet_threshold, max]`` — and facet **a** is every other
row. The *positive outcome* is a label in ``label_values`` (airsage's sentiment -1/0/1 uses
``[1]``) or, for a numeric label, a label in ``(label_threshold, max]``; everything else is a
rejection. Each function returns a :class:`MetricValues` ``{name: value}``.

How Clarify computes them, and therefore airsage:

- Every metric sees the label reduced to positive outcome vs the rest first: KL, JS, LP, TVD
  and KS compare the two facets' distributions of that binary outcome, over the outcomes both
  facets have (Clarify's ``pdfs_aligned_nonzero``: an outcome missing from one facet is left
  out, the rest is not renormalised, so KL can be negative). With no outcome in common they
  have no value. The primitives (:func:`kl`, :func:`ks` ...) take any label column, as
  Clarify's do.
- Zero denominators follow Clarify's ``divide``: 0/0 is 0, x/0 is +inf (or -inf); a
  difference of two infinite rates is 0. ``analysis.json`` writes infinities as
  ``"Infinity"``, as Clarify does.
- CDDL / CDDPL need a group variable (without one they have no value, as in Clarify); a
  group with no acceptances (or no rejections) keeps its weight, its missing proportion
  counting as 0.
- TE = FN_d/FP_d - FN_a/FP_a; FT = (F+ - F-) / n_d where F+ counts facet-d rows the model
  predicts positive but their facet-a neighbours would not (Clarify's sign). FT's
  neighbours are Clarify's k-NN over the remaining numeric columns (5 neighbours, 1 when
  facet a has at most 9 rows). Review text has no such distance: given a ``predictor``,
  airsage uses the exact counterfactual instead — the same row with its facet set to facet
  a's most common value (for a threshold facet: facet a's median), predicted by the model.
- A metric that cannot be computed has no value and carries Clarify's error message (in
  ``analysis.json``: ``"value": null`` and ``"error"``).
- Rows with a missing facet, label or predicted label are left out (airsage's choice).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from airsage.bias.base import POSTTRAINING_METRICS, PRETRAINING_METRICS, MetricValues
from airsage.errors import ConfigurationError, InputDataError

Predictor = Callable[[pd.DataFrame], Sequence[Any]]
INFINITY = float("inf")
UNIQUENESS_THRESHOLD = 0.05  # Clarify: a numeric column this unique (or more) is continuous
FT_DEFAULT_NEIGHBOR, FT_MIN_NEIGHBOR, FT_SAMPLES_COUNT_THRESHOLD = 5, 1, 9
CATEGORICAL, CONTINUOUS = "categorical", "continuous"
NO_COMMON_OUTCOME = "No instance of common facet found, dataset may be too small"


class MetricError(ValueError):
    """A metric has no value on these data (Clarify's per-metric ``error``)."""


# -- Clarify's arithmetic ---------------------------------------------------------------------
def divide(a: float, b: float) -> float:
    """Clarify's division: 0/0 = 0, x/0 = +-inf."""
    if b == 0 and a == 0:
        return 0.0
    if b == 0:
        return -INFINITY if a < 0 else INFINITY
    return a / b


def _difference(first: float, second: float) -> float:
    """``first - second``, with two equal infinities giving 0 as Clarify does."""
    if first == second and math.isinf(first):
        return 0.0
    return first - second


def _bool(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=bool)


def _counts(d: np.ndarray) -> tuple[int, int]:
    n_d = int(d.sum())
    n_a = int(d.size - n_d)
    return n_a, n_d


def _require_both_facets(d: np.ndarray) -> tuple[int, int]:
    n_a, n_d = _counts(d)
    if n_d == 0:
        raise MetricError("Facet set is empty")
    if n_a == 0:
        raise MetricError("Negated Facet set is empty")
    return n_a, n_d


# -- pre-training primitives --------------------------------------------------------------------
def class_imbalance(d: Any) -> float:
    """CI = (n_a - n_d) / (n_a + n_d)."""
    n_a, n_d = _require_both_facets(_bool(d))
    return (n_a - n_d) / (n_a + n_d)


def positive_proportion_difference(d: Any, positive: Any) -> float:
    """DPL (and DPPL with predicted labels) = q_a - q_d."""
    d, positive = _bool(d), _bool(positive)
    n_a, n_d = _require_both_facets(d)
    return float(positive[~d].sum()) / n_a - float(positive[d].sum()) / n_d


def aligned_distributions(labels: Any, d: Any) -> tuple[np.ndarray, np.ndarray]:
    """Clarify's ``pdfs_aligned_nonzero``: each facet's label shares over the shared labels."""
    series = pd.Series(np.asarray(labels, dtype=object))
    d = _bool(d)
    shares = []
    for side in (~d, d):
        counts = series[side].value_counts()
        total = int(counts.sum())
        shares.append({key: int(count) / total for key, count in counts.items()} if total else {})
    keys = sorted(set(shares[0]) & set(shares[1]), key=_sort_key)
    pa = np.array([shares[0][key] for key in keys], dtype=float)
    pd_ = np.array([shares[1][key] for key in keys], dtype=float)
    if pa.size == 0:
        raise MetricError(NO_COMMON_OUTCOME)
    return pa, pd_


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def kl(labels: Any, d: Any) -> float:
    """KL = sum Pa log(Pa / Pd) over the labels both facets have."""
    pa, pd_ = aligned_distributions(labels, d)
    return float(np.sum(pa * np.log(pa / pd_)))


def js(labels: Any, d: Any) -> float:
    """JS = 1/2 [KL(Pa, P) + KL(Pd, P)], P = (Pa + Pd) / 2."""
    pa, pd_ = aligned_distributions(labels, d)
    p = (pa + pd_) / 2
    return float(0.5 * (np.sum(pa * np.log(pa / p)) + np.sum(pd_ * np.log(pd_ / p))))


def lp(labels: Any, d: Any, order: float = 2) -> float:
    """LP = ||Pa - Pd||_p (p = 2)."""
    pa, pd_ = aligned_distributions(labels, d)
    return float(np.linalg.norm(pa - pd_, order))


def tvd(labels: Any, d: Any) -> float:
    """TVD = 1/2 ||Pa - Pd||_1."""
    return 0.5 * lp(labels, d, 1)


def ks(labels: Any, d: Any) -> float:
    """KS = max |Pa - Pd|."""
    return lp(labels, d, np.inf)


def conditional_demographic_disparity(d: Any, positive: Any, groups: Any | None) -> float:
    """CDDL (observed labels) or CDDPL (predicted labels), Clarify's ``CDD``.

    DD_i = (d's share of group i's rejections) - (d's share of group i's acceptances), a
    share being 0 where the group has no rejections (acceptances); CDD is the mean of the
    DD_i weighted by group size.
    """
    if groups is None or len(groups) == 0:
        raise MetricError("Group variable is empty or not provided")
    d, positive = _bool(d), _bool(positive)
    if not positive.any():
        raise MetricError("No positive labels in set")
    if positive.all():
        raise MetricError("No negative labels in set")
    keys = pd.Series(np.asarray(groups, dtype=object))
    weighted, total = 0.0, 0
    for _, index in keys.groupby(keys, sort=True).groups.items():
        rows = np.asarray(index)
        accepted, is_d = positive[rows], d[rows]
        n1, n0 = int(accepted.sum()), int((~accepted).sum())
        share_accepted = (is_d & accepted).sum() / n1 if n1 else 0.0
        share_rejected = (is_d & ~accepted).sum() / n0 if n0 else 0.0
        weighted += rows.size * (share_rejected - share_accepted)
        total += rows.size
    return divide(weighted, total)


# -- post-training primitives -------------------------------------------------------------------
def _confusion(y: np.ndarray, yhat: np.ndarray) -> dict[str, int]:
    return {
        "TP": int((y & yhat).sum()),
        "FP": int((~y & yhat).sum()),
        "FN": int((y & ~yhat).sum()),
        "TN": int((~y & ~yhat).sum()),
    }


def _facet_confusions(d: Any, y: Any, yhat: Any) -> tuple[dict[str, int], dict[str, int]]:
    d, y, yhat = _bool(d), _bool(y), _bool(yhat)
    _require_both_facets(d)
    return _confusion(y[~d], yhat[~d]), _confusion(y[d], yhat[d])


def disparate_impact(d: Any, yhat: Any) -> float:
    """DI = q_d / q_a of the predicted positive proportions."""
    d, yhat = _bool(d), _bool(yhat)
    n_a, n_d = _counts(d)
    if n_a == 0:
        raise MetricError("Negated facet set is empty")
    if n_d == 0:
        raise MetricError("Facet set is empty")
    return divide(float(yhat[d].sum()) / n_d, float(yhat[~d].sum()) / n_a)


def conditional_acceptance_difference(d: Any, y: Any, yhat: Any) -> float:
    """DCA = n_a(1)/n^_a(1) - n_d(1)/n^_d(1)."""
    a, dd = _facet_confusions(d, y, yhat)
    rate = [divide(c["TP"] + c["FN"], c["TP"] + c["FP"]) for c in (a, dd)]
    return _difference(rate[0], rate[1])


def conditional_rejection_difference(d: Any, y: Any, yhat: Any) -> float:
    """DCR = n_d(0)/n^_d(0) - n_a(0)/n^_a(0)."""
    a, dd = _facet_confusions(d, y, yhat)
    rate = [divide(c["TN"] + c["FP"], c["TN"] + c["FN"]) for c in (a, dd)]
    return _difference(rate[1], rate[0])


def recall_difference(d: Any, y: Any, yhat: Any) -> float:
    """RD = recall_a - recall_d."""
    a, dd = _facet_confusions(d, y, yhat)
    rate = [divide(c["TP"], c["TP"] + c["FN"]) for c in (a, dd)]
    return _difference(rate[0], rate[1])


def specificity_difference(d: Any, y: Any, yhat: Any) -> float:
    """SD = specificity_d - specificity_a."""
    a, dd = _facet_confusions(d, y, yhat)
    rate = [divide(c["TN"], c["TN"] + c["FP"]) for c in (a, dd)]
    return _difference(rate[1], rate[0])


def acceptance_rate_difference(d: Any, y: Any, yhat: Any) -> float:
    """DAR = precision_a - precision_d."""
    a, dd = _facet_confusions(d, y, yhat)
    rate = [divide(c["TP"], c["TP"] + c["FP"]) for c in (a, dd)]
    return _difference(rate[0], rate[1])


def rejection_rate_difference(d: Any, y: Any, yhat: Any) -> float:
    """DRR = TN_d/n^_d(0) - TN_a/n^_a(0)."""
    a, dd = _facet_confusions(d, y, yhat)
    rate = [divide(c["TN"], c["TN"] + c["FN"]) for c in (a, dd)]
    return _difference(rate[1], rate[0])


def accuracy_difference(d: Any, y: Any, yhat: Any) -> float:
    """AD = accuracy_a - accuracy_d."""
    a, dd = _facet_confusions(d, y, yhat)
    rate = [divide(c["TP"] + c["TN"], sum(c.values())) for c in (a, dd)]
    return _difference(rate[0], rate[1])


def treatment_equality(d: Any, y: Any, yhat: Any) -> float:
    """TE = FN_d/FP_d - FN_a/FP_a."""
    a, dd = _facet_confusions(d, y, yhat)
    rate = [divide(c["FN"], c["FP"]) for c in (a, dd)]
    return _difference(rate[1], rate[0])


def generalized_entropy(y: Any, yhat: Any, alpha: float = 2.0) -> float:
    """GE (alpha = 2) of the benefits b_i = yhat_i - y_i + 1."""
    y, yhat = _bool(y), _bool(yhat)
    if y.size == 0:
        raise MetricError("dataset must be non-empty")
    benefit = yhat.astype(int) - y.astype(int) + 1
    mean = benefit.mean()
    if mean == 0:
        raise MetricError("All predicted labels are false negatives. There should be at least "
                          "one prediction that is not false negative.")
    return float(((benefit / mean) ** alpha - 1).sum() / (y.size * alpha * (alpha - 1)))


def _flip_value(flipped: np.ndarray, original: np.ndarray, n_d: int) -> float:
    """(F+ - F-) / n_d: F+ the rows predicted positive that would not be as facet a."""
    f_plus = int((original & ~flipped).sum())
    f_minus = int((~original & flipped).sum())
    return divide(f_plus - f_minus, n_d)


def flip_test(features: pd.DataFrame, d: Any, yhat: Any) -> float:
    """Clarify's FT: a k-NN fitted on facet a's predictions, asked about facet d's rows."""
    from sklearn.neighbors import KNeighborsClassifier

    d, yhat = _bool(d), _bool(yhat)
    n_a, n_d = _require_both_facets(d)
    if len(features.columns) != len(features.select_dtypes([np.number, bool]).columns):
        raise MetricError("FlipTest does not support non-numeric columns")
    matrix = features.to_numpy()
    neighbours = FT_DEFAULT_NEIGHBOR if n_a > FT_SAMPLES_COUNT_THRESHOLD else FT_MIN_NEIGHBOR
    knn = KNeighborsClassifier(n_neighbors=neighbours, weights="uniform", algorithm="auto",
                               leaf_size=30, p=2, metric="minkowski")
    try:
        knn.fit(matrix[~d], yhat[~d])
        as_if_a = _bool(knn.predict(matrix[d]))
    except ValueError as exc:
        raise MetricError(f"FlipTest cannot fit its neighbours: {exc}") from exc
    return _flip_value(as_if_a, yhat[d], n_d)


def counterfactual_flip_test(
    data: pd.DataFrame,
    d: np.ndarray,
    yhat: np.ndarray,
    *,
    facet: str,
    threshold_facet: bool,
    is_positive: Callable[[pd.Series], np.ndarray],
    predictor: Predictor,
) -> float:
    """FT with the exact counterfactual: facet d's rows re-predicted with facet a's value."""
    facet_a = data.loc[~d, facet]
    flipped_value = facet_a.median() if threshold_facet else facet_a.mode().iloc[0]
    counterfactual = data.loc[d].copy()
    counterfactual[facet] = flipped_value
    predictions = list(predictor(counterfactual))
    if len(predictions) != len(counterfactual):
        raise InputDataError(
            f"bias metrics: the FT predictor returned {len(predictions)} predictions for "
            f"{len(counterfactual)} rows; it must return one predicted label per row, in order"
        )
    flipped = is_positive(pd.Series(predictions))
    return _flip_value(flipped, yhat[d], int(d.sum()))


# -- facets, labels and Clarify's data types --------------------------------------------------
def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputDataError(
            f"bias metrics: the {what} column(s) {missing} are not in the data; columns "
            f"present: {list(df.columns)}; fix the bias section of the config or the batch"
        )


def _matches(series: pd.Series, values: Sequence[Any]) -> np.ndarray:
    """``series`` in ``values``; also by text, so 1 in a JSON config matches "1" in a CSV."""
    direct = series.isin(list(values)).to_numpy()
    as_text = series.astype(str).isin([str(v) for v in values]).to_numpy()
    return direct | as_text


def data_type(series: pd.Series, values: Sequence[Any] | None = None) -> str:
    """Clarify's ``series_datatype``: is a facet or label column categorical or continuous?

    Categorical when the column is a pandas category or several values are given; else
    continuous when it holds floats, or integers (also as text) of which at least 5 % of the
    values are distinct.
    """
    if series.dtype.name == "category" or (values is not None and len(values) > 1):
        return CATEGORICAL
    count = int(series.count())
    uniqueness = divide(series.nunique(), count)
    if pd.api.types.is_bool_dtype(series):
        return CATEGORICAL
    if pd.api.types.is_float_dtype(series):
        return CONTINUOUS
    if pd.api.types.is_integer_dtype(series):
        return CONTINUOUS if uniqueness >= UNIQUENESS_THRESHOLD else CATEGORICAL
    if series.dtype.name in ("str", "string", "object"):
        try:
            series.astype("int64")
        except (TypeError, ValueError, OverflowError):
            return CATEGORICAL
        return CONTINUOUS if uniqueness >= UNIQUENESS_THRESHOLD else CATEGORICAL
    return CATEGORICAL


def interval_breaks(values: pd.Series, threshold: float) -> list[tuple[float, float]]:
    """Clarify's ``_interval_index``: ``(threshold, max]`` unless |max| is the threshold."""
    maximum = values.max()
    breaks = [threshold]
    if abs(maximum) not in breaks:
        breaks.append(maximum)
    breaks = sorted(breaks)
    return list(itertools.pairwise(breaks))


def interval_text(values: pd.Series, threshold: float) -> str:
    """How Clarify names a threshold group: the interval, e.g. ``(40, 70]``."""
    intervals = interval_breaks(values, threshold)
    if not intervals:
        return ""
    return ",".join(map(str, pd.IntervalIndex.from_tuples(intervals, closed="right")))


def _in_intervals(values: pd.Series, intervals: list[tuple[float, float]]) -> np.ndarray:
    numbers = pd.to_numeric(values).to_numpy(dtype=float)
    mask = np.zeros(numbers.size, dtype=bool)
    for low, high in intervals:
        mask |= (numbers > low) & (numbers <= high)
    return mask


def _numeric_threshold(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"bias metrics: the {what} must be a single numeric threshold, got {value!r}"
        ) from None


def sensitive_mask(
    df: pd.DataFrame,
    *,
    facet: str,
    facet_values: Sequence[Any] | None = None,
    facet_threshold: float | None = None,
) -> np.ndarray:
    """True for facet-d rows. Refuses a facet whose d or a side has no rows, naming it."""
    if (facet_values is None) == (facet_threshold is None):
        raise ConfigurationError(
            f"bias metrics: give exactly one of facet_values or facet_threshold for facet "
            f"{facet!r} (got facet_values={facet_values!r}, facet_threshold={facet_threshold!r})"
        )
    _require_columns(df, [facet], "facet")
    column = df[facet]
    if facet_threshold is not None:
        if not pd.api.types.is_numeric_dtype(column):
            raise InputDataError(
                f"bias metrics: facet {facet!r} has a threshold ({facet_threshold}) but holds "
                f"{column.dtype} values; use facet_values for a categorical facet"
            )
        threshold = _numeric_threshold(facet_threshold, f"facet_threshold of {facet!r}")
        mask = _in_intervals(column, interval_breaks(column, threshold))
        described = f"above the threshold {facet_threshold}"
        other = f"at or below the threshold {facet_threshold}"
    else:
        values = list(facet_values)  # type: ignore[arg-type]
        if not values:
            raise ConfigurationError(f"bias metrics: facet_values for {facet!r} is empty")
        mask = _matches(column, values)
        described = f"with value(s) {values}"
        other = f"outside the value(s) {values}"
    if not mask.any():
        present = sorted(map(str, column.dropna().unique()))[:20]
        raise InputDataError(
            f"bias metrics: facet {facet!r} has no rows {described} in this {len(df)}-row "
            f"batch (values present: {present}); the sensitive group cannot be measured: check "
            "bias.facet_values / bias.facet_threshold or the batch"
        )
    if mask.all():
        raise InputDataError(
            f"bias metrics: every one of the {len(df)} rows of facet {facet!r} is {described}: "
            f"there is no comparison group (no rows {other})"
        )
    return mask


def _outcome(
    label_values: Sequence[Any] | None, label_threshold: float | None
) -> tuple[list[Any] | None, float | None]:
    if (label_values is None) == (label_threshold is None):
        raise ConfigurationError(
            "bias metrics: give exactly one of label_values (the positive outcomes) or "
            f"label_threshold (labels above it are positive); got label_values={label_values!r}, "
            f"label_threshold={label_threshold!r}"
        )
    if label_threshold is not None:
        return None, _numeric_threshold(label_threshold, "label_threshold")
    values = list(label_values)  # type: ignore[arg-type]
    if not values:
        raise ConfigurationError("bias metrics: label_values (the positive outcome) is empty")
    return values, None


def _positive(
    series: pd.Series, values: list[Any] | None, threshold: float | None,
    maximum_of: pd.Series | None = None,
) -> np.ndarray:
    """Clarify's positive index: in ``values``, or in the interval above ``threshold``."""
    if threshold is None:
        return _matches(series, values or [])
    scale = pd.to_numeric(series) if maximum_of is None else pd.to_numeric(maximum_of)
    return _in_intervals(series, interval_breaks(scale, threshold))


def _metric_names(metrics: Sequence[str] | None, valid: Sequence[str]) -> list[str]:
    if metrics is None or metrics == "all":
        return list(valid)
    names = [str(m).upper() for m in metrics]
    unknown = [m for m in names if m not in valid]
    if unknown:
        raise ConfigurationError(
            f"bias metrics: unknown metric(s) {unknown}; valid metrics: {', '.join(valid)}"
        )
    return names


def _clean(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    clean = df.dropna(subset=list(columns)).reset_index(drop=True)
    if clean.empty:
        raise InputDataError(
            f"bias metrics: no rows left after dropping rows with missing {list(columns)} "
            f"(the batch had {len(df)} rows)"
        )
    return clean


def _compute(out: MetricValues, name: str, compute: Callable[[], float]) -> None:
    """One metric, its error kept as Clarify keeps it (value null, error message)."""
    try:
        out.put(name, compute())
    except MetricError as exc:
        out.put(name, None, str(exc))


# -- the reports --------------------------------------------------------------------------------
def pretraining_metrics(
    df: pd.DataFrame,
    *,
    facet: str,
    facet_values: Sequence[Any] | None = None,
    facet_threshold: float | None = None,
    label: str,
    label_values: Sequence[Any] | None = None,
    label_threshold: float | None = None,
    group: str | None = None,
    metrics: Sequence[str] | None = None,
) -> MetricValues:
    """Clarify's pre-training metrics of the observed labels (see the module doc)."""
    names = _metric_names(metrics, PRETRAINING_METRICS)
    _require_columns(df, [facet], "facet")
    _require_columns(df, [label], "label")
    if group is not None:
        _require_columns(df, [group], "group")
    values, threshold = _outcome(label_values, label_threshold)
    data = _clean(df, [facet, label])
    d = sensitive_mask(data, facet=facet, facet_values=facet_values,
                       facet_threshold=facet_threshold)
    positive = _positive(data[label], values, threshold)
    groups = data[group].to_numpy() if group else None
    computations: dict[str, Callable[[], float]] = {
        "CI": lambda: class_imbalance(d),
        "DPL": lambda: positive_proportion_difference(d, positive),
        "KL": lambda: kl(positive, d),
        "JS": lambda: js(positive, d),
        "LP": lambda: lp(positive, d),
        "TVD": lambda: tvd(positive, d),
        "KS": lambda: ks(positive, d),
        "CDDL": lambda: conditional_demographic_disparity(d, positive, groups),
    }
    out = MetricValues()
    for name in names:
        _compute(out, name, computations[name])
    return out


def posttraining_metrics(
    df: pd.DataFrame,
    *,
    facet: str,
    facet_values: Sequence[Any] | None = None,
    facet_threshold: float | None = None,
    label: str,
    label_values: Sequence[Any] | None = None,
    label_threshold: float | None = None,
    predicted_label: str,
    group: str | None = None,
    predictor: Predictor | None = None,
    metrics: Sequence[str] | None = None,
) -> MetricValues:
    """Clarify's post-training metrics of a model's predicted labels (see the module doc).

    FT uses ``predictor`` when given (the counterfactual), else Clarify's k-NN over the
    columns other than the facet, the label and the predicted label.
    """
    names = _metric_names(metrics, POSTTRAINING_METRICS)
    _require_columns(df, [facet], "facet")
    _require_columns(df, [label], "label")
    _require_columns(df, [predicted_label], "predicted label")
    values, threshold = _outcome(label_values, label_threshold)
    data = _clean(df, [facet, label, predicted_label])
    d = sensitive_mask(data, facet=facet, facet_values=facet_values,
                       facet_threshold=facet_threshold)
    both = pd.concat([data[label], data[predicted_label]], ignore_index=True) \
        if threshold is not None else None
    y = _positive(data[label], values, threshold)
    yhat = _positive(data[predicted_label], values, threshold, maximum_of=both)
    groups = data[group].to_numpy() if group in data.columns else None

    def cddpl() -> float:
        if group is not None and groups is None:
            raise MetricError(f"Group variable {group!r} is not a column of the data")
        return conditional_demographic_disparity(d, yhat, groups)

    def ft() -> float:
        if predictor is None:
            features = data.drop(columns=list(dict.fromkeys([facet, label, predicted_label])))
            return flip_test(features, d, yhat)
        return counterfactual_flip_test(
            data, d, yhat, facet=facet, threshold_facet=facet_threshold is not None,
            is_positive=lambda s: _positive(s, values, threshold, maximum_of=both),
            predictor=predictor)

    computations: dict[str, Callable[[], float]] = {
        "DPPL": lambda: positive_proportion_difference(d, yhat),
        "DI": lambda: disparate_impact(d, yhat),
        "DCA": lambda: conditional_acceptance_difference(d, y, yhat),
        "DCR": lambda: conditional_rejection_difference(d, y, yhat),
        "RD": lambda: recall_difference(d, y, yhat),
        "DAR": lambda: acceptance_rate_difference(d, y, yhat),
        "DRR": lambda: rejection_rate_difference(d, y, yhat),
        "AD": lambda: accuracy_difference(d, y, yhat),
        "TE": lambda: treatment_equality(d, y, yhat),
        "FT": ft,
        "CDDPL": cddpl,
        "SD": lambda: specificity_difference(d, y, yhat),
        "GE": lambda: generalized_entropy(y, yhat),
    }
    out = MetricValues()
    for name in names:
        _compute(out, name, computations[name])
    return out
