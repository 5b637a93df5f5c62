"""airsage's LocalExecutor: a task resumed from awaiting_input is not failed by the parked
execution's late "success" (Airflow 3.3.2, apache/airflow#67287 and #72716).

The executor runs without worker processes: the test hands it workloads as the scheduler does
and puts the workers' results on its result queue itself, in the order the race produces."""

from __future__ import annotations

import ctypes
import multiprocessing
from dataclasses import dataclass
from multiprocessing import SimpleQueue
from typing import Any

from airflow.executors.local_executor import LocalExecutor
from airflow.models.taskinstancekey import TaskInstanceKey
from airflow.utils.state import TaskInstanceState

from airsage.airflow.local_executor import EXECUTOR_PATH, ResumeSafeLocalExecutor

APPROVAL = TaskInstanceKey("reviews_daily", "approve_model", "manual__1", try_number=1)
OTHER = TaskInstanceKey("reviews_daily", "register", "manual__1", try_number=1)
SUCCESS = TaskInstanceState.SUCCESS


@dataclass(frozen=True)
class Workload:
    """What ``_process_workloads`` reads of an ExecuteTask: its key."""

    key: TaskInstanceKey


class BusyWorker:
    """A worker process that is alive and busy, so the executor starts no real one."""

    def is_alive(self) -> bool:
        return True


def executor(kind: type[LocalExecutor]) -> LocalExecutor:
    made = kind(parallelism=1)
    made.activity_queue = SimpleQueue()
    made.result_queue = SimpleQueue()
    made._unread_messages = multiprocessing.Value(ctypes.c_uint)
    made.workers = {1: BusyWorker()}  # type: ignore[dict-item]
    return made


def send(made: LocalExecutor, key: TaskInstanceKey) -> None:
    """The scheduler queues a workload and the heartbeat hands it to the workers."""
    workload = Workload(key)
    made.queued_tasks[key] = workload  # type: ignore[assignment]
    made._process_workloads([workload])


def finish(made: LocalExecutor, key: TaskInstanceKey, state: Any = SUCCESS) -> dict[Any, Any]:
    """A worker reports an execution's end; the scheduler's next sync reads it."""
    made.result_queue.put((key, state, None))
    made.sync()
    return made.get_event_buffer()


def test_the_parked_executions_report_is_not_read_as_the_resumed_ones_end() -> None:
    made = executor(ResumeSafeLocalExecutor)
    send(made, APPROVAL)  # approve_model runs and parks in awaiting_input
    send(made, APPROVAL)  # answered: the resumed execution is sent before the park is reported
    assert finish(made, APPROVAL) == {}  # the parked execution's exit: not reported
    assert finish(made, APPROVAL) == {APPROVAL: (SUCCESS, None)}  # the resumed one's end
    assert finish(made, APPROVAL) == {APPROVAL: (SUCCESS, None)}  # nothing left in flight


def test_airflows_local_executor_reports_the_parked_execution_while_the_resumed_one_runs() -> None:
    made = executor(LocalExecutor)  # the race this executor closes, as Airflow 3.3.2 has it
    send(made, APPROVAL)
    send(made, APPROVAL)
    assert finish(made, APPROVAL) == {APPROVAL: (SUCCESS, None)}


def test_a_park_reported_before_the_answer_and_other_tasks_are_reported_at_once() -> None:
    made = executor(ResumeSafeLocalExecutor)
    send(made, APPROVAL)
    send(made, OTHER)
    assert finish(made, APPROVAL) == {APPROVAL: (SUCCESS, None)}  # parked, no answer yet
    assert finish(made, OTHER, TaskInstanceState.FAILED) == {OTHER: (TaskInstanceState.FAILED, None)}
    send(made, APPROVAL)  # the answer came after the scheduler had read the park
    assert finish(made, APPROVAL) == {APPROVAL: (SUCCESS, None)}


def test_airflow_loads_it_by_the_path_the_deployments_name() -> None:
    from airflow.executors.executor_loader import ExecutorLoader
    from airflow.executors.executor_utils import ExecutorName

    loaded, _ = ExecutorLoader.import_executor_cls(ExecutorName(module_path=EXECUTOR_PATH))
    assert loaded is ResumeSafeLocalExecutor and loaded.is_local
