"""Re-attach on retry: the rule (pure) and the status lookup against SageMaker's answers."""

from __future__ import annotations

import pytest

from airsage.errors import StepFailed
from airsage.jobs.reattach import COLLECT, SUBMIT, WAIT, attempt_name, decide, sagemaker_status

BASE = "airsage-deequ-reviews-20260210-0a1b2c3d"


def lookup(statuses: dict[str, str]):
    return statuses.get


def test_a_name_sagemaker_does_not_know_is_submitted_as_it_is() -> None:
    job = decide(BASE, lookup({}))
    assert (job.action, job.job_name, job.attempt, job.history) == (SUBMIT, BASE, 1, ())


@pytest.mark.parametrize("status", ["InProgress", "Stopping"])
def test_a_running_job_is_waited_for_not_submitted_again(status: str) -> None:
    job = decide(BASE, lookup({BASE: status}))
    assert (job.action, job.job_name) == (WAIT, BASE)


def test_a_completed_job_is_collected() -> None:
    assert decide(BASE, lookup({BASE: "Completed"})).action == COLLECT


def test_a_failed_or_stopped_job_is_replaced_by_the_next_attempt_with_a_visible_suffix() -> None:
    job = decide(BASE, lookup({BASE: "Failed", f"{BASE}-r2": "Stopped"}))
    assert (job.action, job.job_name, job.attempt) == (SUBMIT, f"{BASE}-r3", 3)
    assert job.history == ((BASE, "Failed"), (f"{BASE}-r2", "Stopped"))
    assert job.to_dict()["history"] == [[BASE, "Failed"], [f"{BASE}-r2", "Stopped"]]


def test_the_newest_attempt_decides() -> None:
    assert decide(BASE, lookup({BASE: "Failed", f"{BASE}-r2": "InProgress"})).job_name == f"{BASE}-r2"
    assert decide(BASE, lookup({BASE: "Failed", f"{BASE}-r2": "Completed"})).action == COLLECT


def test_attempts_that_keep_failing_stop_and_name_every_attempt() -> None:
    statuses = {attempt_name(BASE, n): "Failed" for n in range(1, 4)}
    with pytest.raises(StepFailed, match=r"3 attempts ended without completing .*-r3 Failed"):
        decide(BASE, lookup(statuses), max_attempts=3)


def test_an_unknown_status_is_an_error_not_a_guess() -> None:
    with pytest.raises(StepFailed, match="'Pending', which airsage does not know"):
        decide(BASE, lookup({BASE: "Pending"}))


def test_attempt_names_stay_within_the_limit_and_keep_their_suffix() -> None:
    long = "a" * 63
    assert attempt_name(long, 1) == long
    assert attempt_name(long, 12) == "a" * 59 + "-r12"
    assert attempt_name("tune-x", 2, max_length=32) == "tune-x-r2"
    with pytest.raises(ValueError, match="start at 1"):
        attempt_name(BASE, 0)


def test_the_status_lookup_reads_describe_and_knows_an_unknown_name() -> None:
    """Stubbed answers in SageMaker's shapes (moto's describe answers the same
    "Could not find" ValidationException: the DAG test runs against it)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("describe_training_job", {
            "TrainingJobName": "t", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/t",
            "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"}, "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Training", "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ResourceConfig": {"VolumeSizeInGB": 30}, "StoppingCondition": {},
            "CreationTime": "2026-01-01T00:00:00Z"}, {"TrainingJobName": "t"})
        stub.add_client_error("describe_training_job", "ValidationException",
                              "Requested resource not found: Could not find training job 'u'")
        stub.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded")
        status_of = sagemaker_status(client, "training")
        assert status_of("t") == "InProgress"
        assert status_of("u") is None
        with pytest.raises(client.exceptions.ClientError, match="Rate exceeded"):
            status_of("v")
    with pytest.raises(ValueError, match="no SageMaker job kind 'pipeline'"):
        sagemaker_status(client, "pipeline")
