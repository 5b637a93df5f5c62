"""Batch scoring on the local target: the real job script through the one local runner, the
real inference handlers, a real MLflow registry; one prediction per row with the version."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from batchdata import DAY, MODEL, curated_rows, write_curated

from airsage.batch.scoring import (
    collect_predictions,
    resolve_version,
    score_partition,
    transform_request,
)
from airsage.errors import GateFailedError, InputDataError, StepFailed
from airsage.jobs.local import LocalJobRunner


def _table(lake: Any, key: str) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(lake.read_bytes(key)))


def test_scores_every_row_once_with_the_model_version(settings, lake, registry, versions) -> None:
    rows = curated_rows(23)
    source = write_curated(lake, DAY, rows)
    before = lake.read_bytes(source)
    runner = LocalJobRunner(settings)
    result = score_partition(settings, lake, "reviews", DAY, registry=registry, runner=runner)

    approved = versions["Approved"]
    assert result.model_version == approved.version  # no version asked: the champion
    assert result.rows == 23
    prefix = f"predictions/reviews/dt={DAY}/model_version={approved.version}/"
    assert result.predictions_key == prefix + "predictions.parquet"
    table = _table(lake, result.predictions_key)
    assert list(table["review_id"]) == [row["review_id"] for row in rows]
    assert set(table["model_version"]) == {approved.version}
    assert set(table["model_name"]) == {MODEL}
    assert table["predicted_label"].isin([-1, 0, 1]).all()
    for probabilities, label in zip(table["probabilities"], table["predicted_label"], strict=True):
        values = dict(probabilities)
        assert set(values) == {"-1", "0", "1"}
        assert sum(values.values()) == pytest.approx(1.0, abs=1e-4)
        assert max(values, key=values.__getitem__) == str(label)
    assert str(table["scored_at"].dt.tz) == "UTC"
    # the model learned the three texts: most rows get their own sentiment back
    truth = {row["review_id"]: row["sentiment"] for row in rows}
    right = sum(truth[r] == p for r, p in zip(table["review_id"], table["predicted_label"],
                                              strict=True))
    assert right >= 18
    # Batch Transform's files: JSON Lines in, <input>.out joined with review_id
    out = lake.read_bytes(prefix + "transform/reviews.jsonl.out").decode().splitlines()
    first = json.loads(out[0])
    assert set(first) == {"review_id", "SageMakerOutput"}
    assert first["review_id"] == rows[0]["review_id"]
    sent = json.loads(lake.read_bytes(prefix + "input/reviews.jsonl").decode().splitlines()[0])
    assert set(sent) == {"review_id", "review_text"}  # no label column leaves the lake
    assert lake.read_bytes(source) == before  # curated data is only read

    # a rerun overwrites only its own output
    other = f"predictions/reviews/dt=2026-03-01/model_version={approved.version}/predictions.parquet"
    lake.write_bytes(other, b"another day's table")
    again = score_partition(settings, lake, "reviews", DAY, registry=registry, runner=runner,
                            model_version=approved.version)
    assert again.rows == 23 and again.job_name == result.job_name
    assert lake.read_bytes(other) == b"another day's table"
    assert sorted(lake.list(prefix)) == [prefix + "input/reviews.jsonl",
                                         prefix + "predictions.parquet",
                                         prefix + "transform/reviews.jsonl.out"]


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_refuses_a_version_that_is_not_approved(settings, lake, registry, versions,
                                                status) -> None:
    version = versions[status]
    write_curated(lake, DAY, curated_rows(5))
    with pytest.raises(GateFailedError) as caught:
        score_partition(settings, lake, "reviews", DAY, registry=registry,
                        runner=LocalJobRunner(settings), model_version=version.version)
    message = str(caught.value)
    assert f"{MODEL} v{version.version} is {status}" in message
    assert "expected Approved" in message
    assert not list(lake.list(f"predictions/reviews/dt={DAY}/model_version={version.version}/"))


def test_an_unknown_version_and_no_champion_are_named(settings, registry, versions) -> None:
    with pytest.raises(InputDataError, match="999"):
        resolve_version(registry, MODEL, "999")

    class Empty:
        def champion(self, name: str) -> None:
            return None

    with pytest.raises(InputDataError, match="no Approved version"):
        resolve_version(Empty(), MODEL, None)  # type: ignore[arg-type]


def test_a_day_without_curated_data_is_refused(settings, lake, registry, versions) -> None:
    with pytest.raises(InputDataError, match="no curated data"):
        score_partition(settings, lake, "reviews", "2025-01-01", registry=registry,
                        runner=LocalJobRunner(settings))


def test_collect_refuses_an_output_without_one_prediction_per_row(settings, lake,
                                                                    versions) -> None:
    request = transform_request(settings, "reviews", "2026-03-05", versions["Approved"])
    lines = [{"review_id": 1, "review_text": "a"}, {"review_id": 2, "review_text": "b"}]
    lake.write_bytes(request.input_key, "".join(json.dumps(x) + "\n" for x in lines).encode())
    answer = {"label": 1, "probabilities": {"-1": 0.1, "0": 0.1, "1": 0.8}}
    lake.write_bytes(request.output_key, (json.dumps(
        {"review_id": 1, "SageMakerOutput": answer}) + "\n").encode())
    with pytest.raises(StepFailed, match=r"1 prediction.*for 2 input row"):
        collect_predictions(lake, request, scored_at=dt.datetime.now(dt.UTC))
    swapped = [{"review_id": 2, "SageMakerOutput": answer}, {"review_id": 1, "SageMakerOutput": answer}]
    lake.write_bytes(request.output_key, "".join(json.dumps(x) + "\n" for x in swapped).encode())
    with pytest.raises(StepFailed, match="line 1 is joined with review_id 2"):
        collect_predictions(lake, request, scored_at=dt.datetime.now(dt.UTC))


def test_the_request_is_pure_and_keyed_by_day_and_version(settings, versions) -> None:
    from airsage.batch.base import TransformRequest
    from airsage.errors import ConfigurationError

    approved = versions["Approved"]
    request = transform_request(settings, "reviews", DAY, approved.to_dict())
    assert request == transform_request(settings, "reviews", DAY, approved)
    assert TransformRequest.from_dict(request.to_dict()) == request
    prefix = f"predictions/reviews/dt={DAY}/model_version={approved.version}/"
    assert (request.input_key, request.output_key, request.predictions_key) == (
        prefix + "input/reviews.jsonl", prefix + "transform/reviews.jsonl.out",
        prefix + "predictions.parquet")
    assert request.job_name.startswith("reviews-20260302-score-")
    assert request.model_artifact_key == approved.tags["lineage.model_artifact_key"]
    other = transform_request(settings, "reviews", "2026-03-03", approved)
    assert other.job_name != request.job_name
    with pytest.raises(ConfigurationError, match=r"batch: unknown key\(s\) \['max_payload'\]"):
        transform_request(settings.with_overrides({"batch": {"max_payload": 2}}), "reviews", DAY,
                          approved)
    with pytest.raises(ConfigurationError, match="max_payload_mb 500 must be 1-100"):
        transform_request(settings.with_overrides({"batch": {"max_payload_mb": 500}}), "reviews",
                          DAY, approved)
