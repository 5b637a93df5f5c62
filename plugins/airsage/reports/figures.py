"""The run report's plots, drawn by matplotlib (Agg, no display) as PNG bytes.

Each function takes plain numbers and returns one image, so the report's numbers and its
pictures come from the same values. matplotlib is imported on first use.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    _pyplot().close(figure)
    return buffer.getvalue()


def metric_history(name: str, days: Sequence[str], values: Sequence[float], today: float | None,
                   band: tuple[float, float] | None) -> bytes:
    """A metric over the trailing days, today's value, and the band the anomaly rule allows."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 2.6))
    if days:
        axis.plot(list(days), list(values), marker="o", label="accepted days")
    if today is not None:
        axis.plot(["today"], [today], marker="D", color="black", linestyle="", label="today")
    if band is not None:
        axis.axhspan(band[0], band[1], color="tab:green", alpha=0.15, label="allowed band")
    axis.set_title(name, fontsize=9)
    axis.tick_params(axis="x", labelrotation=45, labelsize=7)
    axis.legend(fontsize=7)
    return _png(figure)


def bias_bars(metrics: Mapping[str, float], thresholds: Mapping[str, Mapping[str, float]],
              title: str) -> bytes:
    """|metric| per bias metric against its warn and fail limits."""
    plt = _pyplot()
    names = list(metrics)
    figure, axis = plt.subplots(figsize=(6, 2.6))
    axis.bar(names, [abs(float(metrics[n])) for n in names], color="tab:blue")
    for index, name in enumerate(names):
        limits = thresholds.get(name) or {}
        for kind, color in (("warn", "orange"), ("fail", "red")):
            if limits.get(kind) is not None:
                axis.hlines(float(limits[kind]), index - 0.4, index + 0.4, colors=color)
    axis.set_title(title, fontsize=9)
    axis.tick_params(labelsize=7)
    return _png(figure)


def curves(series: Mapping[str, Sequence[float]], title: str, xlabel: str) -> bytes:
    """One line per metric (training curves per epoch, or the objective per trial)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 2.6))
    for name, values in series.items():
        axis.plot(range(1, len(values) + 1), list(values), marker="o", label=name)
    axis.set_xlabel(xlabel, fontsize=8)
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)
    return _png(figure)


def confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> bytes:
    """Rows: actual label; columns: predicted label; each cell's count written on it."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(3.6, 3.2))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted", fontsize=8)
    axis.set_ylabel("actual", fontsize=8)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axis.text(j, i, str(count), ha="center", va="center", fontsize=9)
    return _png(figure)


def comparison(metrics: Sequence[str], candidate: Sequence[float],
               champion: Sequence[float] | None) -> bytes:
    """Candidate against champion, metric by metric, on the same evaluation data."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 2.6))
    positions = range(len(metrics))
    width = 0.4 if champion is not None else 0.6
    axis.bar([p - (width / 2 if champion is not None else 0) for p in positions], list(candidate),
             width, label="candidate")
    if champion is not None:
        axis.bar([p + width / 2 for p in positions], list(champion), width, label="champion")
    axis.set_xticks(list(positions), list(metrics))
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7)
    return _png(figure)


def distributions(feature: str, baseline: Mapping[str, float], current: Mapping[str, float]) -> bytes:
    """Baseline against current share per bucket or category of one feature."""
    plt = _pyplot()
    keys = list(dict.fromkeys([*baseline, *current]))[:20]
    figure, axis = plt.subplots(figsize=(6, 2.6))
    positions = range(len(keys))
    axis.bar([p - 0.2 for p in positions], [baseline.get(k, 0.0) for k in keys], 0.4, label="baseline")
    axis.bar([p + 0.2 for p in positions], [current.get(k, 0.0) for k in keys], 0.4, label="current")
    axis.set_xticks(list(positions), keys, rotation=45, fontsize=7)
    axis.set_title(feature, fontsize=9)
    axis.legend(fontsize=7)
    return _png(figure)
