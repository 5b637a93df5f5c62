"""The tuning path of ``train`` on aws: a task group under dag.test() against moto's SageMaker.

moto tunes nothing: its tuning job is Completed on creation and it runs no training job (see
moto_ext.py). So each test states the trials SageMaker would have run (their tuned
hyperparameters, objective values and statuses) through the moto extension, which records
them as the tuning job's training jobs; a completed trial leaves a marker where its
``model.tar.gz`` would be. What is asserted is airsage's side: the request SageMaker
received (strategy, the shared space's ranges, objective, early stopping, warm start), that
a retry never starts a second tuning job, and that the best trial's model is where evaluate,
register and deploy read it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, REGION, ROLE, client

from airsage.errors import StepFailed
from airsage.lake.layout import LakeLayout

DAY, NEXT_DAY = "2024-04-01", "2024-04-02"
_spec = importlib.util.spec_from_file_location(
    "tuning_aws_training_job", Path(__file__).resolve().parents[1] / "tuning" / "aws_training_job.py")
assert _spec and _spec.loader
training_job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(training_job)

TRIALS = [
    {"hyperparameters": {"C": "0.1", "max_features": "5000", "ngram_max": "1"}, "objective": 0.61},
    {"hyperparameters": {"C": "2.5", "max_features": "30000", "ngram_max": "2"}, "objective": 0.74},
    {"hyperparameters": {"C": "9.0", "max_features": "48000", "ngram_max": "2"}, "status": "Stopped"},
    {"hyperparameters": {"C": "0.02", "max_features": "2000", "ngram_max": "1"}, "status": "Failed",
     "failure_reason": "AlgorithmError: out of memory"},
]


@pytest.fixture
def tuning_env(aws_env, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The aws target's settings in the environment (tasks read them), and the day's features."""
    env = {"AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": LAKE_ROOT, "AIRSAGE_HOME": str(tmp_path / "home"),
           "AIRSAGE__AWS__ROLE_ARN": ROLE, "AIRSAGE__AWS__REGION": REGION}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from airsage.config import load_settings

    settings = load_settings()
    for day in (DAY, NEXT_DAY):
        for split in ("train", "validation"):
            key = f"prod/{LakeLayout('reviews').features(day, split)}part-0.parquet"
            client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"PAR1")
    return settings


def request_of(settings: Any, day: str = DAY, **kwargs: Any) -> Any:
    """The day's TuningRequest, as the group's request task builds it."""
    from airsage.tuning.step import tuning_request

    layout = LakeLayout("reviews")
    return tuning_request(settings, "reviews", day,
                          {split: layout.features(day, split) for split in ("train", "validation")},
                          hyperparameters={"model_family": "tfidf_linear"}, **kwargs)


def _training_config(settings: Any, request: Any) -> dict[str, Any]:
    return training_job.create_training_job_kwargs(request)


# dag.test() runs a DAG that a bundle holds: the test DAG is a file of a bundle of its own.
DAG_ID = "airsage_tuning_moto"
DAG_FILE = f"""
import importlib.util

from airflow.sdk import DAG, task

from airsage.airflow.aws_tuning import tuning_group

_spec = importlib.util.spec_from_file_location("tuning_aws_training_job", {str(_spec.origin)!r})
training_job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(training_job)


def training_config(settings, request):
    return training_job.create_training_job_kwargs(request)


with DAG({DAG_ID!r}, schedule=None, params={{"day": {DAY!r}}}) as dag:
    @task(task_id="prepare")
    def prepare(**context):  # stands in for the prepare step: the day
        return {{"day": context["params"]["day"]}}

    tuning_group(prepare(), training_config=training_config)
"""


@pytest.fixture
def tuning_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test DAG: the tuning group after a stand-in for prepare, in a bundle of its own."""
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "airsage_tuning_moto.py").write_text(DAG_FILE)
    bundles = [{"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {}},
               {"name": "airsage-tuning-tests",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(folder), "refresh_interval": 0}}]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    spec = importlib.util.spec_from_file_location("airsage_tuning_moto_dag",
                                                  folder / "airsage_tuning_moto.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run_tuning(dag: Any, day: str = DAY) -> Any:
    from airsage.airflow.runner import run_dag

    return run_dag(DAG_ID, dag=dag, conf={"day": day})


def tuning_jobs() -> list[str]:
    found = client("sagemaker").list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    return sorted(s["HyperParameterTuningJobName"] for s in found)


def describe(name: str) -> dict[str, Any]:
    return client("sagemaker").describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def test_the_tuning_job_has_the_shared_space_and_its_best_model_lands_where_the_next_steps_read(
        tuning_env, aws_env, tuning_dag) -> None:
    request = request_of(tuning_env)
    aws_env.state_tuning(request.tuning_job_name, trials=TRIALS)
    summary = run_tuning(tuning_dag)
    assert summary.state == "success", summary.task_states
    assert summary.task_states["tune.tuning_job"] == "success"
    assert summary.task_states["tune.tuning_wait"] == "skipped"
    assert tuning_jobs() == [request.tuning_job_name]

    sent = describe(request.tuning_job_name)
    config = sent["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["ParameterRanges"] == request.search_space().parameter_ranges_dict()
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize", "MetricName": "validation:macro_f1"}
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 1}
    static = sent["TrainingJobDefinition"]["StaticHyperParameters"]
    assert {"C", "max_features", "ngram_max"}.isdisjoint(static) and static["model_family"] == "tfidf_linear"
    assert "WarmStartConfig" not in sent  # the first tuning job of the dataset has no parent

    result = summary.xcoms["tune.collect"]
    best = sent["BestTrainingJob"]["TrainingJobName"]
    assert best.startswith(f"{request.tuning_job_name}-002-")
    key = LakeLayout("reviews").model_artifact(best)
    assert result["job_name"] == best and result["model_artifact_key"] == key
    assert result["model_artifact_uri"] == f"{LAKE_ROOT}/{key}"
    assert client("s3").get_object(Bucket=BUCKET, Key=f"prod/{key}")["Body"].read() == \
        f"airsage moto extension: the model of {best}".encode()
    assert result["final_metrics"] == {"validation:macro_f1": 0.74}
    assert result["hyperparameters"]["C"] == "2.5"
    assert result["hyperparameters"]["model_family"] == "tfidf_linear"
    tuning = result["tuning"]
    assert tuning["tuning_job_name"] == request.tuning_job_name and tuning["best_value"] == 0.74
    assert [(t["number"], t["state"], t["objective_value"]) for t in tuning["trials"]] == [
        (0, "Completed", 0.61), (1, "Completed", 0.74), (2, "Stopped", None), (3, "Failed", None)]
    report = client("s3").get_object(Bucket=BUCKET, Key=f"prod/{request.report_key}")["Body"].read()
    report = json.loads(report)
    assert report == tuning  # the same tuning_result.json the local tuner leaves


def test_the_next_day_warm_starts_from_the_previous_tuning_job(tuning_env, aws_env, tuning_dag) -> None:
    first, second = request_of(tuning_env, DAY), request_of(tuning_env, NEXT_DAY)
    aws_env.state_tuning(first.tuning_job_name, trials=TRIALS)
    aws_env.state_tuning(second.tuning_job_name, trials=TRIALS[:2])
    assert run_tuning(tuning_dag, DAY).state == "success"
    summary = run_tuning(tuning_dag, NEXT_DAY)
    assert summary.state == "success", summary.task_states
    assert describe(second.tuning_job_name)["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": first.tuning_job_name}],
        "WarmStartType": "TransferLearning"}  # a new day: a new data window
    assert summary.xcoms["tune.collect"]["tuning"]["warm_start_parents"] == [first.tuning_job_name]


def test_a_retried_tuning_task_collects_its_tuning_job_instead_of_starting_a_second(
        tuning_env, aws_env, tuning_dag) -> None:
    request = request_of(tuning_env)
    aws_env.state_tuning(request.tuning_job_name, trials=TRIALS)
    first = run_tuning(tuning_dag)
    again = run_tuning(tuning_dag)  # a retry (or a rerun of the day) asks SageMaker first
    assert again.state == "success", again.task_states
    assert again.task_states["tune.tuning_job"] == "skipped"
    assert again.task_states["tune.tuning_wait"] == "skipped"
    assert tuning_jobs() == [request.tuning_job_name]
    assert again.xcoms["tune.collect"]["model_artifact_key"] == \
        first.xcoms["tune.collect"]["model_artifact_key"]


@pytest.mark.parametrize("ended", ["Failed", "Stopped"])
def test_a_failed_or_stopped_tuning_job_is_replaced_by_an_attempt_with_a_visible_suffix(
        tuning_env, aws_env, tuning_dag, ended) -> None:
    request = request_of(tuning_env)
    retry = f"{request.tuning_job_name}-r2"
    aws_env.state_tuning(request.tuning_job_name, trials=TRIALS[:1], status=ended,
                         failure_reason=f"the test {ended.lower()} it")
    aws_env.state_tuning(retry, trials=TRIALS)
    first = run_tuning(tuning_dag)
    # the job ended badly: the deferred operator's trigger says so and the task fails
    assert first.task_states["tune.tuning_job"] == "failed"
    assert first.task_states["tune.collect"] == "upstream_failed"
    again = run_tuning(tuning_dag)
    assert again.state == "success", again.task_states
    assert again.task_states["tune.tuning_job"] == "success"
    assert tuning_jobs() == [request.tuning_job_name, retry] and len(retry) <= 32
    assert describe(request.tuning_job_name)["HyperParameterTuningJobStatus"] == ended
    assert describe(retry)["HyperParameterTuningJobStatus"] == "Completed"
    assert again.xcoms["tune.collect"]["tuning"]["tuning_job_name"] == retry
    # the retry is not its own failed first attempt's warm-start child
    assert "WarmStartConfig" not in describe(retry)


def test_a_tuning_job_still_running_is_waited_for_deferred_not_submitted_again(
        tuning_env, aws_env, tuning_dag, monkeypatch) -> None:
    """moto's tuning jobs are Completed as soon as they exist, so the lookup is told the job
    is InProgress when the step decides; the wait then defers to the provider's
    SageMakerTrigger (job_type="tuning"), whose waiter reads moto's Completed answer."""
    import airsage.jobs.reattach as reattach
    import airsage.tuning.aws as tuning_aws

    request = request_of(tuning_env)
    aws_env.state_tuning(request.tuning_job_name, trials=TRIALS)
    config = tuning_aws.tuning_job_config(_training_config(tuning_env, request.training), request)
    client("sagemaker").create_hyper_parameter_tuning_job(**config)
    real = reattach.sagemaker_status

    def still_running(client_: Any, kind: str) -> Any:
        status_of = real(client_, kind)
        return lambda name: "InProgress" if name == request.tuning_job_name else status_of(name)

    monkeypatch.setattr(tuning_aws, "sagemaker_status", still_running)
    summary = run_tuning(tuning_dag)
    assert summary.state == "success", summary.task_states
    assert summary.task_states["tune.tuning_job"] == "skipped"
    assert summary.task_states["tune.tuning_wait"] == "success"
    assert tuning_jobs() == [request.tuning_job_name]


# -- the pieces, without Airflow ----------------------------------------------------------------


def _create(settings: Any, day: str, trials: list[dict[str, Any]], aws_env: Any, **kwargs: Any) -> str:
    """A tuning job of ``day`` in moto, its trials stated."""
    from airsage.tuning.aws import tuning_job_config

    request = request_of(settings, day, **kwargs)
    aws_env.state_tuning(request.tuning_job_name, trials=trials)
    config = tuning_job_config(_training_config(settings, request.training), request)
    client("sagemaker").create_hyper_parameter_tuning_job(**config)
    return request.tuning_job_name


def test_the_warm_start_parent_is_the_newest_earlier_matching_job_of_the_dataset(
        tuning_env, aws_env, monkeypatch) -> None:
    import airsage.tuning.aws as tuning_aws
    from airsage.config import load_settings
    from airsage.tuning.aws import previous_tuning_job, tuning_job_config

    monkeypatch.setattr(tuning_aws, "PAGE_SIZE", 1)  # one job a page: every page is read

    _create(tuning_env, "2024-03-30", TRIALS[:1], aws_env)
    newest = _create(tuning_env, "2024-03-31", TRIALS[:1], aws_env)
    _create(tuning_env, "2024-04-05", TRIALS[:1], aws_env)  # a later day: never a parent
    c_as_categorical = load_settings(overrides={"tuning": {"parameter_ranges": {
        "C": {"type": "Categorical", "values": ["0.1", "1"]},
        "max_features": {"type": "Integer", "min": 2000, "max": 50000},
        "ngram_max": {"type": "Categorical", "values": ["1", "2"]}}}})
    mismatched = _create(c_as_categorical, DAY, TRIALS[:1], aws_env)  # SageMaker would refuse it
    today = _create(tuning_env, DAY, TRIALS[:1], aws_env)  # this very job: not its own parent

    request = request_of(tuning_env, DAY)
    config = tuning_job_config(_training_config(tuning_env, request.training), request)
    warm = previous_tuning_job(client("sagemaker"), config, base=request.tuning_job_name)
    assert warm is not None and warm.parents == (newest,) and warm.type == "TransferLearning"
    assert mismatched not in warm.parents and today not in warm.parents

    # another tuning job of the same day (another budget) over the same data and image
    other = request_of(tuning_env, DAY, max_jobs=2)
    other_config = tuning_job_config(_training_config(tuning_env, other.training), other)
    warm = previous_tuning_job(client("sagemaker"), other_config, base=other.tuning_job_name)
    assert other.tuning_job_name != today
    assert warm is not None and warm.parents == (today,) and warm.type == "IdenticalDataAndAlgorithm"


def test_collect_copies_the_best_model_into_the_lake_when_sagemaker_wrote_it_elsewhere(
        tuning_env, aws_env, monkeypatch) -> None:
    import airsage.tuning.aws as tuning_aws
    from airsage.airflow.runtime import lake_for
    from airsage.tuning.aws import collect_sagemaker_tuning, tuning_job_config

    monkeypatch.setattr(tuning_aws, "PAGE_SIZE", 1)  # one trial a page: every page is read

    request = request_of(tuning_env)
    training = training_job.create_training_job_kwargs(
        request.training, output_path=f"s3://{BUCKET}/sagemaker-output")
    aws_env.state_tuning(request.tuning_job_name, trials=TRIALS)
    client("sagemaker").create_hyper_parameter_tuning_job(**tuning_job_config(training, request))
    lake = lake_for(tuning_env)
    result = collect_sagemaker_tuning(client("sagemaker"), client("s3"), lake, request)
    key = LakeLayout("reviews").model_artifact(result.best.job_name)
    assert result.best.model_artifact_key == key and lake.exists(key)
    assert len(result.trials) == len(TRIALS) and result.best_value == 0.74
    assert client("s3").get_object(Bucket=BUCKET, Key=f"sagemaker-output/{result.best.job_name}/output/"
                                   "model.tar.gz")["Body"].read() == lake.read_bytes(key)


def test_a_best_model_sagemaker_did_not_write_fails_collect_naming_it(tuning_env, aws_env) -> None:
    from airsage.airflow.runtime import lake_for
    from airsage.tuning.aws import collect_sagemaker_tuning, tuning_job_config

    request = request_of(tuning_env)
    training = training_job.create_training_job_kwargs(
        request.training, output_path=f"s3://{BUCKET}/sagemaker-output")
    aws_env.state_tuning(request.tuning_job_name, trials=TRIALS)
    client("sagemaker").create_hyper_parameter_tuning_job(**tuning_job_config(training, request))
    best = describe(request.tuning_job_name)["BestTrainingJob"]["TrainingJobName"]
    client("s3").delete_object(Bucket=BUCKET, Key=f"sagemaker-output/{best}/output/model.tar.gz")
    with pytest.raises(StepFailed, match=f"the best model s3://{BUCKET}/sagemaker-output/{best}/output/"
                                         r"model.tar.gz could not be copied to .*NoSuchKey"):
        collect_sagemaker_tuning(client("sagemaker"), client("s3"), lake_for(tuning_env), request)


def test_a_tuning_job_without_a_completed_trial_fails_collect_naming_every_trial(
        tuning_env, aws_env) -> None:
    from airsage.airflow.runtime import lake_for
    from airsage.tuning.aws import collect_sagemaker_tuning

    _create(tuning_env, DAY, TRIALS[2:], aws_env)
    with pytest.raises(StepFailed, match=r"without a best training job among its training jobs "
                                         r"\(1 NonRetryableError, 1 Stopped: "
                                         r".*-001-[0-9a-f]{8} Stopped, "
                                         r".*-002-[0-9a-f]{8} Failed: AlgorithmError: out of memory"):
        collect_sagemaker_tuning(client("sagemaker"), client("s3"), lake_for(tuning_env),
                                 request_of(tuning_env))


def test_list_training_jobs_for_a_tuning_job_pages_and_sorts_as_sagemaker(tuning_env, aws_env) -> None:
    name = _create(tuning_env, DAY, TRIALS, aws_env)
    sagemaker = client("sagemaker")
    page = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending",
        MaxResults=2)
    assert [s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
            for s in page["TrainingJobSummaries"]] == [0.74, 0.61]
    rest = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, NextToken=page["NextToken"], MaxResults=2,
        SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    assert len(rest["TrainingJobSummaries"]) == 2 and "NextToken" not in rest
    stopped = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, StatusEquals="Stopped")["TrainingJobSummaries"]
    assert [s["TrainingJobStatus"] for s in stopped] == ["Stopped"]
    counters = describe(name)["TrainingJobStatusCounters"]
    assert (counters["Completed"], counters["Stopped"], counters["NonRetryableError"]) == (2, 1, 1)
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
