"""Routing decisions of reviews_daily's tasks, without running a DAG."""

from __future__ import annotations

from airsage.airflow import names, tasks


def _registered(blessed: bool, status: str | None) -> dict:
    version = None if status is None else {"name": "reviews-sentiment", "version": "3", "status": status}
    return {"blessed": blessed, "model_version": version, "day": "2026-01-01"}


def test_approval_route_follows_the_blessing_and_the_approval_status() -> None:
    route = tasks.approval_route.function
    assert route(_registered(False, None)) == names.KEEP_CHAMPION
    assert route(_registered(True, "Approved")) == names.AUTO_APPROVED
    assert route(_registered(True, "PendingManualApproval")) == names.APPROVE_MODEL


def test_manual_monitor_runs_check_the_hour_before_their_logical_date() -> None:
    import datetime as dt

    utc = dt.UTC
    logical = dt.datetime(2026, 1, 1, 10, 30, tzinfo=utc)
    start, end = tasks._interval({"data_interval_start": logical, "data_interval_end": logical,
                                  "logical_date": logical})
    assert (start, end) == (dt.datetime(2026, 1, 1, 9, tzinfo=utc), dt.datetime(2026, 1, 1, 10, tzinfo=utc))
    scheduled = tasks._interval({"data_interval_start": start, "data_interval_end": end})
    assert scheduled == (start, end)
