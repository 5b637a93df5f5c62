"""A job step's ``<step>.job`` task run again (its retry, or a user clearing it) re-attaches to
the SageMaker job of its name instead of failing on ``action_if_job_exists="fail"``
(``airsage.airflow.aws_jobs.ReattachesToItsJob``), against moto.

moto's jobs are ``Completed`` as soon as they exist; a job still running is the lookup's
answer where the test says so (as in test_daily_dag_aws.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_helpers import REGION, client

DAY = "2026-02-10"


@pytest.fixture
def bias_job(aws_env, aws_settings) -> tuple[dict[str, Any], Any]:
    """The bias step's CreateProcessingJob config (staged in moto's S3) and its operator."""
    from airsage.airflow.aws_jobs import job_operator
    from airsage.bias.gate import bias_request
    from airsage.jobs.aws import JobTarget, job_config, stage
    from airsage.lake.aws import S3Lake
    from airsage.lake.layout import LakeLayout

    lake = S3Lake(aws_settings)
    data_key = LakeLayout("reviews").curated(DAY) + "reviews.parquet"
    lake.write_bytes(data_key, b"PAR1")
    request = bias_request(aws_settings, "reviews", DAY, data_key=data_key)
    config = job_config(request, request.job_name, JobTarget.from_settings(aws_settings),
                        stage(lake, request, request.job_name))
    operator = job_operator("processing")(
        task_id="bias_gate.job", config=config, aws_conn_id="aws_default", region_name=REGION,
        deferrable=True, wait_for_completion=True, action_if_job_exists="fail")
    return config, operator


def _processing_jobs() -> list[str]:
    return sorted(j["ProcessingJobName"] for j in
                  client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"])


def test_run_again_the_job_task_returns_the_completed_job_instead_of_a_second_one(bias_job) -> None:
    config, operator = bias_job
    first = operator.execute({})
    assert first["Processing"]["ProcessingJobName"] == config["ProcessingJobName"]
    assert _processing_jobs() == [config["ProcessingJobName"]]

    again = operator.execute({})  # the cleared (or retried) task: same name, job exists
    assert again["Processing"]["ProcessingJobArn"] == first["Processing"]["ProcessingJobArn"]
    assert again.keys() == first.keys()
    assert _processing_jobs() == [config["ProcessingJobName"]]


def test_a_job_still_running_is_waited_for_through_the_settled_trigger(bias_job, monkeypatch) -> None:
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
    from airflow.sdk.exceptions import TaskDeferred

    import airsage.jobs.reattach as reattach
    from airsage.airflow.deferral import SettledTrigger

    config, operator = bias_job
    operator.execute({})
    monkeypatch.setattr(reattach, "sagemaker_status",
                        lambda client_, kind: lambda name: "InProgress")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, SettledTrigger)
    inner = trigger.build_inner()
    assert isinstance(inner, SageMakerTrigger)
    assert inner.job_name == config["ProcessingJobName"] and inner.job_type == "processing"
    assert deferred.value.method_name == "execute_complete"
    assert _processing_jobs() == [config["ProcessingJobName"]]


def test_a_stopped_job_fails_the_task_and_says_to_clear_the_group(bias_job) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    config, operator = bias_job
    operator.execute({})
    client("sagemaker").stop_processing_job(ProcessingJobName=config["ProcessingJobName"])
    with pytest.raises(AirflowFailException, match=(
            rf"job {config['ProcessingJobName']} ended Stopped: clear the whole bias_gate task group")):
        operator.execute({})
    assert _processing_jobs() == [config["ProcessingJobName"]]
