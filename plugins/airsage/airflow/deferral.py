"""Deferrable operators whose trigger fires only after the deferring try has been accounted for.

Airflow 3.3.2's scheduler fails a deferred task whose trigger fires within a second or two of
deferring. The worker's exit after ``defer()`` reaches the scheduler as an executor "success"
event for the same try; when the trigger event has already moved the task instance back to
``queued`` (or ``running``) by then, the scheduler reads that stale success as a "state
mismatch" (the task was "killed externally") and fails the try, which is retried after its
delay (apache/airflow#66374 fixed the ``scheduled`` case only; #67287 and #72716 are the
``queued`` and ``running`` ones). Seen under the real scheduler against moto: two of the seven
Athena checks of one run went ``up_for_retry`` that way, each costing the retry delay and a
second query. On AWS the same happens to anything already finished when its trigger first
asks: a short Athena query, a crawl of one partition, an endpoint update with no traffic
shift, a re-attached job that completed meanwhile.

:class:`SettledTrigger` wraps the operator's own trigger and waits :data:`SETTLE_SECONDS`
before running it in the triggerer, by which time the scheduler has processed the deferring
try's exit (the task instance is still ``deferred`` then, which the scheduler accepts). :func:`settled` gives
the provider operator class that defers through it; everything else about the operator, its
trigger and its events is unchanged.

Under the LocalExecutor, :mod:`airsage.airflow.local_executor` also drops the stale report at
its source (and covers HITL answers, which resume without a trigger); the settling wait keeps
deferrals safe under any executor, including a managed Airflow whose executor cannot be chosen.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any, NoReturn

from airflow.triggers.base import BaseTrigger, TriggerEvent

# The deferring worker's supervisor has exited and the scheduler has read its executor event
# well within this (measured under load on 2 shared cores: 2.7 s from "Pausing task as
# DEFERRED." to the event; a scheduler loop is about 1 s).
SETTLE_SECONDS = 5.0


class SettledTrigger(BaseTrigger):
    """Runs another trigger (given as its serialized classpath and kwargs) after waiting
    ``settle_seconds``, and yields that trigger's events unchanged."""

    def __init__(self, classpath: str, kwargs: dict[str, Any],
                 settle_seconds: float = SETTLE_SECONDS) -> None:
        super().__init__()
        if settle_seconds < 0:
            raise ValueError(f"settle_seconds must be >= 0, got {settle_seconds}")
        self.classpath, self.kwargs, self.settle_seconds = classpath, dict(kwargs), settle_seconds
        self.inner: BaseTrigger | None = None

    @classmethod
    def around(cls, trigger: BaseTrigger, settle_seconds: float = SETTLE_SECONDS) -> SettledTrigger:
        """``trigger``, run after the settling wait (a trigger already settled is returned as is)."""
        if isinstance(trigger, SettledTrigger):
            return trigger
        classpath, kwargs = trigger.serialize()
        return cls(classpath, kwargs, settle_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"classpath": self.classpath, "kwargs": self.kwargs,
                 "settle_seconds": self.settle_seconds})

    def build_inner(self) -> BaseTrigger:
        """The wrapped trigger, built as the triggerer builds one, with this trigger's identity
        (task instance, trigger id) so that its log lines and context are the task's."""
        from airflow.sdk.module_loading import import_string

        inner: BaseTrigger = import_string(self.classpath)(**self.kwargs)
        inner.task_instance = self.task_instance
        inner.trigger_id = self.trigger_id
        for attribute in ("triggerer_job_id", "timeout_after"):
            if hasattr(self, attribute):
                setattr(inner, attribute, getattr(self, attribute))
        return inner

    @property
    def in_triggerer(self) -> bool:
        """Run by a triggerer, whose events reach the task through the scheduler: it runs
        triggers stored in its table and sets their ``trigger_id`` (its ``triggerer_job_id``
        stays None in the runner process). ``dag.test()`` runs a trigger in line, with no
        scheduler to race and no row: no wait."""
        return self.trigger_id is not None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self.in_triggerer:
            self.log.info("waiting %.0f s for the deferring try to be accounted for, then %s",
                          self.settle_seconds, self.classpath.rsplit(".", 1)[-1])
            await asyncio.sleep(self.settle_seconds)
        self.inner = self.build_inner()
        async for event in self.inner.run():
            yield event

    async def cleanup(self) -> None:
        if self.inner is not None:
            await self.inner.cleanup()


class SettlesBeforeResuming:
    """Mixin for an operator: every ``defer()`` goes through :class:`SettledTrigger`."""

    def defer(self, *, trigger: BaseTrigger, method_name: str, kwargs: dict[str, Any] | None = None,
              timeout: Any = None) -> NoReturn:
        super().defer(  # type: ignore[misc]
            trigger=SettledTrigger.around(trigger), method_name=method_name, kwargs=kwargs,
            timeout=timeout)
        raise AssertionError("BaseOperator.defer returned instead of raising TaskDeferred")


@functools.cache
def settled(operator: type) -> Any:
    """``operator``'s class deferring through :class:`SettledTrigger`, under the same name (the
    UI and the task logs still say ``AthenaOperator``)."""
    if issubclass(operator, SettlesBeforeResuming):
        return operator
    metaclass: type = type(operator)  # BaseOperator's metaclass builds the subclass
    return metaclass(operator.__name__, (SettlesBeforeResuming, operator), {
        "__module__": __name__, "__qualname__": operator.__name__,
        "__doc__": f"{operator.__name__}, its trigger run after the settling wait (see {__name__}).",
    })
