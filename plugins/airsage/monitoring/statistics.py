"""Column statistics in Model Monitor's ``statistics.json`` shape, and distribution distances.

Numeric columns carry a quantile sketch in the KLL layout Model Monitor writes
(``sketch.parameters {c, k}`` and ``sketch.data``: one list per level, an item of level ``i``
standing for ``2**i`` values). airsage compacts deterministically (keep every other item of
the sorted values, alternating the offset) until at most ``k`` items are left, so a baseline
of up to ``k`` values is stored exactly and larger ones keep a rank error of about 1/k.

Distances follow Deequ, the library behind Model Monitor: the L-infinity distance between the
two empirical CDFs (numeric) or between the two value-frequency vectors (categorical). The
"Robust" comparison method subtracts ``1.8 * sqrt((n + m) / (n m))``, the two-sample
Kolmogorov-Smirnov critical value at about the 0.3 % level, so that a small interval is not
called drifted by sampling noise alone; "Simple" uses the raw distance.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from airsage.monitoring.base import FRACTIONAL, INTEGRAL, STRING, UNKNOWN

KLL_SHRINKING_FACTOR = 0.64  # Deequ's default "c"; recorded for readers of the sketch
BUCKETS = 10  # Model Monitor materialises numeric distributions in 10 buckets
ROBUST_FACTOR = 1.8
# A string column's categorical distribution lists its most frequent values, at most this many
# (Deequ's Histogram analyzer keeps 1000 detail bins): a text column with many distinct values
# still has a distribution, of its top values.
CATEGORICAL_TOP_K = 1000


# -- values and types -------------------------------------------------------------------------
def is_missing(value: Any) -> bool:
    """Null, NaN and blank strings are missing (Model Monitor counts them in num_missing)."""
    if value is None:
        return True
    if isinstance(value, float | np.floating) and math.isnan(float(value)):
        return True
    return isinstance(value, str) and not value.strip()


def value_type(value: Any) -> tuple[str | None, float | None]:
    """The inferred type of one value and its numeric value (``(None, None)`` if missing).

    Integer-valued floats count as Integral: a pandas integer column with a null turns into
    floats, and ``33.0`` is still an age.
    """
    if is_missing(value):
        return None, None
    if isinstance(value, bool | np.bool_):
        return STRING, None
    if isinstance(value, int | np.integer):
        return INTEGRAL, float(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isinf(number):
            return FRACTIONAL, None
        return (INTEGRAL if number.is_integer() else FRACTIONAL), number
    if isinstance(value, str):
        text = value.strip()
        try:
            return INTEGRAL, float(int(text))
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return STRING, None
        if math.isnan(number) or math.isinf(number):
            return STRING, None
        return FRACTIONAL, number
    return STRING, None


def infer_column_type(values: Iterable[Any]) -> str:
    """Integral if every present value is, Fractional if every one is a number, else String."""
    types = {value_type(value)[0] for value in values} - {None}
    if not types:
        return UNKNOWN
    if types == {INTEGRAL}:
        return INTEGRAL
    if types <= {INTEGRAL, FRACTIONAL}:
        return FRACTIONAL
    return STRING


def type_matches(observed: str | None, expected: str) -> bool:
    """Whether a value of ``observed`` type satisfies a column of ``expected`` type."""
    if observed is None or expected == UNKNOWN:
        return True
    if expected == INTEGRAL:
        return observed == INTEGRAL
    if expected == FRACTIONAL:
        return observed in (INTEGRAL, FRACTIONAL)
    return observed == STRING


def as_category(value: Any) -> str:
    """Categorical values are compared as strings (``1`` and ``"1"`` are one category)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip() if isinstance(value, str) else str(value)


# -- sketch -----------------------------------------------------------------------------------
def build_sketch(values: Sequence[float] | np.ndarray, k: int) -> dict[str, Any]:
    """A deterministic KLL-layout sketch of ``values`` with at most ``k`` items."""
    items = np.sort(np.asarray(values, dtype=float))
    level = 0
    while items.size > k:
        items = items[level % 2 :: 2]
        level += 1
    data: list[list[float]] = [[] for _ in range(level)]
    data.append([float(item) for item in items])
    return {"parameters": {"c": KLL_SHRINKING_FACTOR, "k": k}, "data": data}


def sketch_points(sketch: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted items of a sketch and their weights (``2**level``)."""
    items: list[float] = []
    weights: list[float] = []
    for level, level_items in enumerate(sketch.get("data") or []):
        items.extend(float(item) for item in level_items)
        weights.extend([float(2**level)] * len(level_items))
    order = np.argsort(np.asarray(items, dtype=float), kind="stable")
    return np.asarray(items, dtype=float)[order], np.asarray(weights, dtype=float)[order]


# -- statistics -------------------------------------------------------------------------------
def kll_buckets(values: np.ndarray, buckets: int = BUCKETS) -> list[dict[str, Any]]:
    """Deequ's ``KLLSketch`` buckets: ``buckets`` equal slices of [min, max].

    Bucket ``i`` spans ``min + (max - min) * i / buckets`` to ``... (i + 1) / buckets`` and
    counts the values in [lower, upper) — the last one in [lower, upper]. A constant column
    therefore has ``buckets`` buckets of width zero, every value in the last one.
    """
    ordered = np.sort(values)
    start, end = float(ordered[0]), float(ordered[-1])
    result = []
    for i in range(buckets):
        lower = start + (end - start) * i / buckets
        upper = start + (end - start) * (i + 1) / buckets
        below_lower = np.searchsorted(ordered, lower, side="left")
        side: Literal["left", "right"] = "right" if i == buckets - 1 else "left"
        count = int(np.searchsorted(ordered, upper, side=side) - below_lower)
        result.append({"lower_bound": lower, "upper_bound": upper, "count": count})
    return result


def numerical_statistics(numbers: Sequence[float], missing: int, k: int) -> dict[str, Any]:
    values = np.asarray(numbers, dtype=float)
    common = {"num_present": int(values.size), "num_missing": int(missing)}
    if values.size == 0:
        return {"common": common}
    low, high = float(values.min()), float(values.max())
    buckets = kll_buckets(values)
    return {
        "common": common,
        "mean": float(values.mean()),
        "sum": float(values.sum()),
        "std_dev": float(values.std()),
        "min": low,
        "max": high,
        "distribution": {"kll": {"buckets": buckets, "sketch": build_sketch(values, k)}},
    }


def string_statistics(
    values: Sequence[str], missing: int, max_domain_size: int = 100,
    top_k: int = CATEGORICAL_TOP_K,
) -> dict[str, Any]:
    """Model Monitor's ``string_statistics``: counts and the top-``top_k`` value buckets.

    ``max_domain_size`` no longer hides the distribution (Model Monitor writes one for every
    string column); whether the values form a domain is :func:`suggested_domain`'s call.
    """
    counts = Counter(values)
    result: dict[str, Any] = {
        "common": {"num_present": len(values), "num_missing": int(missing)},
        "distinct_count": len(counts),
    }
    if counts:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
        result["distribution"] = {
            "categorical": {
                "buckets": [{"value": value, "count": int(count)} for value, count in ranked]
            }
        }
    return result


def suggested_domain(entry: Mapping[str, Any], max_domain_size: int = 100) -> list[str] | None:
    """The domain a baseline suggests for a string column, or None when it has none.

    A column has a domain when its distribution lists every distinct value and there are at
    most ``max_domain_size`` of them; free text (many distinct values) has none, though its
    statistics still carry a top-k distribution.
    """
    block = entry.get("string_statistics") or entry
    buckets = ((block.get("distribution") or {}).get("categorical") or {}).get("buckets")
    if not buckets:
        return None
    distinct = int(block.get("distinct_count", len(buckets)))
    if distinct > len(buckets) or distinct > max_domain_size:
        return None
    return sorted(str(bucket["value"]) for bucket in buckets)


def feature_statistics(
    name: str,
    values: Sequence[Any],
    *,
    kind: str | None = None,
    sketch_size: int = 2048,
    max_domain_size: int = 100,
) -> dict[str, Any]:
    """One ``features[]`` entry of ``statistics.json``.

    Its block follows its ``inferred_type``, as in Model Monitor: a String column (one value
    that is not a number makes it one) has ``string_statistics`` only, an Integral or
    Fractional column ``numerical_statistics`` only. ``kind`` declares the type instead of
    inferring it (airsage's derived features: the predicted label is a String of digits);
    the entry then reports that type, with its block.
    """
    kind = kind or infer_column_type(values)
    typed = [value_type(value) for value in values]
    missing = sum(1 for observed, _ in typed if observed is None)
    entry: dict[str, Any] = {"name": name, "inferred_type": kind}
    if kind in (INTEGRAL, FRACTIONAL):
        numbers = [number for _, number in typed if number is not None]
        entry["numerical_statistics"] = numerical_statistics(numbers, missing, sketch_size)
    else:
        present = [as_category(value) for value, (observed, _) in zip(values, typed, strict=True)
                   if observed is not None]
        entry["string_statistics"] = string_statistics(present, missing, max_domain_size)
    return entry


def statistics_document(item_count: int, features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": 0, "dataset": {"item_count": int(item_count)}, "features": features}


def common_counts(entry: Mapping[str, Any]) -> tuple[int, int]:
    """(num_present, num_missing) of a statistics entry."""
    block = entry.get("numerical_statistics") or entry.get("string_statistics") or {}
    common = block.get("common") or {}
    return int(common.get("num_present", 0)), int(common.get("num_missing", 0))


# -- distances --------------------------------------------------------------------------------
def robust(distance: float, n: float, m: float, method: str) -> float:
    """Deequ's selection between the simple and the sample-size-corrected distance."""
    if method == "Simple" or n <= 0 or m <= 0:
        return distance
    return max(0.0, distance - ROBUST_FACTOR * math.sqrt((n + m) / (n * m)))


def numerical_distance(
    baseline_entry: Mapping[str, Any], numbers: Sequence[float]
) -> tuple[float, int, int] | None:
    """L-infinity distance between the baseline sketch's CDF and the values' CDF.

    Returns ``(distance, n, m)`` with n values in the interval and m in the baseline, or
    ``None`` when either side has no values.
    """
    block = baseline_entry.get("numerical_statistics") or {}
    sketch = ((block.get("distribution") or {}).get("kll") or {}).get("sketch")
    current = np.sort(np.asarray(numbers, dtype=float))
    if not sketch or current.size == 0:
        return None
    items, weights = sketch_points(sketch)
    if items.size == 0:
        return None
    cumulative = np.cumsum(weights)
    keys = np.union1d(items, current)
    base_cdf = np.concatenate([[0.0], cumulative])[np.searchsorted(items, keys, side="right")]
    base_cdf = base_cdf / cumulative[-1]
    current_cdf = np.searchsorted(current, keys, side="right") / current.size
    distance = float(np.max(np.abs(base_cdf - current_cdf)))
    m = int((block.get("common") or {}).get("num_present") or cumulative[-1])
    return distance, int(current.size), m


def baseline_frequencies(baseline_entry: Mapping[str, Any]) -> dict[str, int] | None:
    block = baseline_entry.get("string_statistics") or {}
    buckets = ((block.get("distribution") or {}).get("categorical") or {}).get("buckets")
    if not buckets:
        return None
    return {str(bucket["value"]): int(bucket["count"]) for bucket in buckets}


def baseline_total(baseline_entry: Mapping[str, Any]) -> int | None:
    """num_present of a baseline entry: the denominator of a top-k distribution's shares."""
    present, _ = common_counts(baseline_entry)
    return present or None


def categorical_distance(
    baseline_counts: Mapping[str, int], values: Sequence[str], baseline_present: int | None = None
) -> tuple[float, int, int] | None:
    """L-infinity distance between the two value-frequency vectors, with n and m.

    ``baseline_present`` is the baseline's num_present: with a top-k distribution the bucket
    counts do not add up to it, and the shares must still be of every baseline value.
    """
    current = Counter(values)
    n = sum(current.values())
    m = max(sum(baseline_counts.values()), baseline_present or 0)
    if n == 0 or m == 0:
        return None
    keys = set(current) | set(baseline_counts)
    distance = max(abs(current.get(key, 0) / n - baseline_counts.get(key, 0) / m) for key in keys)
    return float(distance), n, m
