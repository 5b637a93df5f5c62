"""The approval request a person reads: short Markdown, candidate against champion, every
check with measured and expected values, and where the full reports are."""

from __future__ import annotations

from airsage.registry.approval import approval_markdown

REGISTERED = {
    "day": "2026-03-03",
    "blessed": True,
    "blessing_uri": "/lake/reports/evaluation/reviews/dt=2026-03-03/blessing.json",
    "model_version": {"name": "reviews-sentiment", "version": "7", "status": "PendingManualApproval",
                      "tags": {"lineage.long": "x" * 4000}},
    "champion_version": {"name": "reviews-sentiment", "version": "5"},
    "blessing": {
        "checks": [
            {"check": "accuracy_threshold", "passed": True, "measured": 0.81234, "expected": ">= 0.6"},
            {"check": "champion_accuracy", "passed": True, "measured": 0.81234,
             "expected": ">= 0.79 (champion 0.79 - tolerance 0)"},
            {"check": "bias:DPPL", "passed": True, "measured": -0.0613, "expected": "|DPPL| <= 0.25"},
            {"check": "bias:DI", "passed": False, "measured": 0.52, "expected": "|1 - DI| <= 0.35"},
        ],
        "candidate": {"accuracy": 0.81234, "macro_f1": 0.7, "report_key": "reports/eval/candidate.json"},
        "champion": {"accuracy": 0.79, "macro_f1": 0.71},
    },
}


def test_the_body_is_short_markdown_with_every_check() -> None:
    body = approval_markdown(REGISTERED)
    assert len(body) < 1500 and "{'" not in body and "x" * 100 not in body
    assert body.startswith("**reviews-sentiment v7**, trained on partition 2026-03-03")
    assert "| metric | candidate | champion v5 |" in body
    assert "| accuracy | 0.8123 | 0.7900 |" in body
    assert "| bias:DPPL | pass | -0.0613 | \\|DPPL\\| <= 0.25 |" in body
    assert "| bias:DI | **FAIL** | 0.5200 |" in body
    assert "blessing.json" in body and "reports/eval/candidate.json" in body


def test_without_a_champion_the_body_says_so() -> None:
    first = {**REGISTERED, "champion_version": None,
             "blessing": {**REGISTERED["blessing"], "champion": None}}
    body = approval_markdown(first)
    assert "No champion yet" in body and "| accuracy | 0.8123 |" in body
