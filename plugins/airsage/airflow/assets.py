"""Assets through which airsage's DAGs talk: drift on the endpoint schedules retraining."""

from __future__ import annotations

from airflow.sdk import Asset

from airsage.airflow import names

DRIFT = Asset(name=names.DRIFT_ASSET_NAME, uri=names.DRIFT_ASSET_URI)
