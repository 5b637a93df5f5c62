"""Batch predictions end to end on the local target: a daily run deploys a model, its deploy
step emits the model-deployed asset event (naming version and day), and
reviews_batch_scoring scores the day's curated partition with that version — one
prediction per row — without touching raw or curated data; the predictions joined with
the partition's labels give the monitor's model-quality metrics."""

from __future__ import annotations

import io

import pytest
from e2e_harness import Pipeline

pytestmark = pytest.mark.e2e

DAY = "2026-05-01"


def _deployed_events() -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(
            AssetModel.name == "reviews_sentiment_deployed"))
        if asset is None:
            return []
        return [e.extra for e in session.scalars(
            select(AssetEvent).where(AssetEvent.asset_id == asset.id))]


def test_a_deployed_model_scores_its_day_one_prediction_per_row(pipeline: Pipeline) -> None:
    import pandas as pd

    before = len(_deployed_events())
    daily = pipeline.run(DAY)
    assert daily.state == "success", daily.task_states
    version = daily.xcoms["deploy"]["model_version"]
    events = _deployed_events()
    assert len(events) == before + 1
    assert events[-1] == {"model_name": "reviews-sentiment", "model_version": version, "day": DAY}

    data = pipeline.snapshot("raw/") | pipeline.snapshot("curated/")
    scored = pipeline.run(dag_id="reviews_batch_scoring", conf={"partition_date": DAY})
    assert scored.state == "success", scored.task_states
    result = scored.xcoms["score"]
    curated_rows = daily.xcoms["curate"]["rows"]
    assert (result["rows"], result["model_version"], result["day"]) == (curated_rows, version, DAY)
    table = pd.read_parquet(io.BytesIO(pipeline.lake.read_bytes(result["predictions_key"])))
    assert len(table) == table["review_id"].nunique() == curated_rows
    assert set(table["model_version"]) == {version}
    assert pipeline.snapshot("raw/") | pipeline.snapshot("curated/") == data

    from airsage.batch.quality import batch_model_quality

    quality = batch_model_quality(pipeline.settings, pipeline.lake, "reviews", DAY,
                                  model_name="reviews-sentiment", model_version=version)
    assert quality.summary["matched"] == curated_rows - quality.summary["unlabelled"]
    accuracy = quality.statistics["multiclass_classification_metrics"]["accuracy"]["value"]
    assert accuracy > quality.statistics["multiclass_classification_metrics"][
        "accuracy_best_constant_classifier"]["value"]
