"""Names the aws tests share (the lake bucket, the role, the region) and a boto3 client."""

from __future__ import annotations

from typing import Any

BUCKET = "airsage-lake"
LAKE_ROOT = f"s3://{BUCKET}/prod"
ROLE = "arn:aws:iam::123456789012:role/airsage-glue"
REGION = "us-east-1"


def client(service: str) -> Any:
    """A boto3 client; AWS_ENDPOINT_URL (set by the aws_env fixture) points it at moto."""
    import boto3

    return boto3.client(service, region_name=REGION)


def sagemaker_jobs() -> dict[str, list[str]]:
    """The processing and training job names moto holds (a rerun must not add one)."""
    sagemaker = client("sagemaker")
    return {"processing": sorted(j["ProcessingJobName"] for j in
                                 sagemaker.list_processing_jobs()["ProcessingJobSummaries"]),
            "training": sorted(j["TrainingJobName"] for j in
                               sagemaker.list_training_jobs()["TrainingJobSummaries"])}


def approved_version(number: int, day: str = "2026-02-10") -> Any:
    """An Approved registry version whose model.tar.gz is ``train-<number>``'s in the lake,
    trained on ``day``'s window (what the deploy step's ordering rule reads)."""
    from airsage.registry.base import LINEAGE_ARTIFACT_KEY, ModelVersion

    key = f"models/reviews/train-{number}/output/model.tar.gz"
    return ModelVersion(name="reviews-sentiment", version=str(number), status="Approved",
                        artifact_uri=f"{LAKE_ROOT}/{key}", run_id=None,
                        tags={LINEAGE_ARTIFACT_KEY: key, "lineage.partition_day": day})
