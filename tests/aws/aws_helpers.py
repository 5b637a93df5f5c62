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
