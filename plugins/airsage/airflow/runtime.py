"""What every airsage task does around its step: settings, the partition, error mapping.

Errors a retry cannot fix (bad data, a failed gate, a wrong setting) become Airflow's
fail-without-retry exception; a failed gate or unreadable batch also quarantines the
partition. Transient step failures keep their type, so Airflow's retries apply.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airsage.airflow import names
from airsage.config import Settings, load_settings
from airsage.errors import ConfigurationError, GateFailedError, InputDataError


def task_settings() -> Settings:
    """Settings at task run time, with the ``airsage_config`` Variable (JSON) merged over."""
    from airflow.sdk import Variable

    raw = Variable.get(names.CONFIG_VARIABLE, default=None)
    overrides: Mapping[str, Any] | None = None
    if raw:
        try:
            overrides = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise AirflowFailException(
                f"Airflow Variable {names.CONFIG_VARIABLE!r} must be a JSON object: {exc}"
            ) from exc
        if not isinstance(overrides, Mapping):
            raise AirflowFailException(
                f"Airflow Variable {names.CONFIG_VARIABLE!r} must be a JSON object, "
                f"got {type(overrides).__name__}"
            )
    try:
        return load_settings(overrides=overrides)
    except ConfigurationError as exc:
        raise AirflowFailException(str(exc)) from exc


def lake_for(settings: Settings) -> Any:
    from airsage.targets import implementation

    return implementation("lake", settings)


def partition_day(context: Mapping[str, Any], lake: Any, dataset: str = names.DATASET) -> str:
    """The partition a run processes: its logical date, or for an asset-triggered run
    (which has none in Airflow 3) the newest landed partition up to the run's date."""
    logical = context.get("logical_date")
    if logical is not None:
        return logical.date().isoformat()
    from airsage.lake.layout import LakeLayout

    layout = LakeLayout(dataset)
    run_after = context["dag_run"].run_after.date().isoformat()
    days = [d for d in layout.landed_days(list(lake.list(layout.raw_prefix()))) if d <= run_after]
    if not days:
        raise AirflowFailException(
            f"run {context['dag_run'].run_id} has no logical date and no partition of "
            f"'{dataset}' is landed up to {run_after}; land one with `airsage data ingest`"
        )
    return days[-1]


@contextmanager
def step_errors(
    step: str, *, lake: Any = None, dataset: str = names.DATASET, day: str | None = None,
    quarantine_batch: bool = True,
) -> Iterator[None]:
    """Map airsage errors to Airflow semantics; quarantine a refused batch first."""
    try:
        yield
    except (GateFailedError, InputDataError) as exc:
        if quarantine_batch and lake is not None and day is not None:
            from airsage.lake.quarantine import quarantine

            details = exc.to_dict() if isinstance(exc, GateFailedError) else {}
            quarantine(lake, dataset, day, step=step, reason=str(exc), details=details)
        raise AirflowFailException(f"{step} refused {dataset} dt={day}:\n{exc}") from exc
    except ConfigurationError as exc:
        raise AirflowFailException(f"{step}: configuration error: {exc}") from exc
