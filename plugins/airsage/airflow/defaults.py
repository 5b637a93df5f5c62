"""Task defaults shared by airsage's DAGs: owner, retries, and the failure alert."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from airsage.airflow.notifiers import AirsageNotifier

OWNER = "airsage"


def default_args() -> dict[str, Any]:
    """Transient failures retry with backoff; gates raise fail-without-retry (see runtime)."""
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=10),
        "on_failure_callback": [AirsageNotifier()],
    }


@functools.cache
def parse_time_settings() -> Any:
    """The configuration as the DAG files see it when parsed (the file and ``AIRSAGE__…``
    variables; never the run-time Variable): read once per parse, for the trigger form's
    defaults and the run deadline."""
    from airsage.config import load_settings

    return load_settings()
