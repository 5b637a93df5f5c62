"""The paired blessing test: constructed predictions of a candidate and a champion on one set."""

from __future__ import annotations

import numpy as np
import pytest
from test_condition import THRESHOLDS, report

from airsage.evaluation.condition import PairedComparison, bless
from airsage.evaluation.paired import bootstrap_macro_f1, mcnemar, run_paired_test

ROWS = 300


def predictions(accuracy: float, *, seed: int, ids: list[int] | None = None) -> dict[str, list[int]]:
    """A balanced 3-class set; a model right on ``accuracy`` of the rows, wrong at random."""
    rng = np.random.default_rng(seed)
    label = np.tile([-1, 0, 1], ROWS // 3)
    predicted = label.copy()
    wrong = rng.choice(ROWS, round(ROWS * (1 - accuracy)), replace=False)
    predicted[wrong] = np.array([{-1: 0, 0: 1, 1: -1}[int(v)] for v in label[wrong]])
    return {"review_id": ids or list(range(1000, 1000 + ROWS)), "label": label.tolist(),
            "predicted": predicted.tolist()}


def decide(candidate: dict, champion: dict, test: str = "bootstrap_macro_f1", **kwargs):
    paired = PairedComparison(test=test, candidate_predictions=candidate,
                              champion_predictions=champion, samples=500, **kwargs)
    return bless(report(0.8), report(0.8, name="champion"), accuracy_threshold=0.6,
                 champion_tolerance=0.0, bias_thresholds=THRESHOLDS, paired=paired)


def check(blessing, name: str):
    (found,) = [c for c in blessing.checks if c.check == name]
    return found


@pytest.mark.parametrize("test", ["bootstrap_macro_f1", "mcnemar"])
def test_a_clearly_better_candidate_is_blessed(test: str) -> None:
    blessing = decide(predictions(0.9, seed=1), predictions(0.7, seed=2), test)
    assert blessing.blessed, blessing.failures
    measured = check(blessing, f"champion_{test}").measured
    assert measured["test"] == test and measured["rows"] == ROWS
    assert measured["difference"] > 0.1


@pytest.mark.parametrize("test", ["bootstrap_macro_f1", "mcnemar"])
def test_an_equal_candidate_is_not_blessed(test: str) -> None:
    same = predictions(0.8, seed=3)
    blessing = decide(same, same, test)
    assert not blessing.blessed
    failure = check(blessing, f"champion_{test}")
    assert not failure.passed and "champion stays" in failure.message
    # an equally good but different model (the same accuracy, other mistakes) is not either
    assert not decide(predictions(0.8, seed=4), predictions(0.8, seed=5), test).blessed


def test_a_slightly_better_candidate_within_noise_is_not_blessed() -> None:
    blessing = decide(predictions(0.81, seed=6), predictions(0.8, seed=7))
    measured = check(blessing, "champion_bootstrap_macro_f1").measured
    assert measured["ci_low"] < 0 < measured["ci_high"]
    assert not blessing.blessed


def test_the_report_states_the_test_and_its_numbers() -> None:
    blessing = decide(predictions(0.9, seed=1), predictions(0.7, seed=2))
    found = check(blessing, "champion_bootstrap_macro_f1")
    assert {"ci_low", "ci_high", "confidence", "samples", "candidate", "champion"} <= set(found.measured)
    assert "paired bootstrap (500 resamples of 300 rows)" in found.message
    assert "95% CI" in found.message
    mcnemar_check = check(decide(predictions(0.9, seed=1), predictions(0.7, seed=2), "mcnemar"),
                          "champion_mcnemar")
    assert mcnemar_check.measured["p_value"] < 0.05
    assert "McNemar exact test on 300 rows" in mcnemar_check.message


def test_the_decision_reads_the_same_rows_for_both() -> None:
    candidate = predictions(0.95, seed=1)
    other_rows = predictions(0.5, seed=2, ids=list(range(5000, 5000 + ROWS)))
    blessing = decide(candidate, other_rows)
    failure = check(blessing, "champion_bootstrap_macro_f1")
    assert not failure.passed and "same evaluation set" in failure.message
    with pytest.raises(ValueError, match="same review ids"):
        run_paired_test("mcnemar", candidate, other_rows, confidence=0.95, tolerance=0.0,
                        samples=10)


def test_missing_predictions_fail_closed_and_no_champion_passes() -> None:
    paired = PairedComparison(test="mcnemar", candidate_predictions=predictions(0.9, seed=1),
                              champion_predictions=None)
    blessing = bless(report(0.8), report(0.7, name="champion"), accuracy_threshold=0.6,
                     champion_tolerance=0.0, bias_thresholds=THRESHOLDS, paired=paired)
    assert {f.check for f in blessing.failures} == {"champion_mcnemar"}
    first = bless(report(0.8), None, accuracy_threshold=0.6, champion_tolerance=0.0,
                  bias_thresholds=THRESHOLDS, paired=paired)
    assert first.blessed


def test_mcnemar_exact_p_value_and_bootstrap_match_sklearn() -> None:
    from sklearn.metrics import f1_score

    truth = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    # candidate alone right on 8 rows, champion alone on 0: p = 2 * 0.5**8
    result = mcnemar(truth, truth, [0] * 10)
    assert result.candidate_only_correct == 8 and result.champion_only_correct == 0
    assert result.p_value == pytest.approx(2 * 0.5**8, abs=1e-6)
    a, b = predictions(0.85, seed=8), predictions(0.75, seed=9)
    boot = bootstrap_macro_f1(a["label"], a["predicted"], b["predicted"], samples=50)
    assert boot.candidate == pytest.approx(f1_score(a["label"], a["predicted"], average="macro"),
                                           abs=1e-6)
    assert boot.ci_low <= boot.difference <= boot.ci_high
