"""SageMaker Clarify's bias metrics, implemented from their published definitions.

Terms (Clarify's): the *facet* is the column bias is measured against; facet **d** is the
sensitive (disfavoured) group — the rows whose facet value is one of ``facet_values``, or
whose numeric facet is above ``facet_threshold`` — and facet **a** is every other row. The
*positive outcome* is a label in ``label_values`` (for airsage's sentiment -1/0/1 that is
``[1]``); everything else is a rejection. Each function returns a :class:`MetricValues`:
``{name: float or None}``, where None comes with a reason (a zero denominator, an infinite
divergence) instead of a NaN that would slip past a gate.

Choices where the documentation leaves room, stated once:

- KL, JS, LP, TVD and KS compare the full label distributions (every label value seen in the
  batch: -1, 0 and 1 for sentiment), as Clarify's multi-category examples do; CI, DPL, CDDL
  and every post-training metric use the binary positive/negative outcome. Logs are natural.
- KL is infinite when a label value occurs in facet a but never in facet d: that is reported
  as None with the reason, and a gate with a KL threshold then fails closed.
- CDDL without a group variable treats the batch as one stratum (then CDDL = DD, which is
  zero exactly when DPL is zero, as the Clarify documentation notes). Strata with no
  rejections or no acceptances have no defined DD and are left out of the weighted mean.
- FT (flip test): Clarify compares each facet-d row with its nearest facet-a neighbours. For
  review text there is no meaningful neighbour distance, so airsage uses the exact
  counterfactual instead: the same row with its facet set to facet a's most common value
  (for a threshold facet: facet a's median), predicted by the ``predictor`` passed in. F+ is
  the count of d rows whose prediction turns favourable when flipped, F- the reverse;
  FT = (F+ - F-) / n_d. Without a predictor FT is None.
- Rows with a missing facet, label or predicted label are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from airsage.bias.base import POSTTRAINING_METRICS, PRETRAINING_METRICS, MetricValues
from airsage.errors import ConfigurationError, InputDataError

Predictor = Callable[[pd.DataFrame], Sequence[Any]]


# -- selecting facets and outcomes ----------------------------------------------------------
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
        mask = (column > facet_threshold).to_numpy()
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


def _clean(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    clean = df.dropna(subset=list(columns))
    if clean.empty:
        raise InputDataError(
            f"bias metrics: no rows left after dropping rows with missing {list(columns)} "
            f"(the batch had {len(df)} rows)"
        )
    return clean


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


# -- pre-training ---------------------------------------------------------------------------
def _kl(p: np.ndarray, q: np.ndarray) -> float | None:
    support = p > 0
    if np.any(q[support] == 0):
        return None
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def _cddl(
    positive: np.ndarray, sensitive: np.ndarray, strata: pd.Series | None
) -> tuple[float | None, str | None]:
    keys = np.zeros(len(positive), dtype=int) if strata is None else strata.to_numpy()
    frame = pd.DataFrame({"key": keys, "pos": positive, "d": sensitive})
    weighted, included = 0.0, 0
    for _, stratum in frame.groupby("key", dropna=False, sort=False):
        accepted = stratum["pos"].to_numpy()
        is_d = stratum["d"].to_numpy()
        n1 = int(accepted.sum())
        n0 = len(accepted) - n1
        if n0 == 0 or n1 == 0:
            continue
        dd = (is_d & ~accepted).sum() / n0 - (is_d & accepted).sum() / n1
        weighted += len(stratum) * dd
        included += len(stratum)
    if included == 0:
        where = "the batch" if strata is None else f"every stratum of {strata.name!r}"
        return None, f"CDDL is undefined: {where} has only acceptances or only rejections"
    return weighted / included, None


def pretraining_metrics(
    df: pd.DataFrame,
    *,
    facet: str,
    facet_values: Sequence[Any] | None = None,
    facet_threshold: float | None = None,
    label: str,
    label_values: Sequence[Any],
    group: str | None = None,
    metrics: Sequence[str] | None = None,
) -> MetricValues:
    """Clarify's pre-training metrics of the observed labels (see the module doc)."""
    names = _metric_names(metrics, PRETRAINING_METRICS)
    _require_columns(df, [facet], "facet")
    _require_columns(df, [label], "label")
    if group is not None:
        _require_columns(df, [group], "group")
    if not list(label_values):
        raise ConfigurationError("bias metrics: label_values (the positive outcome) is empty")
    data = _clean(df, [facet, label])
    d = sensitive_mask(
        data, facet=facet, facet_values=facet_values, facet_threshold=facet_threshold
    )
    a = ~d
    labels = data[label]
    positive = _matches(labels, label_values)
    n_a, n_d = int(a.sum()), int(d.sum())

    categories = pd.unique(labels.astype(str))
    text = labels.astype(str).to_numpy()
    p_a = np.array([(text[a] == c).sum() for c in categories], dtype=float) / n_a
    p_d = np.array([(text[d] == c).sum() for c in categories], dtype=float) / n_d

    out = MetricValues()
    for name in names:
        if name == "CI":
            out.set(name, (n_a - n_d) / (n_a + n_d))
        elif name == "DPL":
            out.set(name, positive[a].mean() - positive[d].mean())
        elif name == "KL":
            value = _kl(p_a, p_d)
            missing = [str(c) for c, pa, pd_ in zip(categories, p_a, p_d, strict=True)
                       if pa > 0 and pd_ == 0]
            out.set(name, value, f"KL is infinite: label value(s) {missing} occur in facet a "
                                 "but never in facet d")
        elif name == "JS":
            mean = (p_a + p_d) / 2
            out.set(name, 0.5 * (_kl(p_a, mean) + _kl(p_d, mean)))  # type: ignore[operator]
        elif name == "LP":
            out.set(name, float(np.sqrt(np.sum((p_a - p_d) ** 2))))
        elif name == "TVD":
            out.set(name, 0.5 * float(np.sum(np.abs(p_a - p_d))))
        elif name == "KS":
            out.set(name, float(np.max(np.abs(p_a - p_d))))
        elif name == "CDDL":
            value, reason = _cddl(positive, d, data[group] if group else None)
            out.set(name, value, reason)
    return out


# -- post-training --------------------------------------------------------------------------
def _confusion(y: np.ndarray, yhat: np.ndarray) -> dict[str, int]:
    return {
        "TP": int((y & yhat).sum()),
        "FP": int((~y & yhat).sum()),
        "FN": int((y & ~yhat).sum()),
        "TN": int((~y & ~yhat).sum()),
    }


def _difference(
    out: MetricValues, name: str, first: float | None, second: float | None, why: str
) -> None:
    if first is None or second is None:
        out.set(name, None, why)
    else:
        out.set(name, first - second)


def _flip_test(
    data: pd.DataFrame,
    d: np.ndarray,
    predicted_positive: np.ndarray,
    *,
    facet: str,
    facet_threshold: float | None,
    label_values: Sequence[Any],
    predictor: Predictor,
) -> float:
    facet_a = data.loc[~d, facet]
    flipped_value = facet_a.median() if facet_threshold is not None else facet_a.mode().iloc[0]
    counterfactual = data.loc[d].copy()
    counterfactual[facet] = flipped_value
    predictions = list(predictor(counterfactual))
    if len(predictions) != len(counterfactual):
        raise InputDataError(
            f"bias metrics: the FT predictor returned {len(predictions)} predictions for "
            f"{len(counterfactual)} rows; it must return one predicted label per row, in order"
        )
    flipped_positive = _matches(pd.Series(predictions), label_values)
    original = predicted_positive[d]
    f_plus = int((~original & flipped_positive).sum())
    f_minus = int((original & ~flipped_positive).sum())
    return (f_plus - f_minus) / int(d.sum())


def posttraining_metrics(
    df: pd.DataFrame,
    *,
    facet: str,
    facet_values: Sequence[Any] | None = None,
    facet_threshold: float | None = None,
    label: str,
    label_values: Sequence[Any],
    predicted_label: str,
    group: str | None = None,
    predictor: Predictor | None = None,
    metrics: Sequence[str] | None = None,
) -> MetricValues:
    """Clarify's post-training metrics of a model's predicted labels (see the module doc).

    ``group`` is accepted for symmetry with :func:`pretraining_metrics` (Clarify's CDDPL
    uses it); none of the metrics computed here is conditional.
    """
    names = _metric_names(metrics, POSTTRAINING_METRICS)
    _require_columns(df, [facet], "facet")
    _require_columns(df, [label], "label")
    _require_columns(df, [predicted_label], "predicted label")
    if not list(label_values):
        raise ConfigurationError("bias metrics: label_values (the positive outcome) is empty")
    data = _clean(df, [facet, label, predicted_label])
    d = sensitive_mask(
        data, facet=facet, facet_values=facet_values, facet_threshold=facet_threshold
    )
    a = ~d
    y = _matches(data[label], label_values)
    yhat = _matches(data[predicted_label], label_values)
    n_a, n_d = int(a.sum()), int(d.sum())
    ca, cd = _confusion(y[a], yhat[a]), _confusion(y[d], yhat[d])
    q_a, q_d = yhat[a].mean(), yhat[d].mean()

    out = MetricValues()
    for name in names:
        if name == "DPPL":
            out.set(name, q_a - q_d)
        elif name == "DI":
            out.set(name, _ratio(q_d, q_a),
                    "DI is undefined: the model predicts no positive outcome for facet a")
        elif name == "DCA":
            _difference(out, name, _ratio(ca["TP"] + ca["FN"], ca["TP"] + ca["FP"]),
                        _ratio(cd["TP"] + cd["FN"], cd["TP"] + cd["FP"]),
                        "DCA is undefined: a facet has no predicted positive outcome")
        elif name == "DCR":
            _difference(out, name, _ratio(cd["TN"] + cd["FP"], cd["TN"] + cd["FN"]),
                        _ratio(ca["TN"] + ca["FP"], ca["TN"] + ca["FN"]),
                        "DCR is undefined: a facet has no predicted negative outcome")
        elif name == "RD":
            _difference(out, name, _ratio(ca["TP"], ca["TP"] + ca["FN"]),
                        _ratio(cd["TP"], cd["TP"] + cd["FN"]),
                        "RD is undefined: a facet has no observed positive outcome")
        elif name == "DAR":
            _difference(out, name, _ratio(ca["TP"], ca["TP"] + ca["FP"]),
                        _ratio(cd["TP"], cd["TP"] + cd["FP"]),
                        "DAR is undefined: a facet has no predicted positive outcome")
        elif name == "DRR":
            _difference(out, name, _ratio(cd["TN"], cd["TN"] + cd["FN"]),
                        _ratio(ca["TN"], ca["TN"] + ca["FN"]),
                        "DRR is undefined: a facet has no predicted negative outcome")
        elif name == "AD":
            out.set(name, (ca["TP"] + ca["TN"]) / n_a - (cd["TP"] + cd["TN"]) / n_d)
        elif name == "TE":
            _difference(out, name, _ratio(ca["FP"], ca["FN"]), _ratio(cd["FP"], cd["FN"]),
                        "TE is unbounded: a facet has no false negatives")
        elif name == "FT":
            if predictor is None:
                out.set(name, None, "FT needs a model: no predictor was given")
            else:
                out.set(name, _flip_test(data, d, yhat, facet=facet,
                                         facet_threshold=facet_threshold,
                                         label_values=label_values, predictor=predictor))
    return out
