"""Run airsage's DAGs in-process with ``dag.test()`` (the demo, the CLI and the e2e tests).

``dag.test()`` runs every task in this process against the Airflow metadata database
(SQLite under the project's Airflow home), with notifiers and XCom as in a real deployment.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airsage.config import PROJECT_ROOT

DAGS_DIR = PROJECT_ROOT / "dags"


def load_dag(dag_id: str, dags_dir: Path = DAGS_DIR) -> Any:
    """Import ``dags/<dag_id>.py`` and return its DAG (file name = DAG id, by convention)."""
    path = dags_dir / f"{dag_id}.py"
    if not path.exists():
        known = sorted(p.stem for p in dags_dir.glob("*.py"))
        raise FileNotFoundError(f"no DAG file {path}; DAGs here: {', '.join(known)}")
    spec = importlib.util.spec_from_file_location(f"airsage_dag_{dag_id}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    dag = getattr(module, dag_id, None)
    return dag() if callable(dag) and not hasattr(dag, "dag_id") else _find_dag(module, dag_id)


def _find_dag(module: Any, dag_id: str) -> Any:
    from airflow.sdk import DAG

    for value in vars(module).values():
        if isinstance(value, DAG) and value.dag_id == dag_id:
            return value
    raise LookupError(f"{module.__file__} defines no DAG with id {dag_id!r}")


def unpause(*dag_ids: str) -> None:
    """What a user does in the UI: a paused DAG is not scheduled, not even by an asset."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id.in_(dag_ids)).values(is_paused=False))


@dataclass(frozen=True)
class RunSummary:
    """The outcome of one DAG run: its state, each task's state, and failed tasks."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str] = field(default_factory=dict)
    xcoms: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_tasks(self) -> list[str]:
        return [t for t, s in self.task_states.items() if s in ("failed", "upstream_failed")]


def run_dag(
    dag_id: str,
    *,
    logical_date: dt.datetime | dt.date | str | None = None,
    conf: dict[str, Any] | None = None,
    dag: Any = None,
    partition: dt.date | str | None = None,
) -> RunSummary:
    """``dag.test()`` one run and summarise it (task states and return values).

    ``partition`` names the day a ``reviews_daily`` run processes (its ``partition_date``
    Param); without it the run processes its data interval's start, which for a manual run
    at ``logical_date`` is the day before (see ``airflow.runtime.partition_day``).
    """
    dag = dag or load_dag(dag_id)
    when = _as_datetime(logical_date) if logical_date is not None else None
    if partition is not None:
        from airsage.airflow.params import PARTITION_DATE

        if PARTITION_DATE not in dag.params:
            raise ValueError(f"DAG {dag.dag_id} takes no {PARTITION_DATE}; pass logical_date")
        conf = {**(conf or {}), PARTITION_DATE: str(partition)[:10]}
    # dag.test() resolves a run's conf into the tasks' Param objects in place (objects that a
    # subset shares with its DAG), so a later run of the same DAG object (the demo, the e2e
    # tests) would inherit the conf. Put every Param's value back afterwards.
    params = [task.params.get_param(key) for task in dag.tasks for key in task.params]
    params += [dag.params.get_param(key) for key in dag.params]
    saved = {id(param): (param, copy.deepcopy(param.value)) for param in params}
    # Airflow 3.3.2's dag.test() looks a succeeded run's deadlines up by id in the database,
    # but hands it the DAG's DeadlineAlert objects (the scheduler hands it the stored ids), and
    # fails. A deadline guards long scheduled runs; an in-process run has none.
    deadline, dag.deadline = dag.deadline, None
    try:
        run = dag.test(logical_date=when, run_conf=conf or None)
    finally:
        dag.deadline = deadline
        for param, value in saved.values():
            param.value = value
    task_states: dict[str, str] = {}
    xcoms: dict[str, Any] = {}
    for ti in run.get_task_instances():
        task_states[ti.task_id] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        if task_states[ti.task_id] == "success":
            xcoms[ti.task_id] = ti.xcom_pull(task_ids=ti.task_id, dag_id=dag.dag_id, run_id=run.run_id)
    state = run.state.value if hasattr(run.state, "value") else str(run.state)
    return RunSummary(dag.dag_id, run.run_id, state, task_states, xcoms)


def _as_datetime(value: dt.datetime | dt.date | str) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
