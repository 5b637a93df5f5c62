"""Re-attach a retried step to the SageMaker job it already started, instead of a second job.

The Amazon provider's job operators know two answers to "a job of that name exists":
``action_if_job_exists="timestamp"`` (start another job, so a retry after a worker crash pays
twice and leaves two results) or ``"fail"``. airsage names every job deterministically
(:func:`airsage.jobs.request.job_name`: the step, the partition, a hash of what the job
does) and, before submitting, asks SageMaker what became of that name:

- no job of that name: submit it;
- ``InProgress`` or ``Stopping``: wait for it (deferred, the provider's ``SageMakerTrigger``);
- ``Completed``: collect its outputs, submit nothing;
- ``Failed`` or ``Stopped``: the next attempt, a new job with a visible suffix (``-r2``,
  ``-r3`` …), and the same questions for that name.

:func:`decide` is pure (it is handed a status lookup), so the rule is tested without AWS;
:func:`sagemaker_status` is the lookup against SageMaker's Describe* APIs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airsage.errors import StepFailed
from airsage.jobs.request import JOB_NAME_MAX

SUBMIT, WAIT, COLLECT = "submit", "wait", "collect"
RUNNING = ("InProgress", "Stopping")
FINISHED_BADLY = ("Failed", "Stopped")
MAX_ATTEMPTS = 5
# job kind -> (Describe* operation, its name parameter, the status key of its answer)
DESCRIBE = {
    "processing": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
    "training": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "tuning": ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName",
               "HyperParameterTuningJobStatus"),
    "transform": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
}


@dataclass(frozen=True)
class Reattach:
    """What a step does with its job: ``submit`` ``job_name``, ``wait`` for it, or ``collect``
    it; ``history`` is every earlier attempt of the name with how it ended."""

    action: str
    job_name: str
    attempt: int
    history: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "job_name": self.job_name, "attempt": self.attempt,
                "history": [list(item) for item in self.history]}


def attempt_name(base: str, attempt: int, *, max_length: int = JOB_NAME_MAX) -> str:
    """The job name of ``attempt`` (1: ``base`` itself; then ``base-r2`` …), within the
    service's length limit (the base is cut, never the suffix)."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if attempt == 1:
        return base[:max_length]
    suffix = f"-r{attempt}"
    return base[: max_length - len(suffix)].rstrip("-") + suffix


def decide(base: str, status_of: Callable[[str], str | None], *,
           max_attempts: int = MAX_ATTEMPTS, max_length: int = JOB_NAME_MAX) -> Reattach:
    """The action for the job named ``base``; ``status_of(name)`` is the job's status, or None
    when no job has that name. Raises once ``max_attempts`` attempts all failed or stopped:
    a job that keeps failing needs a person, not another attempt."""
    history: list[tuple[str, str]] = []
    for attempt in range(1, max_attempts + 1):
        name = attempt_name(base, attempt, max_length=max_length)
        status = status_of(name)
        if status is None:
            return Reattach(SUBMIT, name, attempt, tuple(history))
        if status in RUNNING:
            return Reattach(WAIT, name, attempt, tuple(history))
        if status == "Completed":
            return Reattach(COLLECT, name, attempt, tuple(history))
        if status not in FINISHED_BADLY:
            raise StepFailed(f"job {name} has status {status!r}, which airsage does not know")
        history.append((name, status))
    tried = ", ".join(f"{name} {status}" for name, status in history)
    raise StepFailed(
        f"job {base}: {max_attempts} attempts ended without completing ({tried}); read their "
        "FailureReason in SageMaker, fix the cause, then clear the task to try again")


def sagemaker_status(client: Any, kind: str) -> Callable[[str], str | None]:
    """A status lookup for :func:`decide` over a boto3 ``sagemaker`` client."""
    try:
        operation, parameter, status_key = DESCRIBE[kind]
    except KeyError:
        raise ValueError(f"no SageMaker job kind {kind!r}; known: {', '.join(DESCRIBE)}") from None

    def status_of(name: str) -> str | None:
        try:
            answer = getattr(client, operation)(**{parameter: name})
        except client.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            # a name SageMaker does not know: ValidationException "Could not find …" (or
            # ResourceNotFound for some kinds); any other error is a real one
            unknown = error.get("Code") == "ResourceNotFound" or (
                error.get("Code") == "ValidationException"
                and "could not find" in str(error.get("Message", "")).lower())
            if unknown:
                return None
            raise
        return str(answer.get(status_key))

    return status_of
