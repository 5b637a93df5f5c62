"""Trigger-form fields of ``reviews_batch_scoring``: which partition, scored by which version.

A run started by the deploy step's asset scores what the event names (the deployed version,
the day its run processed). A person names either or both; what stays empty falls back:

- ``partition_date``: the event's day, else the newest curated day up to the run's date;
- ``model_version``: the event's version, else the champion — the Approved version trained on
  the newest data, the one the endpoint serves. A version that is not Approved is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Param

from airsage.airflow.params import PARTITION_DATE

MODEL_VERSION = "model_version"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def batch_scoring_params() -> dict[str, Param]:
    """``partition_date`` and ``model_version``, both optional."""
    return {
        PARTITION_DATE: Param(
            None, type=["null", "string"], format="date", title="Partition date",
            description="The curated day to score (YYYY-MM-DD). Empty: the day of the deployed "
                        "model's run (asset-triggered), else the newest curated day.",
        ),
        MODEL_VERSION: Param(
            None, type=["null", "string"], pattern=VERSION_PATTERN, title="Model version",
            description="The registered version to score with (it must be Approved). Empty: "
                        "the deployed version (asset-triggered), else the champion.",
        ),
    }


def requested(params: Mapping[str, Any], deployed: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """(day, version) from the form, else from the deploy event's extra; None where neither
    says. A day that is not a date is refused by name."""
    raw_day = params.get(PARTITION_DATE) or (deployed or {}).get("day")
    day = None
    if raw_day:
        try:
            day = dt.date.fromisoformat(str(raw_day)).isoformat()
        except ValueError:
            raise ValueError(f"{PARTITION_DATE}={raw_day!r} is not a date; give YYYY-MM-DD "
                             "or leave it empty") from None
    version = params.get(MODEL_VERSION) or (deployed or {}).get("model_version")
    return day, (str(version) if version not in (None, "") else None)
