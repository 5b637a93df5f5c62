"""airsage.airflow.deferral: the settled trigger survives the trip through Airflow's trigger
table, waits before its trigger first runs, yields that trigger's events unchanged, and the
settled operators defer through it (the real scheduler run: tests/e2e/test_real_scheduler_aws.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.amazon.aws.triggers.athena import AthenaTrigger
from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk.exceptions import TaskDeferred

from airsage.airflow.deferral import SETTLE_SECONDS, SettledTrigger, settled


def _athena_trigger() -> AthenaTrigger:
    return AthenaTrigger(query_execution_id="7d904e65", waiter_delay=2, waiter_max_attempts=10,
                         aws_conn_id="aws_default", region_name="us-east-1")


def _through_the_trigger_table(trigger: SettledTrigger) -> SettledTrigger:
    """What the triggerer builds from the row the deferring task wrote (encrypted kwargs)."""
    from airflow.models.trigger import Trigger
    from airflow.sdk.module_loading import import_string
    from airflow.serialization.decoders import smart_decode_trigger_kwargs

    classpath, kwargs = trigger.serialize()
    row = Trigger(classpath=classpath, kwargs=kwargs)
    stored = Trigger._decrypt_kwargs(row.encrypted_kwargs)
    built: SettledTrigger = import_string(row.classpath)(
        **{k: smart_decode_trigger_kwargs(v) for k, v in stored.items()})
    return built


def test_the_settled_trigger_round_trips_through_the_trigger_table_with_its_inner_trigger() -> None:
    inner = _athena_trigger()
    built = _through_the_trigger_table(SettledTrigger.around(inner))
    assert isinstance(built, SettledTrigger)
    assert built.settle_seconds == SETTLE_SECONDS
    assert built.build_inner().serialize() == inner.serialize()


def _first_event(trigger: SettledTrigger) -> tuple[Any, float]:
    async def first() -> tuple[Any, float]:
        started = time.monotonic()
        async for event in trigger.run():
            return event, time.monotonic() - started
        raise AssertionError("the settled trigger yielded nothing")

    return asyncio.run(first())


MOMENT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # in the past: the trigger fires at once on its own


def test_in_the_triggerer_the_inner_trigger_runs_after_the_wait_and_its_event_is_passed_through(
) -> None:
    trigger = _through_the_trigger_table(SettledTrigger.around(DateTimeTrigger(moment=MOMENT), 0.5))
    trigger.trigger_id = 7  # the row's id, as the triggerer sets it on every trigger it runs
    event, waited = _first_event(trigger)
    assert waited >= 0.5
    assert event.payload == MOMENT
    assert isinstance(trigger.inner, DateTimeTrigger)


def test_run_in_line_by_dag_test_the_inner_trigger_runs_at_once() -> None:
    trigger = SettledTrigger.around(DateTimeTrigger(moment=MOMENT), 30)
    event, waited = _first_event(trigger)
    assert waited < 5 and event.payload == MOMENT


def test_a_settled_operator_keeps_its_name_and_defers_through_the_settled_trigger() -> None:
    operator_class = settled(AthenaOperator)
    assert operator_class.__name__ == "AthenaOperator" and issubclass(operator_class, AthenaOperator)
    assert settled(AthenaOperator) is operator_class and settled(operator_class) is operator_class
    operator = operator_class(task_id="query", query="SELECT 1", database="airsage",
                              output_location="s3://bucket/athena/", deferrable=True)
    inner = _athena_trigger()
    with pytest.raises(TaskDeferred) as deferred:
        operator.defer(trigger=inner, method_name="execute_complete")
    assert isinstance(deferred.value.trigger, SettledTrigger)
    assert deferred.value.trigger.serialize()[1]["kwargs"] == inner.serialize()[1]
    assert deferred.value.method_name == "execute_complete"


def test_a_negative_wait_is_refused_with_its_value() -> None:
    with pytest.raises(ValueError, match="settle_seconds must be >= 0, got -1"):
        SettledTrigger("x.Y", {}, -1)
