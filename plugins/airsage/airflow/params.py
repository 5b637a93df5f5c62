"""Validated Params for manual runs: the Airflow trigger form refuses out-of-range values."""

from __future__ import annotations

from airflow.sdk import Param

MODEL_FAMILIES = ["tfidf_linear", "bert"]
BALANCE_STRATEGIES = ["undersample", "none", "oversample"]


def daily_params() -> dict[str, Param]:
    """Trigger-form fields of ``reviews_daily``; ``None`` means "use the configured value"."""
    return {
        "model_family": Param(
            "tfidf_linear",
            type="string",
            enum=MODEL_FAMILIES,
            title="Model family",
            description="tfidf_linear (fast, default) or bert (a BERT-family encoder + head).",
        ),
        "accuracy_threshold": Param(
            None,
            type=["null", "number"],
            minimum=0.0,
            maximum=1.0,
            title="Accuracy threshold",
            description="Register only if test accuracy reaches this (empty: from config).",
        ),
        "tuning": Param(
            False, type="boolean", title="Tune", description="Run Bayesian tuning (Optuna)."
        ),
        "max_jobs": Param(
            4,
            type="integer",
            minimum=1,
            maximum=50,
            title="Tuning jobs",
            description="Maximum tuning trials when tuning is on.",
        ),
        "balance": Param(
            "undersample",
            type="string",
            enum=BALANCE_STRATEGIES,
            title="Class balance",
            description="How prepare balances the sentiment classes.",
        ),
        "auto_approve": Param(
            None,
            type=["null", "boolean"],
            title="Auto-approve",
            description="Approve a blessed model without a person (empty: from config).",
        ),
    }
