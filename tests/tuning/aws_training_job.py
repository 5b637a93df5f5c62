"""A realistic ``CreateTrainingJob`` request for the tuning tests, written by hand.

The aws training step maps a training :class:`~airsage.jobs.request.JobRequest` onto these
kwargs elsewhere; the tuning code takes them as its input, so its tests state them here in
the shape the SageMaker Python SDK sends for script mode (framework image, ``sagemaker_*``
hyperparameters, S3 channels, time-series metrics) and which the lead glues at merge.
"""

from __future__ import annotations

import json
from typing import Any

from airsage.jobs.request import JobRequest

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/airsage-sagemaker"
LAKE_ROOT = "s3://airsage-lake/prod"


def create_training_job_kwargs(request: JobRequest, *, lake_root: str = LAKE_ROOT,
                               output_path: str | None = None, image: str = IMAGE) -> dict[str, Any]:
    """CreateTrainingJob kwargs of ``request``: its channels and hyperparameters, its metric
    regexes, its model under ``models/<dataset>/`` (SageMaker adds ``<job>/output/``)."""
    model_key = request.output("model")
    dataset_models = model_key[: model_key.index(f"/{request.job_name}/")]
    hyperparameters = {k: v if isinstance(v, str) else json.dumps(v) for k, v in request.config.items()}
    hyperparameters.update({
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"{lake_root}/code/train/sourcedir.tar.gz"),
        "sagemaker_container_log_level": "20",
        "sagemaker_region": json.dumps("us-east-1"),
    })
    return {
        "TrainingJobName": request.job_name,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(d) for d in request.metric_definitions],
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "RoleArn": ROLE,
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {"ChannelName": channel,
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{lake_root}/{prefix}",
                                             "S3DataDistributionType": "FullyReplicated"}},
             "ContentType": "application/x-parquet", "CompressionType": "None"}
            for channel, prefix in sorted(request.inputs.items())
        ],
        "OutputDataConfig": {"S3OutputPath": output_path or f"{lake_root}/{dataset_models}"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(request.timeout_seconds or 3600)},
        "EnableManagedSpotTraining": False,
        "Environment": {"AIRSAGE_JOB": "train"},
        "DebugHookConfig": {"S3OutputPath": f"{lake_root}/debug"},
        "Tags": [{"Key": "project", "Value": "airsage"}, {"Key": "team", "Value": "ml"}],
    }
