"""What every airsage task does around its step: settings, the partition, error mapping.

Errors a retry cannot fix (bad data, a failed gate, a wrong setting) become Airflow's
fail-without-retry exception; a failed gate or unreadable batch also quarantines the
partition. Transient step failures keep their type, so Airflow's retries apply.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airsage.airflow import names
from airsage.config import Settings, load_settings
from airsage.errors import ConfigurationError, GateFailedError, InputDataError

if TYPE_CHECKING:
    from airsage.lake.base import Lake


def route_library_logging() -> None:
    """Send libraries' messages to the task log at their own level.

    Airflow logs whatever a task writes to stderr as ERROR, so a library that prints its
    info messages there (MLflow, Optuna, warnings, progress bars) would put ERROR lines into
    a green task. Each is pointed at Python logging instead, which Airflow's task logger
    receives with the real level. Called at the start of every task, before those imports.
    """
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")  # read when mlflow is imported
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    logging.captureWarnings(True)
    for name in ("mlflow", "optuna", "alembic", "great_expectations", "urllib3", "botocore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("airsage").setLevel(logging.INFO)


TARGET_VARIABLE = "AIRSAGE_TARGET"


def parsed_target() -> str:
    """The target the DAG files are built for: the environment only (parsing reads no file)."""
    return os.environ.get(TARGET_VARIABLE, "local").strip() or "local"


def builds_for_aws(target: str | None = None) -> bool:
    """Whether a DAG is built with the aws task groups (else the local tasks); a target that
    is neither is refused by name, so a typo never builds the other target's DAG."""
    target = target or parsed_target()
    if target not in ("aws", "local"):
        raise ValueError(f"{TARGET_VARIABLE}={target!r} is not a target; use local or aws")
    return target == "aws"


def task_settings() -> Settings:
    """Settings at task run time, with the ``airsage_config`` Variable (JSON) merged over.

    The target is fixed when the DAG file is parsed (``AIRSAGE_TARGET``): a run whose
    configuration (the file or the Variable) names another target fails at once, rather
    than running one step's engine on the other target's lake."""
    from airflow.sdk import Variable

    route_library_logging()

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
        settings = load_settings(overrides=overrides)
    except ConfigurationError as exc:
        raise AirflowFailException(str(exc)) from exc
    parsed = parsed_target()
    if settings.target != parsed:
        raise AirflowFailException(
            f"this DAG was parsed for the {parsed} target ({TARGET_VARIABLE}={parsed}) but the "
            f"run's configuration says target {settings.target!r} ({settings.source}, or the "
            f"{names.CONFIG_VARIABLE!r} Variable); the target of a run cannot be switched: set "
            f"{TARGET_VARIABLE} for every Airflow component and let the DAG files be parsed again")
    return settings


def lake_for(settings: Settings) -> Lake:
    """The lake of the settings' target (every task reads and writes its partition there)."""
    from airsage.targets import Engines

    return Engines(settings).lake


def partition_of(context: Mapping[str, Any]) -> str | None:
    """Rules 1 and 2 of :func:`partition_day` (no lake needed): the ``partition_date``
    Param, else the data interval's start; None for a run that has neither."""
    from airsage.airflow.params import requested_partition

    requested = requested_partition(context.get("params") or {})
    if requested is not None:
        return requested
    start = context.get("data_interval_start")
    return start.date().isoformat() if start is not None else None


def partition_day(context: Mapping[str, Any], lake: Any, dataset: str = names.DATASET) -> str:
    """The partition a run processes. One rule for every kind of run:

    1. the ``partition_date`` Param, when a person (or the CLI, the API) gave one;
    2. else the day the run's data interval starts: a scheduled or backfill run processes the
       day its interval covers, a manual run the last complete day before its logical date
       (Airflow infers that interval; so a run triggered "now" never reads today's
       unfinished partition);
    3. else (an asset-triggered run has no data interval) the newest landed partition up to
       the day the run was queued — the drifted traffic's newest data.
    """
    known = partition_of(context)
    if known is not None:
        return known
    from airsage.lake.layout import LakeLayout

    layout = LakeLayout(dataset)
    run_after = context["dag_run"].run_after.date().isoformat()
    days = [d for d in layout.landed_days(list(lake.list(layout.raw_prefix()))) if d <= run_after]
    if not days:
        raise AirflowFailException(
            f"run {context['dag_run'].run_id} has no data interval and no partition of "
            f"'{dataset}' is landed up to {run_after}; land one with `airsage data ingest` or "
            f"trigger with {{\"partition_date\": \"YYYY-MM-DD\"}}"
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
