"""Airflow's LocalExecutor, without the stale "success" that fails a task resumed by an answer.

A task that waits — ``approve_model`` parked in ``awaiting_input`` for a person, or any deferred
task — ends its first execution cleanly, and the LocalExecutor later reports that execution as
``success`` under the task instance's key. A resumed execution has the *same* key (same
try_number). When the answer comes before the scheduler has read that report — the parked
execution's supervisor often sleeps out its 5 s ``[workers] min_heartbeat_interval`` before it
sees its child has exited (bench/hitl_resume.py: reported 0.2 to 10 s after it started, median
5.5 s), and the scheduler reads results once per loop — the scheduler queues the resumed
execution and, in the same loop, reads the old report. Airflow 3.3.2's
``process_executor_events`` only excuses such a report while the task instance is
``scheduled``; for ``queued`` or ``running`` it logs "finished with state success, but the task
instance's state attribute is queued", calls it killed externally and fails the task — and
with ``retries=0`` the approval, though answered, is lost. Upstream:
https://github.com/apache/airflow/issues/67287 (queued) and
https://github.com/apache/airflow/issues/72716 (running); the fix proposed there,
https://github.com/apache/airflow/pull/73546, tags each execution with its own id.

This executor does the same at the source: it counts the executions of each key it has handed
to its workers and reports a key's result only when none of them is still in flight. A result
that arrives while another execution of the same key runs (in practice the parked execution's,
whose supervisor outlived the answer) is logged and dropped; the last one is reported, by when
the task instance's own state is the resumed execution's. Select it with
``AIRFLOW__CORE__EXECUTOR=airsage.airflow.local_executor.ResumeSafeLocalExecutor``. (The
CeleryExecutor polls only the newest execution's result of a key, and it sends the resumed one
before it polls: the Celery deployment needs nothing of the kind.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from airflow.executors.local_executor import LocalExecutor

EXECUTOR_PATH = "airsage.airflow.local_executor.ResumeSafeLocalExecutor"


class ResumeSafeLocalExecutor(LocalExecutor):
    """A LocalExecutor that reports a task instance key's result once no execution of it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight: Counter[Any] = Counter()

    def _process_workloads(self, workload_list: Sequence[Any]) -> None:
        super()._process_workloads(workload_list)
        for workload in workload_list:
            self._in_flight[workload.key] += 1

    def _read_results(self) -> None:
        while not self.result_queue.empty():
            key, state, _ = self.result_queue.get()
            if self.superseded(key):
                self.log.info(
                    "Not reporting %s for %s: another execution of the same try (resumed from "
                    "awaiting_input or deferred) is in flight and will report", state, key)
                continue
            self.change_state(key, state)

    def superseded(self, key: Any) -> bool:
        """Count one execution of ``key`` as finished; true while another one is in flight."""
        self._in_flight[key] -= 1
        if self._in_flight[key] <= 0:
            del self._in_flight[key]
            return False
        return True
