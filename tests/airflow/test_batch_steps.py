"""Which day and version a reviews_batch_scoring run scores: the form, else the deploy
event that triggered it, else the newest curated day and the champion."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airsage.airflow.assets import MODEL_DEPLOYED, deployed_extra
from airsage.airflow.batch_params import requested
from airsage.airflow.batch_steps import deployed_event, newest_curated_day


def _event(extra: dict[str, Any], at: str) -> Any:
    return SimpleNamespace(extra=extra, timestamp=dt.datetime.fromisoformat(at))


def test_the_newest_deploy_event_names_the_version_and_day() -> None:
    context = {"triggering_asset_events": {MODEL_DEPLOYED: [
        _event({"model_name": "m", "model_version": "4", "day": "2026-03-01"}, "2026-03-02T01:00+00:00"),
        _event({"model_name": "m", "model_version": "5", "day": "2026-03-02"}, "2026-03-03T01:00+00:00"),
    ]}}
    assert deployed_event(context) == {"model_name": "m", "model_version": "5", "day": "2026-03-02"}
    assert deployed_event({"triggering_asset_events": {}}) is None
    assert deployed_event({}) is None


def test_the_form_wins_over_the_event_and_a_bad_date_is_named() -> None:
    event = {"model_version": "5", "day": "2026-03-02"}
    assert requested({}, event) == ("2026-03-02", "5")
    assert requested({"partition_date": "2026-02-01", "model_version": "2"}, event) == ("2026-02-01", "2")
    assert requested({"partition_date": None, "model_version": ""}, None) == (None, None)
    with pytest.raises(ValueError, match="partition_date='March 1st' is not a date"):
        requested({"partition_date": "March 1st"}, None)


def test_the_deploy_event_extra_is_what_scoring_reads() -> None:
    version = SimpleNamespace(name="reviews-sentiment", version=7, data_day="2026-03-04")
    assert requested({}, deployed_extra(version)) == ("2026-03-04", "7")


def test_a_manual_run_without_a_date_scores_the_newest_curated_day(lake) -> None:
    for day in ("2026-03-01", "2026-03-03", "2026-03-09"):
        lake.write_bytes(f"curated/reviews/dt={day}/reviews.parquet", b"x")
    assert newest_curated_day(lake, "2026-03-05") == "2026-03-03"
    with pytest.raises(AirflowFailException, match="no curated partition of reviews up to 2026-02-01"):
        newest_curated_day(lake, "2026-02-01")
