"""Paired tests of a candidate against the champion on the same evaluation rows.

Two models scored on the same rows make paired observations: comparing their two point
estimates throws that away and mistakes noise for progress (on 100 rows one review is a point
of accuracy). Two tests are offered, both pure functions of the labels and the two models'
predictions:

- ``bootstrap_macro_f1``: resample the rows with replacement (the same resample for both
  models), take the macro-F1 difference each time; the percentile interval of those
  differences is the confidence interval of the difference. The candidate wins when the
  interval's lower end is above ``-tolerance`` (with tolerance 0: it is better, confidently).
- ``mcnemar``: the exact McNemar test on accuracy: among the rows where exactly one model is
  right, is the candidate right more often than chance allows? The candidate wins when it is
  right on more of them and the two-sided p-value is below ``1 - confidence``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

PAIRED_TESTS = ("bootstrap_macro_f1", "mcnemar", "none")


@dataclass(frozen=True)
class PairedResult:
    """One paired test's numbers and its verdict (``candidate_better``)."""

    test: str
    rows: int
    candidate: float
    champion: float
    difference: float
    candidate_better: bool
    confidence: float
    ci_low: float | None = None
    ci_high: float | None = None
    samples: int | None = None
    candidate_only_correct: int | None = None
    champion_only_correct: int | None = None
    p_value: float | None = None
    tolerance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def describe(self) -> str:
        if self.test == "mcnemar":
            return (
                f"McNemar exact test on {self.rows} rows: candidate accuracy {self.candidate:.4f} vs "
                f"champion {self.champion:.4f}; candidate alone right on "
                f"{self.candidate_only_correct}, champion alone on {self.champion_only_correct}, "
                f"two-sided p = {self.p_value:.4g} (needs < {1 - self.confidence:.4g} "
                "with the candidate ahead)"
            )
        return (
            f"paired bootstrap ({self.samples} resamples of {self.rows} rows): macro F1 "
            f"candidate {self.candidate:.4f} - champion {self.champion:.4f} = "
            f"{self.difference:+.4f}, {self.confidence:.0%} CI [{self.ci_low:+.4f}, "
            f"{self.ci_high:+.4f}] (needs a lower end above {-self.tolerance:+.4g})"
        )


def _macro_f1_batch(truth: np.ndarray, predicted: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Macro F1 of each row of ``truth``/``predicted`` (shape samples x rows), classes as given.

    A class absent from both truth and prediction in a resample scores F1 0, as scikit-learn's
    ``f1_score(average="macro", zero_division=0)`` does over the labels it is given.
    """
    scores = []
    for label in classes:
        true_positive = ((predicted == label) & (truth == label)).sum(axis=1)
        predicted_count = (predicted == label).sum(axis=1)
        actual_count = (truth == label).sum(axis=1)
        denominator = predicted_count + actual_count
        scores.append(np.where(denominator > 0, 2.0 * true_positive / np.maximum(denominator, 1), 0.0))
    return np.mean(scores, axis=0)


def bootstrap_macro_f1(
    truth: Sequence[int],
    candidate: Sequence[int],
    champion: Sequence[int],
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    tolerance: float = 0.0,
    seed: int = 0,
) -> PairedResult:
    """The percentile CI of the macro-F1 difference under paired row resampling."""
    y, a, b = (np.asarray(v, dtype=int) for v in (truth, candidate, champion))
    _check_lengths(y, a, b)
    classes = np.unique(y)
    point = _macro_f1_batch(y[None, :], a[None, :], classes)[0], _macro_f1_batch(
        y[None, :], b[None, :], classes)[0]
    rng = np.random.default_rng(seed)
    differences = []
    for start in range(0, samples, 200):  # bounded memory: 200 resamples at a time
        count = min(200, samples - start)
        index = rng.integers(0, len(y), size=(count, len(y)))
        differences.append(_macro_f1_batch(y[index], a[index], classes)
                           - _macro_f1_batch(y[index], b[index], classes))
    spread = np.concatenate(differences)
    alpha = 1.0 - confidence
    low, high = (float(q) for q in np.quantile(spread, [alpha / 2.0, 1.0 - alpha / 2.0]))
    return PairedResult(
        test="bootstrap_macro_f1", rows=len(y), candidate=round(float(point[0]), 6),
        champion=round(float(point[1]), 6), difference=round(float(point[0] - point[1]), 6),
        candidate_better=bool(low > -tolerance), confidence=confidence,
        ci_low=round(low, 6), ci_high=round(high, 6), samples=samples, tolerance=tolerance,
    )


def mcnemar(
    truth: Sequence[int], candidate: Sequence[int], champion: Sequence[int], *,
    confidence: float = 0.95,
) -> PairedResult:
    """The exact (binomial) McNemar test on the rows where the two models disagree in being right."""
    y, a, b = (np.asarray(v, dtype=int) for v in (truth, candidate, champion))
    _check_lengths(y, a, b)
    right_a, right_b = a == y, b == y
    only_a = int((right_a & ~right_b).sum())
    only_b = int((right_b & ~right_a).sum())
    n = only_a + only_b
    if n == 0:
        p_value = 1.0
    else:
        tail = sum(math.comb(n, k) for k in range(0, min(only_a, only_b) + 1)) / 2.0**n
        p_value = min(1.0, 2.0 * tail)
    accuracy_a, accuracy_b = float(right_a.mean()), float(right_b.mean())
    return PairedResult(
        test="mcnemar", rows=len(y), candidate=round(accuracy_a, 6), champion=round(accuracy_b, 6),
        difference=round(accuracy_a - accuracy_b, 6),
        candidate_better=bool(only_a > only_b and p_value < 1.0 - confidence),
        confidence=confidence, candidate_only_correct=only_a, champion_only_correct=only_b,
        p_value=round(p_value, 6),
    )


def _check_lengths(*arrays: np.ndarray) -> None:
    lengths = {len(array) for array in arrays}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"paired test: labels and both predictions need the same non-zero "
                         f"length, got {[len(a) for a in arrays]}")


def run_paired_test(
    test: str,
    candidate: Mapping[str, Sequence[Any]],
    champion: Mapping[str, Sequence[Any]],
    *,
    confidence: float,
    tolerance: float,
    samples: int,
    seed: int = 0,
) -> PairedResult:
    """Run ``test`` on two ``predictions.json`` documents of the *same* rows.

    Raises ValueError when the documents do not hold the same review ids in the same order
    with the same labels: a paired test of different rows would be meaningless.
    """
    if test not in PAIRED_TESTS or test == "none":
        raise ValueError(f"paired test {test!r} is not one of {', '.join(PAIRED_TESTS[:-1])}")
    for name, document in (("candidate", candidate), ("champion", champion)):
        missing = [key for key in ("review_id", "label", "predicted") if key not in document]
        if missing:
            raise ValueError(f"the {name}'s predictions lack {missing}")
    if list(candidate["review_id"]) != list(champion["review_id"]):
        raise ValueError(
            f"the candidate's predictions cover {len(candidate['review_id'])} rows and the "
            f"champion's {len(champion['review_id'])}, not the same review ids in the same "
            "order: both must be scored on the same evaluation set"
        )
    if list(candidate["label"]) != list(champion["label"]):
        raise ValueError("the two predictions documents disagree on the true labels")
    if test == "mcnemar":
        return mcnemar(candidate["label"], candidate["predicted"], champion["predicted"],
                       confidence=confidence)
    return bootstrap_macro_f1(candidate["label"], candidate["predicted"], champion["predicted"],
                              samples=samples, confidence=confidence, tolerance=tolerance,
                              seed=seed)
