"""The trigger form of ``reviews_daily``: validated Params whose defaults are the configuration.

One source of truth for a run's options: each Param's default is read from the airsage
configuration (the YAML file and ``AIRSAGE__…`` variables) when the DAG file is parsed, so the
form shows the value a run will actually use, and a scheduled run (which takes the defaults)
applies the configuration. The ``airsage_config`` Variable is read at run time only and does
not change these options: set them in the file or in the form. No Param is tri-state (null or
boolean): a null-or-boolean Param renders as a two-state switch that reads "off" while
meaning "from configuration".

Reading the config at parse time is one small YAML file and no heavy import; a broken config
shows as the DAG's import error, which is where a person looks first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import Param

MODEL_FAMILIES = ["tfidf_linear", "bert"]
BALANCE_STRATEGIES = ["undersample", "none", "oversample"]

PARTITION_DATE = "partition_date"


@dataclass(frozen=True)
class RunOptions:
    """The configured values behind the form's defaults (also what the tests compare)."""

    model_family: str
    accuracy_threshold: float
    tuning: bool
    max_jobs: int
    balance: str
    auto_approve: bool
    window_days: int
    window_since: str | None

    @classmethod
    def from_settings(cls, settings: Any) -> RunOptions:
        """The run options of ``settings``; each key is named where it lives in the config."""

        def get(section: str, key: str, default: Any) -> Any:
            value = settings.section(section).get(key)
            return default if value is None else value

        return cls(
            model_family=str(get("training", "model_family", "tfidf_linear")),
            accuracy_threshold=float(get("evaluation", "accuracy_threshold", 0.0)),
            tuning=_as_bool(get("tuning", "enabled", False)),
            max_jobs=int(get("tuning", "max_jobs", 4)),
            balance=str(get("prepare", "balance", "undersample")),
            auto_approve=_as_bool(get("registry", "auto_approve", False)),
            window_days=int(get("prepare", "window_days", 1)),
            window_since=str(get("prepare", "window_since", "")) or None,
        )


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def configured_options() -> RunOptions:
    from airsage.airflow.defaults import parse_time_settings

    return RunOptions.from_settings(parse_time_settings())


def _from_config(key: str, value: Any) -> str:
    return f"Default from configuration ({key}): {value}."


def daily_params(options: RunOptions | None = None) -> dict[str, Param]:
    """Trigger-form fields of ``reviews_daily`` (defaults: ``options``, else the config)."""
    o = options or configured_options()
    return {
        PARTITION_DATE: Param(
            None,
            type=["null", "string"],
            format="date",
            title="Partition date",
            description=(
                "The day of reviews this run processes (YYYY-MM-DD). Empty: the run's data "
                "interval start — for a run triggered now, the last complete day (yesterday, "
                "UTC); for a scheduled or backfill run, the day its interval covers."
            ),
        ),
        "model_family": Param(
            o.model_family,
            type="string",
            enum=MODEL_FAMILIES,
            title="Model family",
            description="tfidf_linear (fast) or bert (a BERT-family encoder, fine-tuned). "
            + _from_config("training.model_family", o.model_family),
        ),
        "accuracy_threshold": Param(
            o.accuracy_threshold,
            type="number",
            minimum=0.0,
            maximum=1.0,
            title="Accuracy threshold",
            description="Register only if test accuracy reaches this. "
            + _from_config("evaluation.accuracy_threshold", o.accuracy_threshold),
        ),
        "tuning": Param(
            o.tuning,
            type="boolean",
            title="Tune",
            description="Run Bayesian tuning (Optuna locally, SageMaker tuning on aws). "
            + _from_config("tuning.enabled", o.tuning),
        ),
        "max_jobs": Param(
            o.max_jobs,
            type="integer",
            minimum=1,
            maximum=50,
            title="Tuning jobs",
            description="Maximum tuning trials when tuning is on. "
            + _from_config("tuning.max_jobs", o.max_jobs),
        ),
        "balance": Param(
            o.balance,
            type="string",
            enum=BALANCE_STRATEGIES,
            title="Class balance",
            description="How prepare balances the sentiment classes. "
            + _from_config("prepare.balance", o.balance),
        ),
        "window_days": Param(
            o.window_days,
            type="integer",
            minimum=1,
            maximum=3650,
            title="Training window (days)",
            description="Train on the run's day and the curated days before it, this many in all. "
            + _from_config("prepare.window_days", o.window_days),
        ),
        "window_since": Param(
            o.window_since,
            type=["null", "string"],
            format="date",
            title="Train on every day since",
            description="YYYY-MM-DD: every curated day from this date up to the run's day "
            "(replaces the window in days); empty: the window in days. "
            + _from_config("prepare.window_since", o.window_since or "empty"),
        ),
        "auto_approve": Param(
            o.auto_approve,
            type="boolean",
            title="Auto-approve",
            description="On: a blessed model is Approved and deployed without a person. Off: it "
            "waits as PendingManualApproval on the Required Actions page. "
            + _from_config("registry.auto_approve", o.auto_approve),
        ),
    }


def requested_partition(params: Mapping[str, Any]) -> str | None:
    """The ``partition_date`` a person typed, checked; None when the field was left empty."""
    raw = params.get(PARTITION_DATE)
    if raw in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(raw)).isoformat()
    except ValueError:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            f"Param {PARTITION_DATE}={raw!r} is not a date; give YYYY-MM-DD or leave it empty"
        ) from None
