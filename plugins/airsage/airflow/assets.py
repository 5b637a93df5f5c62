"""Assets through which airsage's DAGs talk: drift on the endpoint schedules retraining; a
newly deployed model schedules batch scoring (the event's extra names version and day)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset

from airsage.airflow import names

DRIFT = Asset(name=names.DRIFT_ASSET_NAME, uri=names.DRIFT_ASSET_URI)
MODEL_DEPLOYED = Asset(name=names.DEPLOYED_ASSET_NAME, uri=names.DEPLOYED_ASSET_URI)


def deployed_extra(version: Any) -> dict[str, str]:
    """The deploy event's extra: the version now serving and the day of data it was trained
    up to (``reviews_batch_scoring`` scores that day with that version)."""
    return {"model_name": str(version.name), "model_version": str(version.version),
            "day": str(version.data_day)}
