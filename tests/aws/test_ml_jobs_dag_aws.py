"""The job steps on the aws target under dag.test() against moto: bias_gate → prepare → train →
evaluate, with the task groups ``airsage.airflow.aws_jobs`` builds for the DAGs.

moto runs no container (its jobs are ``Completed`` on creation and write nothing), so the
test first runs the *same* job requests with the local runner on a local lake (the real
``include/jobs/`` scripts on the same generated day) and states each job's files as what
that SageMaker job writes when it is created (moto_ext's ``state_job_end``). Everything
else is the aws target's: the requests, staging, Create*Job calls, the provider's
operators (deferred), re-attach, and each step's collect over S3.

The DAG is ``dags/reviews_daily.py`` parsed for aws, from ingest to evaluate (the data plane
seeded as in test_daily_dag_aws.py), with the aws engines throughout: ``curate`` reads the
raw partition from moto's S3 through the Glue catalog's ``partition_relation``, and
``train.collect`` tracks the job in SageMaker's registry (experiments by job ARN).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, ROLE, client, sagemaker_jobs

from airsage.jobs.request import JobOutcome, JobRequest
from airsage.lake.layout import LakeLayout

DAY = "2026-02-10"
STEPS = ("bias_gate", "train", "evaluate")
PREFIX = LAKE_ROOT.split("/", 3)[3]


class _Recording:
    """The local runner, remembering each request it ran (to state the SageMaker job's ends)."""

    def __init__(self, runner: Any) -> None:
        self.runner, self.requests = runner, []

    def run(self, lake: Any, request: JobRequest, **kwargs: Any) -> JobOutcome:
        self.requests.append(request)
        return self.runner.run(lake, request, **kwargs)

    def attempt(self, lake: Any, request: JobRequest, **kwargs: Any) -> JobOutcome:
        self.requests.append(request)
        return self.runner.attempt(lake, request, **kwargs)


def _local_jobs(tmp_path: Path, aws_settings: Any) -> tuple[Any, list[JobRequest]]:
    """Land, curate, bias, prepare, train and evaluate the day locally with the real scripts;
    return the local lake and the job requests (computed from the aws settings, as the
    DAG's steps compute them)."""
    from airsage.bias.gate import run_bias_gate
    from airsage.catalog.local import LocalCatalog
    from airsage.config import load_settings
    from airsage.evaluation.step import evaluate_model
    from airsage.ingest import ensure_partition
    from airsage.jobs.local import LocalJobRunner
    from airsage.lake.local import LocalLake
    from airsage.prepare.curate import curate_partition
    from airsage.prepare.prepare import prepare_dataset
    from airsage.training.step import train_model

    local = load_settings(environ={}, overrides={
        "home": str(tmp_path / "local"), "lake": {"root": str(tmp_path / "lake")},
        "ingest": {"generator": {"rows_per_day": 200}}})
    lake = LocalLake(local)
    ensure_partition(local, lake, "reviews", DAY)
    curated = curate_partition(local, lake, "reviews", DAY,
                               LocalCatalog(local).partition_relation(lake, "reviews", DAY))
    runner = _Recording(LocalJobRunner(local, jobs_dir=tmp_path / "jobs"))
    # the requests are the aws settings' (a pure function of settings and day): same scripts
    run_bias_gate(aws_settings, lake, "reviews", DAY, data_key=curated.key, runner=runner)
    prepare_dataset(aws_settings, lake, "reviews", DAY)
    trained = train_model(aws_settings, lake, "reviews", DAY, runner=runner,
                          hyperparameters={"model_family": "tfidf_linear"})
    evaluate_model(aws_settings, lake, "reviews", DAY, str(trained.model_artifact_key),
                   runner=runner)
    return lake, runner.requests


def _state_job_ends(server: Any, lake: Any, requests: list[JobRequest], *,
                    suffix: str = "") -> None:
    """Each job writes, when created, the files its script wrote locally (a training job's
    model.tar.gz where SageMaker puts it: <S3OutputPath>/<job name>/output/)."""
    for request in requests:
        name = request.job_name + suffix
        keys = list(request.outputs.values())
        if request.kind == "training":
            keys = [LakeLayout("reviews").model_artifact(name)]
            objects = {f"{BUCKET}/{PREFIX}/{keys[0]}": lake.read_bytes(request.outputs["model"])}
        else:
            objects = {f"{BUCKET}/{PREFIX}/{key}": lake.read_bytes(key)
                       for prefix in keys for key in lake.list(prefix)}
        server.state_job_end(name, objects=objects)


ML_PLANE = re.compile(
    r"^(ingest|curate|prepare|(crawl|validate_sql|quality_gate|bias_gate|train|evaluate)\..+)$")


@pytest.fixture
def moto_server() -> Iterator[Any]:
    """A moto server of each test's own (not the module's, reset between tests): with the
    module's, the second test's run hung in a HEAD request that moto never answered, after
    the first test's runs and moto's reset (moto's server, not airsage, stopped answering)."""
    from moto_fixtures import running_moto

    yield from running_moto()


@pytest.fixture
def ml_run(aws_env, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """reviews_daily parsed for aws, its subset from ingest to evaluate, and each job's end
    stated (the day's data plane seeded as in test_daily_dag_aws)."""
    from test_daily_dag_aws import crawled_table, seed_athena, state_rule_outcomes

    env = {"AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": LAKE_ROOT,
           "AIRSAGE_HOME": str(tmp_path / "home"), "AIRSAGE__AWS__ROLE_ARN": ROLE,
           "AIRSAGE__AWS__REGION": "us-east-1", "AIRSAGE__AWS__JOBS__POLL_SECONDS": "1",
           "AIRSAGE__INGEST__GENERATOR__ROWS_PER_DAY": "200",
           # curate's DuckDB reads the raw partition from moto's S3 (see the module doc)
           "AIRSAGE__LAKE__ENDPOINT_URL": aws_env.url,
           # no feature store here: moto has no sagemaker-featurestore-runtime (PutRecord) and
           # its Athena runs no SQL, so prepare writes the channels directly, as before the store;
           # tests/features tests the aws feature store's calls on moto and with Stubber
           "AIRSAGE__FEATURES__ENABLED": "false"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from airsage.airflow.runner import load_dag
    from airsage.config import load_settings

    settings = load_settings()
    crawled_table(settings)
    seed_athena(aws_env, settings, {})
    state_rule_outcomes(aws_env, settings)
    lake, requests = _local_jobs(tmp_path, settings)
    _state_job_ends(aws_env, lake, requests)
    dag = load_dag("reviews_daily")
    subset = dag.partial_subset(task_ids=[t.task_id for t in dag.tasks if ML_PLANE.match(t.task_id)],
                                include_upstream=True, include_downstream=False)
    return {"dag": subset, "full_dag": dag, "requests": {r.script.rsplit("/", 1)[-1]: r for r in requests},
            "lake": lake, "settings": settings}


def _run(ml_run: dict[str, Any]) -> Any:
    from airsage.airflow.runner import run_dag

    return run_dag("reviews_daily", dag=ml_run["dag"], partition=DAY)


def test_bias_prepare_train_evaluate_run_as_sagemaker_jobs_and_reattach_on_rerun(
        ml_run, aws_env, monkeypatch) -> None:
    requests = ml_run["requests"]
    bias, train, evaluate = requests["bias.py"], requests["train.py"], requests["evaluate.py"]
    summary = _run(ml_run)
    assert not summary.failed_tasks, summary.task_states
    for step in STEPS:
        assert summary.task_states[f"{step}.job"] == "success", step
        assert summary.task_states[f"{step}.wait"] == "skipped", step
        assert summary.task_states[f"{step}.collect"] == "success", step
    assert sagemaker_jobs() == {"processing": sorted([bias.job_name, evaluate.job_name]),
                       "training": [train.job_name]}
    # the same results as the local steps return, read back from S3
    assert summary.xcoms["bias_gate.collect"]["status"] in ("pass", "warn")
    trained = summary.xcoms["train.collect"]
    model_key = LakeLayout("reviews").model_artifact(train.job_name)
    assert trained["model_artifact_key"] == model_key  # where register and deploy look
    assert trained["model_artifact_uri"] == f"{LAKE_ROOT}/{model_key}"
    assert trained["tracking_runs"] == {train.job_name: trained["tracking_runs"][train.job_name]}
    evaluated = summary.xcoms["evaluate.collect"]
    assert evaluated["model_artifact_key"] == model_key
    assert evaluated["evaluation"]["metadata"]["test_split"] == f"features/reviews/dt={DAY}/test/"
    job = client("sagemaker").describe_training_job(TrainingJobName=train.job_name)
    assert {c["ChannelName"] for c in job["InputDataConfig"]} == {"train", "validation"}
    processing = client("sagemaker").describe_processing_job(ProcessingJobName=evaluate.job_name)
    assert {i["InputName"] for i in processing["ProcessingInputs"]} >= {"code", "config", "model",
                                                                          "test"}

    # A rerun (or a retry) asks SageMaker first: completed jobs are collected, the training
    # job said to be running is waited for, deferred; no second job of any step.
    import airsage.jobs.reattach as reattach

    real = reattach.sagemaker_status

    def training_running(client_: Any, kind: str) -> Any:
        status_of = real(client_, kind)
        return lambda name: "InProgress" if name == train.job_name else status_of(name)

    monkeypatch.setattr(reattach, "sagemaker_status", training_running)
    again = _run(ml_run)
    assert not again.failed_tasks, again.task_states
    # the wait operator always defers (SageMakerTrigger), so its success is the trigger's
    assert again.task_states["train.wait"] == "success"
    assert again.task_states["bias_gate.wait"] == again.task_states["evaluate.wait"] == "skipped"
    for step in STEPS:
        assert again.task_states[f"{step}.job"] == "skipped", step
        assert again.task_states[f"{step}.collect"] == "success", step
    assert again.xcoms["evaluate.collect"]["evaluation"] == evaluated["evaluation"]
    assert sagemaker_jobs() == {"processing": sorted([bias.job_name, evaluate.job_name]),
                       "training": [train.job_name]}


def test_a_stopped_bias_job_is_replaced_by_an_r2_attempt_on_the_next_run(ml_run, aws_env) -> None:
    bias = ml_run["requests"]["bias.py"]
    first = _run(ml_run)
    assert not first.failed_tasks, first.task_states
    client("sagemaker").stop_processing_job(ProcessingJobName=bias.job_name)
    _state_job_ends(aws_env, ml_run["lake"], [bias], suffix="-r2")

    again = _run(ml_run)
    assert not again.failed_tasks, again.task_states
    assert again.task_states["bias_gate.job"] == "success"
    assert again.task_states["train.job"] == "skipped"
    assert [name for name in sagemaker_jobs()["processing"] if "bias" in name] == [
        bias.job_name, f"{bias.job_name}-r2"]
    assert again.xcoms["bias_gate.collect"]["verdict"] == first.xcoms["bias_gate.collect"]["verdict"]


def test_with_the_tuning_param_train_runs_a_sagemaker_tuning_job_and_trained_joins_its_best(
        ml_run, aws_env) -> None:
    """tuning=True: ``train_mode`` picks the ``tune`` group (the training job's definition as
    the ``train`` group would send it), ``trained`` returns the best trial tracked as the
    local train task tracks a tuning run. moto tunes nothing: the test states the trials."""
    from airsage.airflow.runner import run_dag
    from airsage.tuning.step import tuning_request

    settings = ml_run["settings"]
    layout = LakeLayout("reviews")
    request = tuning_request(settings, "reviews", DAY,
                             {s: layout.features(DAY, s) for s in ("train", "validation")},
                             max_jobs=2, hyperparameters={"model_family": "tfidf_linear"})
    aws_env.state_tuning(request.tuning_job_name, trials=[
        {"hyperparameters": {"C": "0.5"}, "objective": 0.58},
        {"hyperparameters": {"C": "3.0"}, "objective": 0.66}])
    subset = ml_run["dag"].partial_subset(task_ids=["trained"], include_upstream=True,
                                          include_downstream=False)
    summary = run_dag("reviews_daily", dag=subset, partition=DAY,
                      conf={"tuning": True, "max_jobs": 2})
    assert not summary.failed_tasks, summary.task_states
    assert summary.task_states["train.request"] == "skipped"
    assert summary.task_states["tune.tuning_job"] == "success"
    sent = client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=request.tuning_job_name)
    definition = sent["TrainingJobDefinition"]
    # the training definition is the train group's own training job (jobs/aws.py): same image
    assert "sagemaker-scikit-learn:1.9-0" in definition["AlgorithmSpecification"]["TrainingImage"]
    assert definition["StaticHyperParameters"]["model_family"] == "tfidf_linear"
    trained = summary.xcoms["trained"]
    best = sent["BestTrainingJob"]["TrainingJobName"]
    assert trained["job_name"] == best and trained["tuning"]["best_value"] == 0.66
    assert trained["model_artifact_key"] == layout.model_artifact(best)
    assert best in trained["tracking_runs"]


def test_the_evaluation_jobs_evaluation_json_drives_the_condition_and_the_model_registry(
        ml_run, aws_env, monkeypatch, capsys) -> None:
    """register on aws: the blessing reads the evaluation job's evaluation.json from S3 (the
    files the test stated as that job's output), and only a blessed model becomes a model
    package, through SageMakerRegisterModelVersionOperator: a threshold the candidate misses
    registers none, one it meets registers it. Once a champion exists, ``champion_evaluation``
    evaluates it with its own processing job (deferred), and ``register`` reads that job's
    report; no task runs a SageMaker job synchronously."""
    from airsage.airflow.runner import run_dag
    from airsage.jobs import aws as jobs_aws
    from airsage.jobs.request import job_name

    def no_blocking_job(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a task ran a SageMaker job synchronously (SageMakerJobRunner)")

    monkeypatch.setattr(jobs_aws.SageMakerJobRunner, "run", no_blocking_job)
    monkeypatch.setattr(jobs_aws.SageMakerJobRunner, "attempt", no_blocking_job)
    subset = ml_run["full_dag"].partial_subset(task_ids=["register.collect"],
                                               include_upstream=True, include_downstream=False)
    lake = ml_run["lake"]
    candidate_prefix = f"reports/evaluation/reviews/dt={DAY}/candidate/"
    evaluated = json.loads(lake.read_bytes(candidate_prefix + "evaluation.json"))
    accuracy = evaluated["multiclass_classification_metrics"]["accuracy"]["value"]
    sagemaker = client("sagemaker")

    # first a threshold the candidate misses: evaluation.json's accuracy is what is compared
    capsys.readouterr()
    refused = run_dag("reviews_daily", dag=subset, partition=DAY,
                      conf={"accuracy_threshold": min(1.0, accuracy + 0.01), "auto_approve": True})
    assert not refused.failed_tasks, refused.task_states
    # no champion yet: the champion's job is skipped, and its request's log says why
    assert refused.task_states["champion_evaluation.job"] == "skipped"
    assert refused.task_states["champion_evaluation.wait"] == "skipped"
    assert refused.xcoms["champion_evaluation.collect"]["champion"] is None
    assert "no Approved version yet: there is no champion to evaluate" in capsys.readouterr().out
    assert refused.task_states["register.model_package"] == "skipped"
    assert refused.xcoms["register.collect"]["blessed"] is False
    failed = refused.xcoms["register.collect"]["blessing"]["failures"]
    assert any(f["measured"] == pytest.approx(accuracy) for f in failed), failed
    groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert not [g for g in groups if sagemaker.list_model_packages(
        ModelPackageGroupName=g["ModelPackageGroupName"])["ModelPackageSummaryList"]]

    # then one it meets (no champion yet): blessed, and a model package in the registry
    blessed = run_dag("reviews_daily", dag=subset, partition=DAY,
                      conf={"accuracy_threshold": 0.0, "auto_approve": True})
    assert not blessed.failed_tasks, blessed.task_states
    assert blessed.task_states["register.model_package"] == "success"  # the provider's operator
    registered = blessed.xcoms["register.collect"]
    assert registered["blessed"] is True
    group = registered["model_version"]["name"]
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert len(packages) == 1 and packages[0]["ModelApprovalStatus"] == "Approved"
    package = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert statistics.startswith(LAKE_ROOT) and statistics.endswith("evaluation.json")
    # the operator's extras carry airsage's container (not the operator's text/csv default)
    specification = package["InferenceSpecification"]
    assert specification["SupportedContentTypes"] == ["application/json"]
    assert specification["Containers"][0]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert package["CustomerMetadataProperties"]["lineage.partition_day"] == DAY
    assert blessed.xcoms["register.collect"]["approval_markdown"]

    # v1 is now the champion: its evaluation is a processing job of its own, named after it;
    # the job writes, when created, what the evaluation script writes for that model (the
    # champion is this run's own model here, so the candidate's documents)
    model_key = registered["model_version"]["tags"]["lineage.model_artifact_key"]
    champion_job = job_name("reviews", DAY, "evaluate-champion", f"{group} v1 {model_key}")
    aws_env.state_job_end(champion_job, objects={
        f"{BUCKET}/{PREFIX}/{key.replace('/candidate/', '/champion/')}": lake.read_bytes(key)
        for key in lake.list(candidate_prefix)})
    again = run_dag("reviews_daily", dag=subset, partition=DAY,
                    conf={"accuracy_threshold": 0.0, "auto_approve": True})
    assert not again.failed_tasks, again.task_states
    assert again.task_states["champion_evaluation.job"] == "success"  # deferred, then collected
    job = sagemaker.describe_processing_job(ProcessingJobName=champion_job)
    model_input = next(i for i in job["ProcessingInputs"] if i["InputName"] == "model")
    assert model_input["S3Input"]["S3Uri"] == f"{LAKE_ROOT}/{model_key}"
    champion = again.xcoms["champion_evaluation.collect"]
    assert champion["champion"]["version"] == "1"
    assert champion["report"]["report_key"] == \
        f"reports/evaluation/reviews/dt={DAY}/champion/evaluation.json"
    result = again.xcoms["register.collect"]
    assert result["champion_version"]["version"] == "1"
    assert result["blessing"]["champion"]["report_key"] == champion["report"]["report_key"]
    # the same model as the champion is no better than it: refused, nothing registered
    assert result["blessed"] is False
    assert [f["check"] for f in result["blessing"]["failures"]] == ["champion_bootstrap_macro_f1"], result
    assert again.task_states["register.model_package"] == "skipped"
    assert len(sagemaker.list_model_packages(
        ModelPackageGroupName=group)["ModelPackageSummaryList"]) == 1
