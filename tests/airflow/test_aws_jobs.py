"""The job steps' task groups on aws (aws_jobs.py): their shape in both DAGs, the local DAGs
unchanged, and the two runners that split one step body into request and collect."""

from __future__ import annotations

from typing import Any

import pytest

from airsage.airflow import tasks
from airsage.airflow.aws_jobs import CompletedJob, JobRequested, RequestRecorder, ml_job_steps
from airsage.errors import StepFailed
from airsage.jobs.request import JobRequest

GROUP = {"request", "route", "job", "wait", "collect"}


def _dag(dag_id: str, target: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airsage.airflow.runner import load_dag

    monkeypatch.setenv("AIRSAGE_TARGET", target)
    return load_dag(dag_id)


def test_on_aws_each_job_step_is_a_group_around_a_deferred_operator_that_never_timestamps(
        monkeypatch) -> None:
    daily = _dag("reviews_daily", "aws", monkeypatch)
    for step in ("bias_gate", "train", "evaluate", "champion_evaluation", "baseline"):
        ids = {t.task_id for t in daily.tasks if t.task_id.startswith(f"{step}.")}
        assert ids == {f"{step}.{part}" for part in GROUP}, step
        job = daily.get_task(f"{step}.job")
        assert job.partial_kwargs["deferrable"] is True
        assert job.partial_kwargs["action_if_job_exists"] == "fail"
        expected = "SageMakerTrainingOperator" if step == "train" else "SageMakerProcessingOperator"
        assert job.operator_class.__name__ == expected
    assert daily.get_task("prepare").upstream_task_ids == {"bias_gate.collect"}
    # register (issue 11): the champion's evaluation job first, then the provider's
    # SageMakerRegisterModelVersionOperator between the request and collect phases
    assert daily.get_task("champion_evaluation.request").upstream_task_ids == {"evaluate.collect"}
    assert daily.get_task("register.request").upstream_task_ids == {
        "trained", "evaluate.collect", "prepare", "champion_evaluation.collect"}
    package = daily.get_task("register.model_package")
    assert package.operator_class.__name__ == "RegisterModelVersionOnceOperator"
    assert "SageMakerRegisterModelVersionOperator" in [
        c.__name__ for c in package.operator_class.__mro__]
    assert daily.get_task("register.collect").upstream_task_ids == {
        "register.request", "register.model_package"}
    assert daily.get_task("approval_route").upstream_task_ids == {"register.collect"}
    assert "task_ids='register.collect'" in daily.get_task("approve_model").subject
    # train: the tuning Param picks the training job or the tuning job; "trained" joins them
    assert daily.get_task("train_mode").upstream_task_ids == {"prepare"}
    assert daily.get_task("train_mode").downstream_task_ids == {"train.request", "tune.request"}
    tuning = daily.get_task("tune.tuning_job")
    assert tuning.operator_class.__name__ == "SageMakerTuningOperator"
    assert tuning.partial_kwargs["deferrable"] is True
    joined = daily.get_task("trained")
    assert joined.upstream_task_ids == {"train.collect", "tune.collect", "prepare"}
    assert joined.trigger_rule == "none_failed_min_one_success"
    assert daily.get_task("evaluate.request").upstream_task_ids == {"trained"}
    request = daily.get_task("baseline.request")
    assert request.upstream_task_ids == {"auto_approved", "record_approval"}
    assert request.trigger_rule == "none_failed_min_one_success"
    # deploy is the serving task group on aws; it starts from the baseline's result
    assert daily.get_task("deploy.request").upstream_task_ids == {"baseline.collect"}
    monitor = _dag("reviews_drift_monitor", "aws", monkeypatch)
    # the monitor group opens with the wait for a Model Monitor report (skipped for airsage's own)
    report_wait = {"report", "report_route", "wait_report"}
    assert {t.task_id for t in monitor.tasks} == \
        {f"monitor.{p}" for p in (*GROUP, *report_wait)} | {"signal_drift"}
    assert monitor.get_task("signal_drift").upstream_task_ids == {"monitor.collect"}


def test_locally_the_job_steps_stay_the_same_single_tasks(monkeypatch) -> None:
    steps = ml_job_steps("local")
    assert (steps.bias_gate, steps.train, steps.evaluate, steps.monitor) == (
        tasks.bias_gate, tasks.train, tasks.evaluate, tasks.monitor)
    daily = _dag("reviews_daily", "local", monkeypatch)
    assert {"bias_gate", "train", "evaluate", "baseline"} <= {t.task_id for t in daily.tasks}
    assert not [t.task_id for t in daily.tasks if "." in t.task_id]
    assert daily.get_task("baseline").upstream_task_ids == {"auto_approved", "record_approval"}
    assert daily.get_task("baseline").trigger_rule == "none_failed_min_one_success"
    with pytest.raises(ValueError, match="'gcp' is not a target"):
        ml_job_steps("gcp")


def _request(script: str = "/worker-a/include/jobs/bias.py", **changes: Any) -> JobRequest:
    fields: dict[str, Any] = {
        "kind": "processing", "job_name": "reviews-20260210-bias-gate", "script": script,
        "inputs": {"data": "curated/reviews/dt=2026-02-10/reviews.parquet"},
        "outputs": {"analysis": "reports/bias/reviews/dt=2026-02-10/"}, "config": {"a": 1}}
    fields.update(changes)
    return JobRequest(**fields)


def test_the_request_runner_stops_the_step_even_through_a_broad_except() -> None:
    request = _request()

    def step() -> str:
        try:
            RequestRecorder().run(object(), request)  # type: ignore[arg-type]
        except Exception:  # a step's own error handling must not swallow the stop
            return "swallowed"
        return "finished"

    with pytest.raises(JobRequested) as stopped:
        step()
    assert stopped.value.request is request
    with pytest.raises(JobRequested):
        RequestRecorder().attempt(object(), request)  # type: ignore[arg-type]


class _Describing:
    """A SageMaker client that knows one completed processing job."""

    def __init__(self, name: str) -> None:
        self.name = name

    def describe_processing_job(self, ProcessingJobName: str) -> dict[str, Any]:
        assert ProcessingJobName == self.name
        return {"ProcessingJobName": self.name, "ProcessingJobStatus": "Completed"}


def test_the_collect_runner_answers_only_the_recorded_request_with_its_own_job(lake) -> None:
    recorded = _request()
    lake.write_bytes(recorded.outputs["analysis"] + "analysis.json", b"{}")
    runner = CompletedJob(recorded, recorded.job_name + "-r2", _Describing(recorded.job_name + "-r2"))
    # the same request computed on another worker (another checkout path) is the same request
    outcome = runner.run(lake, _request(script="/worker-b/include/jobs/bias.py"))
    assert (outcome.job_name, outcome.output_keys) == (
        recorded.job_name + "-r2", (recorded.outputs["analysis"] + "analysis.json",))
    with pytest.raises(StepFailed, match="clear the whole task group"):
        runner.run(lake, _request(config={"a": 2}))
    other = CompletedJob(recorded, "reviews-20260210-evaluate-candidate", _Describing("x"))
    with pytest.raises(StepFailed, match="the job that ran is reviews-20260210-evaluate-candidate"):
        other.attempt(lake, recorded)
