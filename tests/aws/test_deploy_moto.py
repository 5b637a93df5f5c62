"""The aws ``deploy`` task group under dag.test() against moto (server mode, 127.0.0.1).

A small DAG — a ``baseline`` task handing over the version this run registered, then
:func:`airsage.airflow.aws_serving.deploy` — runs the provider's SageMaker operators with
``deferrable=True``; dag.test() runs the endpoint trigger in-process against moto. The
versions are registered in moto's Model Registry by ``SageMakerModelRegistry``. moto neither
shifts traffic nor evaluates alarms; ``moto_ext.py`` adds UpdateEndpoint (moto 5.2.5 answers
500) and, where a test says so, ends an update as SageMaker's automatic rollback does.
moto stores Application Auto Scaling's sagemaker targets and policies itself; ``moto_ext.py``
refuses an update that removes a registered variant, as SageMaker does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from aws_helpers import LAKE_ROOT, REGION, ROLE, client

ENDPOINT = "reviews-sentiment"
MODEL = "reviews-sentiment"
WHEN = dt.datetime(2026, 2, 12, 6, tzinfo=dt.UTC)


@pytest.fixture
def deploy_env(aws_env, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    env = {"AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": LAKE_ROOT,
           "AIRSAGE_HOME": str(tmp_path / "home"), "AIRSAGE__AWS__ROLE_ARN": ROLE,
           "AIRSAGE__AWS__REGION": REGION, "AIRSAGE__SERVING__TRAFFIC_SHIFT": "linear",
           "AIRSAGE__SERVING__LINEAR_STEPS": "4", "AIRSAGE__SERVING__BAKE_SECONDS": "120"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from airsage.config import load_settings
    from airsage.registry.aws import SageMakerModelRegistry

    settings = load_settings()
    assert settings.target == "aws"
    return SageMakerModelRegistry(settings)


def register(registry: Any, day: str, job: str, status: str = "Approved") -> dict[str, Any]:
    """A version as the register step leaves it (its lineage names its training job)."""
    lineage = {"dataset": "reviews", "partition_day": day, "training_job_name": job,
               "model_artifact_key": f"models/reviews/{job}/output/model.tar.gz"}
    evaluation = {"multiclass_classification_metrics": {"accuracy": {"value": 0.8}}}
    return registry.register(MODEL, "x", run_id=None, evaluation=evaluation, lineage=lineage,
                             status=status).to_dict()


def run_deploy(version: dict[str, Any], hours: int) -> Any:
    from airflow.sdk import DAG, task

    from airsage.airflow.aws_serving import deploy
    from airsage.airflow.runner import run_dag

    with DAG("airsage_test_aws_deploy", schedule=None, start_date=WHEN, catchup=False) as dag:
        @task(task_id="baseline")
        def baseline() -> dict[str, Any]:
            return {"model_version": version}

        deploy(baseline())
    write_to_db(dag)
    return run_dag(dag.dag_id, dag=dag, logical_date=WHEN + dt.timedelta(hours=hours))


def write_to_db(dag: Any) -> None:
    """Serialise the test's DAG into the metadata database, as the DAG processor does for the
    dags/ folder: dag.test() runs only DAGs the database knows (this one is not in dags/)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    with create_session() as session:
        update_dag_parsing_results_in_db("dags-folder", None, [LazyDeserializedDAG.from_dag(dag)],
                                         {}, None, set(), session=session)


def _deployed_events() -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(
            AssetModel.name == "reviews_sentiment_deployed"))
        return [] if asset is None else [e.extra for e in session.scalars(
            select(AssetEvent).where(AssetEvent.asset_id == asset.id).order_by(AssetEvent.id))]


def deploy_states(summary: Any) -> dict[str, str]:
    return {k.removeprefix("deploy."): v for k, v in summary.task_states.items()
            if k.startswith("deploy.")}


def serving(endpoint: dict[str, Any]) -> str:
    return str(endpoint["EndpointConfigName"])


def scaled_variants() -> dict[str, tuple[int, int, str]]:
    """Application Auto Scaling's sagemaker targets (moto's store, as sent): resource id →
    (min, max, the target-tracking policy's metric)."""
    autoscaling = client("application-autoscaling")
    policies = {p["ResourceId"]: p["TargetTrackingScalingPolicyConfiguration"]
                ["PredefinedMetricSpecification"]["PredefinedMetricType"]
                for p in autoscaling.describe_scaling_policies(
                    ServiceNamespace="sagemaker")["ScalingPolicies"]}
    return {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"], policies.get(t["ResourceId"], ""))
            for t in autoscaling.describe_scalable_targets(
                ServiceNamespace="sagemaker")["ScalableTargets"]}


def test_the_first_run_creates_the_endpoint_and_the_second_updates_it_blue_green(
        deploy_env, capsys) -> None:
    capsys.readouterr()
    first = run_deploy(register(deploy_env, "2026-02-10", "train-a"), 0)
    # the endpoint operator deferred (dag.test() then runs its trigger in-process: the task
    # could not succeed otherwise); dag.test()'s own "[DAG TEST]" lines are not asserted,
    # because a module that reconfigures logging earlier in the session silences them
    assert capsys.readouterr().out.count("Pausing task as DEFERRED") == 1
    assert deploy_states(first) == {
        "request": "success", "model": "success", "endpoint_config": "success",
        "endpoint": "success", "collect": "success"}, first.task_states
    assert first.xcoms["deploy.collect"]["action"] == "created"
    sagemaker = client("sagemaker")
    created = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert serving(created) == "reviews-sentiment-reviews-sentiment-v1"
    per_instance = "SageMakerVariantInvocationsPerInstance"
    assert scaled_variants() == {  # serving.autoscaling of the shipped config
        "endpoint/reviews-sentiment/variant/reviews-sentiment-v1": (1, 4, per_instance)}

    second = run_deploy(register(deploy_env, "2026-02-11", "train-b"), 1)
    assert deploy_states(second) == {
        "request": "success", "model": "success", "endpoint_config": "success",
        "endpoint": "success", "collect": "success"}, second.task_states
    assert second.xcoms["deploy.request"][0]["plan"]["action"] == "update"
    result = second.xcoms["deploy.collect"]
    assert (result["action"], result["model_version"]) == ("updated", "2")
    # each deployment emitted the model-deployed asset event batch scoring runs on
    assert _deployed_events()[-2:] == [
        {"model_name": "reviews-sentiment", "model_version": "1", "day": "2026-02-10"},
        {"model_name": "reviews-sentiment", "model_version": "2", "day": "2026-02-11"}]
    assert result["replaced_variants"] == ["reviews-sentiment-v1"]
    updated = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert updated["CreationTime"] == created["CreationTime"]  # updated, never recreated
    assert serving(updated) == "reviews-sentiment-reviews-sentiment-v2"
    deployment = updated["LastDeploymentConfig"]
    assert deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "LINEAR", "WaitIntervalInSeconds": 120,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}}
    alarms = [a["AlarmName"] for a in deployment["AutoRollbackConfiguration"]["Alarms"]]
    assert alarms == ["reviews-sentiment-reviews-sentiment-v2-5xx-rate",
                      "reviews-sentiment-reviews-sentiment-v2-p99-latency"]
    in_cloudwatch = client("cloudwatch").describe_alarms(AlarmNames=alarms)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in in_cloudwatch) == sorted(alarms)
    # the endpoint task released v1 before the update (moto_ext refuses it otherwise, as
    # SageMaker does); collect registered v2
    assert scaled_variants() == {
        "endpoint/reviews-sentiment/variant/reviews-sentiment-v2": (1, 4, per_instance)}

    # the same version again (a rerun of the run): nothing is created or updated
    again = run_deploy(deploy_env.get_version(MODEL, "2").to_dict(), 2)
    states = deploy_states(again)
    assert states["collect"] == "success" and again.xcoms["deploy.collect"]["action"] == "noop"
    assert {states[t] for t in ("model", "endpoint_config", "endpoint")} == {"skipped"}
    assert serving(sagemaker.describe_endpoint(EndpointName=ENDPOINT)) == serving(updated)


def test_a_version_that_is_not_approved_leaves_the_endpoint_untouched(deploy_env) -> None:
    run_deploy(register(deploy_env, "2026-02-10", "train-a"), 0)
    pending = register(deploy_env, "2026-02-11", "train-b", status="PendingManualApproval")
    rejected = deploy_env.set_status(MODEL, pending["version"], "Rejected", decided_by="ana")
    summary = run_deploy(rejected.to_dict(), 1)
    assert set(deploy_states(summary).values()) == {"skipped"}, summary.task_states
    sagemaker = client("sagemaker")
    assert serving(sagemaker.describe_endpoint(EndpointName=ENDPOINT)) == \
        "reviews-sentiment-reviews-sentiment-v1"
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["reviews-sentiment-v1"]


def test_an_older_days_model_does_not_replace_a_newer_one(deploy_env, capsys) -> None:
    run_deploy(register(deploy_env, "2026-02-12", "train-new"), 0)
    capsys.readouterr()
    backfill = run_deploy(register(deploy_env, "2026-02-10", "train-backfill"), 1)
    states = deploy_states(backfill)
    assert states["request"] == "skipped" and states["collect"] == "skipped", backfill.task_states
    assert serving(client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)) == \
        "reviews-sentiment-reviews-sentiment-v1"
    logged = capsys.readouterr().out
    assert "never replaces a model trained on newer data" in logged
    assert "(trained on data up to 2026-02-12) keeps serving" in logged


def test_a_newer_days_deployment_that_lands_after_the_request_still_wins(
        deploy_env, monkeypatch, capsys) -> None:
    """Concurrent runs: day D1's request plans an update over day D0's model; before its
    UpdateEndpoint call, day D2's run deploys (here: in between, through the deployer, as
    another worker would). D1's endpoint task asks again, skips saying why, and D2's model
    keeps serving; D1's collect skips too rather than judging a failed update."""
    from airsage.airflow import aws_serving
    from airsage.config import load_settings
    from airsage.registry.base import ModelVersion
    from airsage.serving.aws import SageMakerEndpointDeployer
    from airsage.serving.request import deployment_request

    run_deploy(register(deploy_env, "2026-02-09", "train-d0"), 0)
    newer = ModelVersion.from_dict(register(deploy_env, "2026-02-11", "train-d2"))
    real_prepare = SageMakerEndpointDeployer.prepare
    landed: list[str] = []

    def prepare_then_a_newer_run_deploys(self: Any, lake: Any, request: Any, **kwargs: Any) -> Any:
        plan = real_prepare(self, lake, request, **kwargs)
        if landed:  # the newer run's own prepare, or a later one
            return plan
        landed.append(request.model_version)
        settings = load_settings()
        other = deployment_request(settings, newer.to_dict())
        done = SageMakerEndpointDeployer(settings).run(
            lake, other, keep_serving=aws_serving._keep_serving(deploy_env, newer))
        assert done.action == "updated", done
        return plan

    monkeypatch.setattr(SageMakerEndpointDeployer, "prepare", prepare_then_a_newer_run_deploys)
    capsys.readouterr()
    older = run_deploy(register(deploy_env, "2026-02-10", "train-d1"), 1)
    states = deploy_states(older)
    assert landed == ["3"]  # day D1's request, planned over day D0's model
    assert older.xcoms["deploy.request"][0]["plan"]["action"] == "update"
    assert states["request"] == "success" and states["endpoint"] == "skipped", states
    assert states["collect"] == "skipped", states
    assert older.state == "success"
    assert serving(client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)) == \
        "reviews-sentiment-reviews-sentiment-v2"  # day D2's version
    logged = capsys.readouterr().out
    assert "(trained on data up to 2026-02-11) keeps serving" in logged
    assert "never replaces a model trained on newer data" in logged


def test_a_rolled_back_update_fails_collect_and_the_previous_model_keeps_serving(
        deploy_env, aws_env, capsys) -> None:
    run_deploy(register(deploy_env, "2026-02-10", "train-a"), 0)
    aws_env.roll_back_next_update(
        ENDPOINT, "CloudWatch alarm reviews-sentiment-reviews-sentiment-v2-p99-latency in ALARM")
    capsys.readouterr()
    summary = run_deploy(register(deploy_env, "2026-02-11", "train-b"), 1)
    logged = capsys.readouterr().out
    assert "did not take" in logged and "still serving reviews-sentiment v1" in logged
    assert "p99-latency in ALARM" in logged
    states = deploy_states(summary)
    assert states["endpoint"] == "success" and states["collect"] == "failed", states
    assert summary.state == "failed"
    assert serving(client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)) == \
        "reviews-sentiment-reviews-sentiment-v1"
    assert "Autoscaling restored on reviews-sentiment-v1" in logged
    assert list(scaled_variants()) == ["endpoint/reviews-sentiment/variant/reviews-sentiment-v1"]


def test_deploy_step_picks_the_targets_implementation() -> None:
    from airsage.airflow import aws_serving, tasks

    assert aws_serving.deploy_step("aws") is aws_serving.deploy
    assert aws_serving.deploy_step("local") is tasks.deploy
    with pytest.raises(ValueError, match="AIRSAGE_TARGET='gcp' is not a target"):
        aws_serving.deploy_step("gcp")
