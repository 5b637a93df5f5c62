"""The aws feature store against moto's server (tests/aws/moto_ext.py), never AWS.

moto 5.2.5 has CreateFeatureGroup and DescribeFeatureGroup (extended in moto_ext.py: a
missing group is ResourceNotFound, and the request's DataCatalogConfig is kept, as on AWS)
and Athena (results seeded by the exact query text, which also proves the SQL Athena got).
It has no ``sagemaker-featurestore-runtime`` at all: the ingestion test checks the PutRecord
and DeleteRecord calls with botocore's Stubber on that client instead.
"""

from __future__ import annotations

import datetime as dt

import boto3
import pandas as pd
import pytest
from aws_helpers import BUCKET, REGION, ROLE, client
from botocore.stub import Stubber

from airsage.errors import StepFailed
from airsage.features.aws import SageMakerFeatureStore, create_request
from airsage.features.base import (
    FEATURE_NAMES,
    FeatureGroupSpec,
    FeatureStoreError,
    as_of_for_day,
    feature_records,
    format_event_time,
)
from airsage.features.query import ATHENA, point_in_time_sql


@pytest.fixture
def spec(aws_settings) -> FeatureGroupSpec:
    return FeatureGroupSpec.for_dataset(aws_settings, "reviews")


def _store(settings, **clients) -> SageMakerFeatureStore:
    return SageMakerFeatureStore(settings, client=client("sagemaker"), athena=client("athena"),
                                 **clients)


def test_feature_group_creation_is_idempotent(aws_env, aws_settings, spec) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as missing:  # moto_ext: AWS's answer, not moto's 500
        client("sagemaker").describe_feature_group(FeatureGroupName="airsage-reviews")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"
    store = _store(aws_settings)
    assert store.ensure_group(None, spec) is True  # type: ignore[arg-type]
    assert store.ensure_group(None, spec) is False  # type: ignore[arg-type]  # described, not created again

    described = client("sagemaker").describe_feature_group(FeatureGroupName="airsage-reviews")
    offline = described["OfflineStoreConfig"]
    assert offline["S3StorageConfig"]["S3Uri"] == f"s3://{BUCKET}/prod/feature-store/airsage-reviews"
    assert offline["DataCatalogConfig"] == {"Catalog": "AwsDataCatalog", "Database": "airsage",
                                            "TableName": "airsage_reviews"}
    assert described["RecordIdentifierFeatureName"] == "review_id"
    assert described["EventTimeFeatureName"] == "event_time"
    assert [d["FeatureName"] for d in described["FeatureDefinitions"]] == list(FEATURE_NAMES)
    assert described["RoleArn"] == ROLE
    assert store.glue_table(spec) == ("airsage", "airsage_reviews")


def test_an_existing_group_with_another_schema_is_a_clear_error(aws_env, aws_settings, spec) -> None:
    request = create_request(aws_settings, spec)
    request["FeatureDefinitions"] = [d for d in request["FeatureDefinitions"]
                                     if d["FeatureName"] != "split"]
    client("sagemaker").create_feature_group(**request)
    with pytest.raises(FeatureStoreError, match=r"feature group airsage-reviews exists in SageMaker "
                       r"with another schema: feature 'split' \(String\) is missing"):
        _store(aws_settings).ensure_group(None, spec)  # type: ignore[arg-type]


def test_the_point_in_time_query_runs_in_athena_with_the_shared_sql(aws_env, aws_settings, spec) -> None:
    store = _store(aws_settings)
    with pytest.raises(FeatureStoreError, match="feature group airsage-reviews does not exist in "
                       "SageMaker"):
        store.query(None, spec, as_of_for_day("2024-05-01"))  # type: ignore[arg-type]
    store.ensure_group(None, spec)  # type: ignore[arg-type]
    as_of = as_of_for_day("2024-05-01")
    sql = store.query_sql(spec, as_of, "train")
    # the shared builder's text in the Athena dialect, over the Glue table SageMaker reports
    assert sql == point_in_time_sql('"airsage"."airsage_reviews"', as_of, ATHENA, split="train")
    columns = [("review_id", "bigint"), ("review_text", "varchar"), ("sentiment", "bigint"),
               ("rating", "bigint"), ("age", "bigint"), ("division_name", "varchar"),
               ("department_name", "varchar"), ("class_name", "varchar"), ("split", "varchar"),
               ("event_time", "varchar")]
    aws_env.seed_athena(sql, [["7", "love it", "1", "5", "31", "General", "Tops", "Knits", "train",
                               "2024-05-02T00:00:00Z"]], columns)
    frame = store.query(None, spec, as_of, "train")  # type: ignore[arg-type]
    assert frame.to_dict(orient="records") == [{
        "review_id": 7, "review_text": "love it", "sentiment": 1, "rating": 5, "age": 31,
        "division_name": "General", "department_name": "Tops", "class_name": "Knits",
        "split": "train", "event_time": "2024-05-02T00:00:00Z"}]


def test_the_wait_for_the_offline_store_counts_the_write(aws_env, aws_settings, spec) -> None:
    settings = aws_settings.with_overrides({"features": {"replication_timeout_seconds": 1,
                                                         "poll_seconds": 1}})
    store = _store(settings)
    store.ensure_group(None, spec)  # type: ignore[arg-type]
    since = dt.datetime(2024, 5, 2, 3, tzinfo=dt.UTC)
    sql = store.visible_sql(spec, "2024-05-02T00:00:00Z", since)
    assert sql == ('SELECT count(*) FROM "airsage"."airsage_reviews" WHERE "event_time" = '
                   "'2024-05-02T00:00:00Z' AND \"api_invocation_time\" >= "
                   "from_iso8601_timestamp('2024-05-02T03:00:00Z')")
    aws_env.seed_athena(sql, [["3"]], [("_col0", "bigint")])
    store.wait_until_visible(spec, "2024-05-02T00:00:00Z", since, 3)
    with pytest.raises(StepFailed, match=r"3 of 4 records written at 2024-05-02T00:00:00Z reached "
                       r"the offline store within 1 s; raise features.replication_timeout_seconds"):
        store.wait_until_visible(spec, "2024-05-02T00:00:00Z", since, 4)


def test_records_are_ingested_with_put_record_and_delete_record(aws_settings, spec,
                                                                monkeypatch) -> None:
    """Stubber, not moto: moto has no sagemaker-featurestore-runtime."""
    runtime = boto3.client("sagemaker-featurestore-runtime", region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    event_time = format_event_time(as_of_for_day("2024-05-01"))
    split = pd.DataFrame({"review_id": [1, 2], "review_text": ["love it", "too small"],
                          "sentiment": [1, -1], "rating": [5, 1], "age": [31, None],
                          "division_name": "General", "department_name": "Tops",
                          "class_name": "Knits"})
    records = feature_records({"train": split}, event_time)
    waited = []
    with Stubber(runtime) as stub:
        stub.add_response("put_record", {}, {
            "FeatureGroupName": "airsage-reviews", "TargetStores": ["OfflineStore"],
            "Record": [{"FeatureName": n, "ValueAsString": v} for n, v in (
                ("review_id", "1"), ("review_text", "love it"), ("sentiment", "1"),
                ("rating", "5"), ("age", "31"), ("division_name", "General"),
                ("department_name", "Tops"), ("class_name", "Knits"), ("split", "train"),
                ("event_time", event_time))]})
        stub.add_response("put_record", {}, {
            "FeatureGroupName": "airsage-reviews", "TargetStores": ["OfflineStore"],
            "Record": [{"FeatureName": n, "ValueAsString": v} for n, v in (
                ("review_id", "2"), ("review_text", "too small"), ("sentiment", "-1"),
                ("rating", "1"), ("division_name", "General"),  # age is null: not sent
                ("department_name", "Tops"), ("class_name", "Knits"), ("split", "train"),
                ("event_time", event_time))]})
        stub.add_response("delete_record", {}, {
            "FeatureGroupName": "airsage-reviews", "RecordIdentifierValueAsString": "9",
            "EventTime": event_time, "TargetStores": ["OfflineStore"]})
        store = SageMakerFeatureStore(aws_settings, runtime=runtime)
        monkeypatch.setattr("airsage.features.aws.INGEST_THREADS", 1)  # the stub's order
        monkeypatch.setattr(store, "wait_until_visible",
                            lambda s, e, since, expected: waited.append((s.name, e, expected)))
        result = store.write(None, spec, "2024-05-01", records, [9])  # type: ignore[arg-type]
        stub.assert_no_pending_responses()
    assert waited == [("airsage-reviews", event_time, 3)]
    assert (result.records, result.deleted, result.event_time) == (2, 1, event_time)
    assert result.location == f"s3://{BUCKET}/prod/feature-store/airsage-reviews/"


def test_both_targets_build_the_same_group(aws_settings, settings) -> None:
    """One definition: the local store's feature definitions are CreateFeatureGroup's."""
    local = FeatureGroupSpec.for_dataset(settings, "reviews")
    remote = FeatureGroupSpec.for_dataset(aws_settings, "reviews")
    assert local == remote
    assert create_request(aws_settings, remote)["FeatureDefinitions"] == local.definitions()
