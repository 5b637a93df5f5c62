"""The IAM documents of include/iam/: they parse, they allow every action the code calls on
the role that calls it, and their resources are as narrow as the settings allow.

The actions are found by reading ``plugins/airsage`` (``airsage.awsiam.actions``), so an aws
module added later is checked without touching this file: a call to an action the Airflow
role lacks fails :func:`test_the_airflow_role_allows_every_action_the_code_calls`, naming the
action and the line that calls it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from airsage.awsiam.actions import (
    PROVIDER_ACTIONS,
    WILDCARD_REASONS,
    ActionUse,
    called_actions,
    is_known_action,
    scan_source,
)
from airsage.awsiam.policy import (
    PLACEHOLDER,
    ROLES,
    check_document,
    is_allowed,
    load_template,
    render_all,
    s3_object_arn,
    template_paths,
)
from airsage.cli import main
from airsage.config import Settings, load_settings
from airsage.errors import ConfigurationError

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/airsage-execution"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:airsage-alerts"
DAY = "2026-03-01"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRSAGE_LAKE_ROOT", "s3://my-lake/prod")
    monkeypatch.setenv("AIRSAGE__AWS__ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("AIRSAGE__AWS__REGION", REGION)
    monkeypatch.setenv("AIRSAGE__ALERTS__SNS_TOPIC_ARN", TOPIC)


@pytest.fixture
def settings(aws_env: None) -> Settings:
    return load_settings(overrides={"target": "aws"})


@pytest.fixture
def policies(settings: Settings) -> dict[str, Mapping[str, Any]]:
    return {p.role: p.document for p in render_all(settings)}


def missing(document: Mapping[str, Any], uses: Iterable[ActionUse]) -> dict[str, list[str]]:
    """Action -> where it is called, for every called action ``document`` does not allow."""
    gaps: dict[str, list[str]] = {}
    for use in uses:
        if not is_allowed(document, use.action):
            gaps.setdefault(use.action, []).append(use.where)
    return gaps


# -- the documents ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", template_paths(), ids=lambda p: p.name)
def test_every_template_is_an_iam_policy_of_known_actions(path: Path) -> None:
    document = json.loads(path.read_text())
    check_document(document, path.name)
    actions = [a for s in document["Statement"]
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    unknown = sorted(a for a in actions if not is_known_action(a))
    assert unknown == [], f"{path.name}: not IAM actions of botocore's services: {unknown}"


@pytest.mark.parametrize("name", sorted(ROLES.values()))
def test_a_bare_star_resource_holds_only_actions_without_resource_level_permissions(
        name: str) -> None:
    for statement in load_template(name)["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) \
            else [statement["Resource"]]
        if "*" in resources:
            undocumented = [a for a in statement["Action"] if a not in WILDCARD_REASONS]
            assert undocumented == [], (
                f"{name} {statement['Sid']}: Resource '*' for {undocumented}, which are not in "
                "WILDCARD_REASONS (actions that IAM cannot scope to a resource)")
        assert all(not r.endswith(":*") or "log-stream" in r for r in resources), statement


def test_rendered_documents_keep_no_placeholder_and_expand_job_prefixes(policies) -> None:
    for role, document in policies.items():
        text = json.dumps(document)
        assert not PLACEHOLDER.search(text), f"{role}: {PLACEHOLDER.findall(text)}"
        check_document(document, role)
    jobs = next(s for s in policies["airflow"]["Statement"] if s["Sid"] == "SageMakerJobs")
    assert f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/reviews-*" in jobs["Resource"]
    assert f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/reviews-sentiment-*" in jobs["Resource"]
    assert f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/airsage-*" in jobs["Resource"]


def test_without_an_sns_topic_the_publish_statement_is_left_out(aws_env, monkeypatch) -> None:
    monkeypatch.setenv("AIRSAGE__ALERTS__SNS_TOPIC_ARN", "")
    airflow = next(p for p in render_all(load_settings(overrides={"target": "aws"}))
                   if p.role == "airflow")
    assert airflow.omitted == ("PublishAlerts",)
    assert not is_allowed(airflow.document, "sns:Publish")


def test_rendering_refuses_settings_it_cannot_scope(monkeypatch) -> None:
    monkeypatch.setenv("AIRSAGE_LAKE_ROOT", "s3://my-lake/prod")
    monkeypatch.delenv("AIRSAGE__AWS__ROLE_ARN", raising=False)
    with pytest.raises(ConfigurationError, match="account is unknown"):
        render_all(load_settings(overrides={"target": "aws"}))
    with pytest.raises(ConfigurationError, match=r"aws\.role_arn is not set"):
        render_all(load_settings(overrides={"target": "aws"}), account=ACCOUNT)
    monkeypatch.setenv("AIRSAGE__AWS__ROLE_ARN", "airsage-execution")
    with pytest.raises(ConfigurationError, match="is not an IAM role ARN"):
        render_all(load_settings(overrides={"target": "aws"}))


def test_a_document_outside_the_grammar_is_refused() -> None:
    good = {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    check_document({"Version": "2012-10-17", "Statement": [good]}, "ok")
    for bad, message in (
        ({"Version": "2008-10-17", "Statement": [good]}, "Version"),
        ({"Version": "2012-10-17", "Statement": [good, good]}, "unique"),
        ({"Version": "2012-10-17", "Statement": [{**good, "Effect": "allow"}]}, "Effect"),
        ({"Version": "2012-10-17", "Statement": [{**good, "Action": "GetObject"}]}, "Action"),
        ({"Version": "2012-10-17", "Statement": [{**good, "Comment": "x"}]}, "not IAM"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            check_document(bad, "bad")


# -- every action the code calls --------------------------------------------------------------
def test_the_airflow_role_allows_every_action_the_code_calls(policies) -> None:
    uses = called_actions()
    found = {u.action for u in uses}
    # the scan sees the calls airsage makes today (a regression guard on the scanner itself)
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "glue:GetCrawler", "glue:GetTable",
            "athena:GetQueryResults", "glue:BatchGetDataQualityResult",
            "sagemaker:DescribeProcessingJob", "sagemaker:DescribeHyperParameterTuningJob",
            "sagemaker:CreateProcessingJob", "sagemaker:InvokeEndpoint", "sns:Publish"} <= found
    gaps = missing(policies["airflow"], uses)
    assert gaps == {}, ("include/iam/airflow-role.json lacks actions the code calls "
                        f"(action -> callers): {gaps}")


def test_the_job_scripts_call_only_what_the_execution_role_allows(policies) -> None:
    """include/jobs/ runs inside SageMaker as the execution role: a script that starts calling
    AWS itself (today none does: SageMaker stages their S3 inputs and outputs) must find its
    actions in sagemaker-execution-role.json."""
    from airsage.config import INCLUDE_DIR

    uses = called_actions(INCLUDE_DIR / "jobs")
    assert missing(policies["sagemaker-execution"], uses) == {}


def test_the_mlflow_client_of_the_local_registry_is_not_taken_for_sagemaker() -> None:
    assert not [u for u in called_actions() if u.action == "sagemaker:CreateExperiment"]


SNIPPET = '''
import boto3
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

def tear_down(name):
    runtime = boto3.client("sagemaker")
    runtime.delete_endpoint(EndpointName=name)

def read(bucket):
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        pass
    s3.head_object(Bucket=bucket, Key="k")

def wait(name, hook_conn_id):
    hook = SageMakerHook(aws_conn_id=hook_conn_id)
    hook.conn.get_waiter("endpoint_deleted").wait(EndpointName=name)

TABLE = {"stop": "stop_training_job"}

def stop(client, name):
    getattr(client, TABLE["stop"])(TrainingJobName=name)
'''


def test_the_scan_finds_calls_through_clients_paginators_waiters_and_getattr(policies) -> None:
    actions = {u.action: u.where for u in scan_source(SNIPPET, "new_module.py")}
    assert actions == {
        "sagemaker:DeleteEndpoint": "new_module.py:7",
        "s3:ListBucket": "new_module.py:11",
        "s3:GetObject": "new_module.py:13",
        "sagemaker:DescribeEndpoint": "new_module.py:17",  # the waiter's operation
        "sagemaker:StopTrainingJob": "new_module.py:19",
    }
    # a call to a new action without the policy fails, naming the action and the line
    gaps = missing(policies["airflow"], scan_source(SNIPPET, "new_module.py"))
    assert gaps == {"sagemaker:DeleteEndpoint": ["new_module.py:7"]}


STYLES = """
class Registry:
    def __init__(self, hook):
        self._sagemaker = hook.conn
        self.cw_client = None

    def go(self):
        self._sagemaker.describe_model_package(ModelPackageName="x")
        self.cw_client.put_metric_alarm(AlarmName="a")
        self._client().update_endpoint(EndpointName="e")
"""


def test_the_scan_knows_clients_named_after_their_service_or_returned_by_a_method() -> None:
    assert [(u.action, u.where) for u in scan_source(STYLES, "registry.py")] == [
        ("sagemaker:DescribeModelPackage", "registry.py:8"),
        ("cloudwatch:PutMetricAlarm", "registry.py:9"),
        ("sagemaker:UpdateEndpoint", "registry.py:10"),
    ]


COPY = """
import boto3

def copy(bucket):
    boto3.client("s3").copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
"""


def test_an_s3_copy_needs_read_of_its_source_and_write_of_its_destination() -> None:
    # IAM has no s3:CopyObject: it authorises the copy as s3:GetObject plus s3:PutObject
    assert sorted(u.action for u in scan_source(COPY, "copy.py")) == ["s3:GetObject", "s3:PutObject"]


def test_known_actions_are_botocore_operations_or_iam_only_permissions() -> None:
    assert is_known_action("sagemaker:CreateTrainingJob")
    assert is_known_action("sagemaker:InvokeEndpoint")  # sagemaker-runtime signs as sagemaker
    assert is_known_action("s3:ListBucket") and is_known_action("iam:PassRole")
    assert not is_known_action("sagemaker:CreateTrainingJobs")
    assert not is_known_action("s3:ListBuckets3")


def test_a_client_of_no_aws_service_is_not_scanned() -> None:
    source = "import mlflow\nclient = mlflow.MlflowClient()\nclient.create_experiment('x')\n"
    assert scan_source(source, "tracking.py") == []


def test_a_new_provider_class_without_a_row_fails(tmp_path: Path) -> None:
    package = tmp_path / "airsage"
    package.mkdir()
    (package / "deploy.py").write_text(
        "from airflow.providers.amazon.aws.operators.sagemaker import SageMakerDeleteModelOperator\n")
    with pytest.raises(ConfigurationError, match="SageMakerDeleteModelOperator"):
        called_actions(package)
    (package / "deploy.py").write_text(
        "from airflow.providers.amazon.aws.notifications.sns import SnsNotifier\n")
    assert [u.action for u in called_actions(package)] == list(PROVIDER_ACTIONS["SnsNotifier"])


def test_every_provider_row_names_known_actions() -> None:
    unknown = {name: [a for a in actions if not is_known_action(a)]
               for name, actions in PROVIDER_ACTIONS.items()}
    assert {k: v for k, v in unknown.items() if v} == {}


# -- resources: what each role may touch --------------------------------------------------------
def _jobs(settings: Settings) -> list[Any]:
    from airsage.jobs.request import JobRequest
    from airsage.plan import plan

    return [s.request for s in plan(settings, DAY) if isinstance(s.request, JobRequest)]


def _object_arns(settings: Settings, source: str | tuple[str, ...]) -> list[str]:
    from airsage.awsconf import AwsSettings

    aws = AwsSettings.from_settings(settings)
    keys = [source] if isinstance(source, str) else list(source)
    return [s3_object_arn(aws.uri(key + ("part-0.parquet" if key.endswith("/") else "")))
            for key in keys]


def test_the_execution_role_reads_every_job_input_and_writes_every_output(
        settings, policies) -> None:
    execution = policies["sagemaker-execution"]
    jobs = _jobs(settings)
    assert {Path(j.script).name for j in jobs} >= {"bias.py", "train.py", "evaluate.py", "baseline.py"}
    for job in jobs:
        for channel, source in job.inputs.items():
            for arn in _object_arns(settings, source):
                assert is_allowed(execution, "s3:GetObject", arn), (job.job_name, channel, arn)
        for name, key in job.outputs.items():
            for arn in _object_arns(settings, key):
                assert is_allowed(execution, "s3:PutObject", arn), (job.job_name, name, arn)
        code = _object_arns(settings, f"code/jobs/{Path(job.script).name}")[0]
        assert is_allowed(execution, "s3:GetObject", code)


def test_the_execution_role_cannot_rewrite_raw_data_or_touch_another_bucket(policies) -> None:
    execution = policies["sagemaker-execution"]
    raw = "arn:aws:s3:::my-lake/prod/raw/reviews/dt=2026-03-01/a.csv"
    assert not is_allowed(execution, "s3:PutObject", raw)
    assert not is_allowed(execution, "s3:GetObject", "arn:aws:s3:::other-bucket/prod/raw/a.csv")
    assert not is_allowed(execution, "s3:GetObject", "arn:aws:s3:::my-lake/other/raw/a.csv")
    assert is_allowed(execution, "s3:ListBucket", "arn:aws:s3:::my-lake",
                      {"s3:prefix": "prod/features/reviews/dt=2026-03-01/train/"})
    assert not is_allowed(execution, "s3:ListBucket", "arn:aws:s3:::my-lake", {"s3:prefix": "secrets/"})
    assert is_allowed(execution, "cloudwatch:PutMetricData", "*",
                      {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"})
    assert not is_allowed(execution, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Billing"})


def test_the_airflow_role_may_create_exactly_the_named_sagemaker_resources(settings, policies) -> None:
    from airsage.plan import plan

    airflow = policies["airflow"]
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    steps = {s.step: s for s in plan(settings, DAY)}
    operation_of = {"processing": "CreateProcessingJob", "training": "CreateTrainingJob"}
    for job in _jobs(settings):
        kind = "processing-job" if job.kind == "processing" else "training-job"
        assert is_allowed(airflow, f"sagemaker:{operation_of[job.kind]}",
                          f"{arn}:{kind}/{job.job_name.lower()}"), job.job_name
    tuning = steps["train (tuning)"].request
    assert is_allowed(airflow, "sagemaker:CreateHyperParameterTuningJob",
                      f"{arn}:hyper-parameter-tuning-job/{tuning.tuning_job_name.lower()}")
    deploy = steps["deploy"].request
    for action, resource in (
            ("CreateModelPackageGroup", "model-package-group/reviews-sentiment"),
            ("CreateModelPackage", "model-package/reviews-sentiment/3"),
            ("CreateModel", f"model/{deploy.variant_name.lower()}"),
            ("CreateEndpointConfig", f"endpoint-config/{deploy.endpoint_config_name.lower()}"),
            ("UpdateEndpoint", f"endpoint/{deploy.endpoint}"),
            ("InvokeEndpoint", f"endpoint/{deploy.endpoint}")):
        assert is_allowed(airflow, f"sagemaker:{action}", f"{arn}:{resource}"), action
    assert not is_allowed(airflow, "sagemaker:UpdateEndpoint", f"{arn}:endpoint/someone-elses")
    assert not is_allowed(airflow, "sagemaker:CreateTrainingJob", f"{arn}:training-job/other-job")
    assert is_allowed(airflow, "cloudwatch:PutMetricAlarm",
                      f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{deploy.endpoint}-5xx")
    assert is_allowed(airflow, "sns:Publish", TOPIC)


def test_the_airflow_role_passes_only_the_execution_role_only_to_sagemaker_and_glue(policies) -> None:
    airflow = policies["airflow"]
    for service in ("sagemaker.amazonaws.com", "glue.amazonaws.com"):
        assert is_allowed(airflow, "iam:PassRole", ROLE_ARN, {"iam:PassedToService": service})
    assert not is_allowed(airflow, "iam:PassRole", ROLE_ARN, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not is_allowed(airflow, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin",
                          {"iam:PassedToService": "sagemaker.amazonaws.com"})


def test_the_data_plane_resources_are_the_configured_ones(settings, policies) -> None:
    from airsage.plan import plan

    airflow, glue = policies["airflow"], policies["glue"]
    crawl = next(s for s in plan(settings, DAY) if s.step == "crawl").request
    crawler = f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{crawl.crawler_name}"
    assert is_allowed(airflow, "glue:StartCrawler", crawler)
    assert not is_allowed(airflow, "glue:StartCrawler", f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/other")
    assert is_allowed(airflow, "athena:StartQueryExecution",
                      f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary")
    assert is_allowed(airflow, "s3:PutObject", "arn:aws:s3:::my-lake/prod/reports/athena/q.csv")
    assert not is_allowed(airflow, "s3:PutObject", "arn:aws:s3:::other-bucket/x")
    raw = "arn:aws:s3:::my-lake/prod/raw/reviews/dt=2026-03-01/reviews.csv"
    assert is_allowed(glue, "s3:GetObject", raw)
    assert not is_allowed(glue, "s3:PutObject", raw)
    assert not is_allowed(glue, "s3:GetObject", "arn:aws:s3:::my-lake/prod/curated/x.parquet")
    assert is_allowed(glue, "glue:UpdateTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/airsage/reviews")


def test_the_trust_policy_lets_sagemaker_and_glue_assume_the_execution_role(policies) -> None:
    (statement,) = policies["trust"]["Statement"]
    assert statement["Principal"]["Service"] == ["sagemaker.amazonaws.com", "glue.amazonaws.com"]
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT


# -- the command ------------------------------------------------------------------------------
def test_airsage_iam_prints_the_rendered_documents(aws_env, capsys) -> None:
    assert main(["iam", "--target", "aws", "--json"]) == 0
    documents = {d["role"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(documents) == {"airflow", "sagemaker-execution", "glue", "trust"}
    assert "arn:aws:s3:::my-lake/prod/*" in json.dumps(documents["airflow"]["document"])
    assert main(["iam", "--target", "aws", "--role", "glue"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# glue (include/iam/glue-role.json)")
    assert "sagemaker" not in out


def test_airsage_iam_without_the_role_says_what_to_set(monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRSAGE_LAKE_ROOT", "s3://my-lake/prod")
    monkeypatch.delenv("AIRSAGE__AWS__ROLE_ARN", raising=False)
    assert main(["iam", "--target", "aws"]) == 2
    assert "aws.role_arn" in capsys.readouterr().err


def test_the_airflow_role_may_scale_its_endpoints_variants_and_nothing_else(policies) -> None:
    """The deploy step's Application Auto Scaling calls are found by the scan and allowed; the
    alarms target tracking creates are the endpoint's; the service-linked role it may create
    is Application Auto Scaling's for SageMaker only."""
    found = {u.action for u in called_actions()}
    scaling = {f"application-autoscaling:{a}" for a in (
        "RegisterScalableTarget", "DeregisterScalableTarget", "DescribeScalableTargets",
        "PutScalingPolicy", "DeleteScalingPolicy", "DescribeScalingPolicies")}
    assert scaling <= found
    airflow = policies["airflow"]
    assert all(is_allowed(airflow, action) for action in scaling)
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:TargetTracking-endpoint/" \
            "reviews-sentiment/variant/reviews-sentiment-v2-AlarmHigh-1a2b"
    assert is_allowed(airflow, "cloudwatch:PutMetricAlarm", alarm)
    assert is_allowed(airflow, "cloudwatch:DeleteAlarms", alarm)
    assert not is_allowed(airflow, "cloudwatch:DeleteAlarms",
                          f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:TargetTracking-table/x")
    slr = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling."
           "amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
    service = "sagemaker.application-autoscaling.amazonaws.com"
    assert is_allowed(airflow, "iam:CreateServiceLinkedRole", slr, {"iam:AWSServiceName": service})
    assert not is_allowed(airflow, "iam:CreateServiceLinkedRole", slr,
                          {"iam:AWSServiceName": "ecs.application-autoscaling.amazonaws.com"})
