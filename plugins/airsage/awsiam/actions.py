"""Which IAM actions airsage's code calls, found by reading the code (no AWS, no import).

Two sources, both static:

1. **boto3 client calls** in ``plugins/airsage`` (:func:`scan_source`): a call
   ``<client>.<method>(…)`` whose receiver is a client — a name or attribute called
   ``client``/``conn``/``hook``/``*_client``/``*_hook`` or after a service (``s3``, ``sm``,
   ``cloudwatch_client``), ``<Hook>(…).conn``, ``.get_conn()``, a
   ``boto3.client("svc")`` call or a name assigned from one — and whose method is an API
   operation (botocore's method-to-operation mapping, ``xform_name``) of a service the
   package uses; ``get_paginator("op")`` / ``get_waiter("name")`` (the waiter's operation);
   and, in a module that calls ``getattr(<client>, …)``, its string constants that are
   operation method names (the Describe* table of :mod:`airsage.jobs.reattach`). The
   receiver's service is the module's own (``boto3.client("s3")``, ``SageMakerHook``, …)
   when the operation belongs to it, else — in a module whose code names AWS
   (:func:`speaks_aws`) — every package service that has it.
2. **provider classes** (:data:`PROVIDER_ACTIONS`): an operator, sensor, trigger or notifier
   of the Amazon provider calls AWS inside the provider, where a scan of airsage cannot see
   it; the table lists what each one airsage imports calls (read from the provider 9.x
   source: its hooks' client calls and its JSON waiters), plus what a service does with the
   caller's credentials (Athena reads the catalog and S3 as the caller). Every provider class
   airsage imports must be in the table (:func:`provider_classes`).

An operation maps to the IAM action ``<prefix>:<Operation>`` (``IAM_PREFIX``: sagemaker-runtime
signs as ``sagemaker``), except where IAM names it differently (:data:`IAM_ACTION_OF`: S3's
HeadObject is authorised as ``s3:GetObject`` …).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Services whose clients airsage's code may hold (searched for operation names).
SERVICES = ("s3", "glue", "athena", "sagemaker", "sagemaker-runtime",
            "sagemaker-featurestore-runtime", "cloudwatch", "sns", "logs",
            "sts", "iam", "ecr", "application-autoscaling")
IAM_PREFIX = {"sagemaker-runtime": "sagemaker", "sagemaker-featurestore-runtime": "sagemaker"}
# Operations IAM authorises under other action names (CopyObject reads its source and writes
# its destination: IAM checks s3:GetObject and s3:PutObject, there is no s3:CopyObject).
IAM_ACTIONS_OF = {"s3:CopyObject": ("s3:GetObject", "s3:PutObject")}
IAM_ACTION_OF = {
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
}
# boto3's injected S3 transfer methods (not API operations) -> the actions they need.
S3_TRANSFER = {
    "upload_file": ("s3:PutObject", "s3:AbortMultipartUpload"),
    "upload_fileobj": ("s3:PutObject", "s3:AbortMultipartUpload"),
    "download_file": ("s3:GetObject",),
    "download_fileobj": ("s3:GetObject",),
}
# A provider hook class -> the client service its .conn / .get_conn() / *_client returns.
HOOK_SERVICES = {
    "SageMakerHook": "sagemaker", "GlueCrawlerHook": "glue", "GlueDataQualityHook": "glue",
    "GlueJobHook": "glue", "AthenaHook": "athena", "S3Hook": "s3", "SnsHook": "sns",
    "AwsLogsHook": "logs", "StsHook": "sts", "CloudWatchHook": "cloudwatch",
}
_DQ_RUN = ("glue:StartDataQualityRulesetEvaluationRun", "glue:GetDataQualityRulesetEvaluationRun",
           "glue:BatchGetDataQualityResult", "glue:GetDataQualityRuleset")
_JOB_LOGS = ("logs:GetLogEvents", "logs:DescribeLogStreams")
# Provider class -> IAM actions it calls on airsage's behalf. Why a table: these calls happen
# inside the provider (its hooks, waiters and triggers), which a scan of airsage cannot see.
PROVIDER_ACTIONS: Mapping[str, tuple[str, ...]] = {
    # hooks: airsage calls their clients directly; the scan finds those calls
    "SageMakerHook": (), "GlueCrawlerHook": (), "GlueDataQualityHook": (), "AthenaHook": (),
    "AwsBaseHook": (),  # the generic hook (serving.aws: client_type="cloudwatch")
    "GlueCrawlerCreateOperator": ("glue:CreateCrawler", "glue:TagResource"),
    # update_crawler: get, update, then reconcile tags (get_tags, tag/untag_resource)
    "GlueCrawlerUpdateOperator": ("glue:GetCrawler", "glue:UpdateCrawler", "glue:GetTags",
                                  "glue:TagResource", "glue:UntagResource"),
    # start; the trigger's waiter polls GetCrawler; the metrics are read when it ends
    "GlueCrawlerRunOperator": ("glue:StartCrawler", "glue:GetCrawler", "glue:GetCrawlerMetrics"),
    # the query runs with the caller's credentials: Athena reads the Glue catalog and the
    # table's S3 files and writes the results location as the caller
    "AthenaOperator": ("athena:StartQueryExecution", "athena:GetQueryExecution",
                       "athena:StopQueryExecution", "athena:GetWorkGroup", "glue:GetDatabase",
                       "glue:GetTable", "glue:GetPartition", "glue:GetPartitions",
                       "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:PutObject"),
    # create, or update when the ruleset exists (it asks first)
    "GlueDataQualityOperator": ("glue:GetDataQualityRuleset", "glue:CreateDataQualityRuleset",
                                "glue:UpdateDataQualityRuleset", "glue:TagResource"),
    "GlueDataQualityRuleSetEvaluationRunOperator": _DQ_RUN,
    # existence check (ListProcessingJobs), create, the trigger's DescribeProcessingJob waiter,
    # the job's CloudWatch log read back
    "SageMakerProcessingOperator": ("sagemaker:ListProcessingJobs", "sagemaker:CreateProcessingJob",
                                    "sagemaker:DescribeProcessingJob", "sagemaker:AddTags",
                                    *_JOB_LOGS),
    "SageMakerTrainingOperator": ("sagemaker:ListTrainingJobs", "sagemaker:CreateTrainingJob",
                                  "sagemaker:DescribeTrainingJob", "sagemaker:AddTags",
                                  "s3:ListBucket", "s3:GetObject", *_JOB_LOGS),
    "SageMakerTuningOperator": ("sagemaker:CreateHyperParameterTuningJob",
                                "sagemaker:DescribeHyperParameterTuningJob", "sagemaker:AddTags",
                                "s3:ListBucket", "s3:GetObject"),
    # (its DeleteModelPackageGroup, after a failed create in a group it made itself, is never
    # reached: register.request makes the group first; airsage's subclass also lists and
    # describes the group's versions, which the scan finds in registry/aws.py)
    "SageMakerRegisterModelVersionOperator": ("sagemaker:CreateModelPackageGroup",
                                              "sagemaker:CreateModelPackage", "sagemaker:AddTags"),
    "ApprovalStatus": (),  # the provider's enum of model approval statuses: calls nothing
    "SageMakerModelOperator": ("sagemaker:CreateModel", "sagemaker:AddTags"),
    "SageMakerEndpointConfigOperator": ("sagemaker:CreateEndpointConfig", "sagemaker:AddTags"),
    "SageMakerEndpointOperator": ("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint",
                                  "sagemaker:DescribeEndpoint", "sagemaker:CreateModel",
                                  "sagemaker:CreateEndpointConfig", "sagemaker:AddTags"),
    # batch scoring (existence checks off: airsage re-attaches itself): CreateModel only when
    # the config carries one, create, DescribeTransformJob right after (deferrable), and the
    # result's DescribeTransformJob + DescribeModel
    "SageMakerTransformOperator": ("sagemaker:CreateModel", "sagemaker:CreateTransformJob",
                                   "sagemaker:DescribeTransformJob", "sagemaker:DescribeModel",
                                   "sagemaker:AddTags"),
    # DescribeProcessingJob / DescribeTrainingJob / DescribeHyperParameterTuningJob /
    # DescribeTransformJob waiters
    "SageMakerTrigger": ("sagemaker:DescribeProcessingJob", "sagemaker:DescribeTrainingJob",
                         "sagemaker:DescribeHyperParameterTuningJob",
                         "sagemaker:DescribeTransformJob"),
    # poke: HeadObject (s3:GetObject) or, with a wildcard key, ListObjectsV2 (s3:ListBucket);
    # deferred, the S3KeyTrigger makes the same calls from the triggerer
    "S3KeySensor": ("s3:GetObject", "s3:ListBucket"),
    "S3KeyTrigger": ("s3:GetObject", "s3:ListBucket"),
    "SnsNotifier": ("sns:Publish",),
}
# Actions that do not support resource-level permissions (or are called without a resource
# IAM can scope), so their statement's Resource is "*"; each with the reason.
WILDCARD_REASONS: Mapping[str, str] = {
    "sagemaker:ListProcessingJobs": "List* calls have no resource; the provider's existence check",
    "sagemaker:ListTrainingJobs": "List* calls have no resource; the provider's existence check",
    "sagemaker:ListHyperParameterTuningJobs": "List* calls have no resource (warm-start parents)",
    "sagemaker:ListModelPackages": "List* calls have no resource (the registry's versions)",
    "glue:GetCrawlerMetrics": "takes a list of crawler names; IAM documents no resource for it",
    "glue:GetDataQualityRulesetEvaluationRun": "addressed by run id; no resource type in IAM",
    "glue:BatchGetDataQualityResult": "addressed by result ids; no resource type in IAM",
    "cloudwatch:DescribeAlarms": "a list call; the alarms it returns are filtered by name",
    "cloudwatch:PutMetricData": "no resource type; narrowed by the cloudwatch:namespace condition",
    "ecr:GetAuthorizationToken": "account-wide registry token; no resource type in IAM",
    "application-autoscaling:DescribeScalableTargets": "a list call; IAM documents no resource",
    "application-autoscaling:DescribeScalingPolicies": "a list call; IAM documents no resource",
    # scalable targets have ARNs only by a generated id (scalable-target/<id>), not by the
    # endpoint and variant airsage names, so a policy cannot scope these to the endpoint
    "application-autoscaling:RegisterScalableTarget": "a target's ARN is a generated id",
    "application-autoscaling:DeregisterScalableTarget": "a target's ARN is a generated id",
    "application-autoscaling:PutScalingPolicy": "a target's ARN is a generated id",
    "application-autoscaling:DeleteScalingPolicy": "a target's ARN is a generated id",
}
# IAM actions that are not API operations of any service (permissions only).
IAM_ONLY_ACTIONS = frozenset({"s3:ListBucket", "iam:PassRole"})


@dataclass(frozen=True)
class ActionUse:
    """One IAM action the code needs, and where (file:line, or the provider class)."""

    action: str
    where: str


@cache
def _service_model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


@cache
def operations(service: str) -> Mapping[str, str]:
    """The service's client method names -> API operation names (``describe_endpoint`` ->
    ``DescribeEndpoint``), botocore's own mapping."""
    from botocore import xform_name

    return {xform_name(name): name for name in _service_model(service).operation_names}


@cache
def waiters(service: str) -> Mapping[str, str]:
    """The service's waiter names (snake case) -> the operation each waiter polls."""
    import botocore.session
    from botocore import xform_name
    from botocore.exceptions import DataNotFoundError

    session = botocore.session.get_session()
    try:
        model = session.get_waiter_model(service)
    except DataNotFoundError:  # a service without waiters
        return {}
    return {xform_name(name): model.get_waiter(name).operation for name in model.waiter_names}


def iam_actions(service: str, operation: str) -> tuple[str, ...]:
    """The IAM actions that authorise one API operation (usually one, named alike)."""
    action = f"{IAM_PREFIX.get(service, service)}:{operation}"
    return IAM_ACTIONS_OF.get(action) or (IAM_ACTION_OF.get(action, action),)


def is_known_action(action: str) -> bool:
    """Whether ``action`` is an operation of a botocore service or a documented IAM-only one."""
    if action in IAM_ONLY_ACTIONS:
        return True
    prefix, _, name = action.partition(":")
    services = [s for s in SERVICES if IAM_PREFIX.get(s, s) == prefix] or [prefix]
    from botocore.exceptions import UnknownServiceError

    for service in services:
        try:
            if name in operations(service).values():
                return True
        except UnknownServiceError:
            continue
    return False


CLIENT_NAMES = ("client", "conn", "hook")
# A variable named after a service is taken for its client (``self._sagemaker``, ``cw_client``).
SERVICE_ALIASES = {**{s.replace("-", "_"): s for s in SERVICES}, "sm": "sagemaker",
                   "cw": "cloudwatch", "runtime": "sagemaker-runtime", "smr": "sagemaker-runtime",
                   "autoscaling": "application-autoscaling"}


def _is_clientish_name(name: str) -> bool:
    lowered = name.lower().lstrip("_")
    return lowered in CLIENT_NAMES or lowered.endswith(("_client", "_conn", "_hook")) \
        or _aliased_service(name) is not None


def _aliased_service(name: str) -> str | None:
    """The service a variable's name says it is a client of (``s3``, ``sagemaker_client``)."""
    lowered = name.lower().lstrip("_")
    for suffix in ("_client", "_conn", "_hook"):
        lowered = lowered.removesuffix(suffix)
    return SERVICE_ALIASES.get(lowered)


class _ModuleScan(ast.NodeVisitor):
    """Collects, for one module, its own services and the client calls it makes."""

    def __init__(self) -> None:
        self.services: set[str] = set()
        self.typed: dict[str, str] = {}  # variable/attribute name -> service
        self.calls: list[tuple[str, int, str | None]] = []  # method, line, known service
        self.strings: list[tuple[str, int]] = []
        self.paginated: list[tuple[str, int, str | None]] = []
        self.waited: list[tuple[str, int, str | None]] = []
        self.getattr_on_client = False

    # which service does an expression denote, if it is a client we can tell?
    def _service_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("client", "get_client_type") \
                    and node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value in SERVICES:
                return str(node.args[0].value)
            for keyword in node.keywords:
                if keyword.arg == "client_type" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else ""
            if name in HOOK_SERVICES:
                return HOOK_SERVICES[name]
            if isinstance(func, ast.Attribute) and func.attr == "get_conn":
                return self._service_of(func.value)
        if isinstance(node, ast.Attribute):
            if node.attr in ("conn", "glue_client", "client"):
                inner = self._service_of(node.value)
                if inner:
                    return inner
            return self.typed.get(node.attr) or _aliased_service(node.attr)
        if isinstance(node, ast.Name):
            return self.typed.get(node.id) or _aliased_service(node.id)
        return None

    def _is_client(self, node: ast.AST) -> bool:
        if self._service_of(node):
            return True
        if isinstance(node, ast.Name):
            return _is_clientish_name(node.id)
        if isinstance(node, ast.Attribute):
            return _is_clientish_name(node.attr)
        if isinstance(node, ast.Call):  # get_conn(), client(...), self._client()
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else \
                func.id if isinstance(func, ast.Name) else ""
            return name == "get_conn" or _is_clientish_name(name)
        return False

    def visit_Assign(self, node: ast.Assign) -> None:
        service = self._service_of(node.value)
        if service:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.typed[target.id] = service
                elif isinstance(target, ast.Attribute):
                    self.typed[target.attr] = service
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        service = self._service_of(node)
        if service:
            self.services.add(service)
        func = node.func
        if isinstance(func, ast.Name) and func.id == "getattr" and node.args \
                and self._is_client(node.args[0]):
            self.getattr_on_client = True
        if isinstance(func, ast.Attribute) and self._is_client(func.value):
            receiver = self._service_of(func.value)
            if func.attr in ("get_paginator", "get_waiter") and node.args \
                    and isinstance(node.args[0], ast.Constant):
                target = self.paginated if func.attr == "get_paginator" else self.waited
                target.append((str(node.args[0].value), node.lineno, receiver))
            else:
                self.calls.append((func.attr, node.lineno, receiver))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self.strings.append((node.value, node.lineno))


def _resolve(method: str, own: set[str], receiver: str | None,
             package: Iterable[str]) -> list[tuple[str, str]]:
    """(service, operation) pairs a method name on a client can be."""
    for candidates in ([receiver] if receiver else [], sorted(own), list(package)):
        found = [(s, operations(s)[method]) for s in candidates if method in operations(s)]
        if found:
            return found
    return []


AWS_WORDS = ("aws", "boto", "sagemaker", "glue", "athena", "s3", "sns", "cloudwatch", "autoscaling")


def speaks_aws(tree: ast.AST) -> bool:
    """Whether a module's code (not its docstrings) names AWS: an import of boto3, botocore,
    the Amazon provider or airsage's aws settings, or an identifier with an AWS word
    (``sagemaker_status``). Only such modules' calls on clients of unknown service count:
    an MLflow client's ``create_experiment`` is not SageMaker's."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            if any(m.split(".")[0] in ("boto3", "botocore") or "amazon" in m
                   or m == "airsage.awsconf" for m in modules):
                return True
        names = [node.id] if isinstance(node, ast.Name) else \
            [node.name] if isinstance(node, ast.FunctionDef | ast.ClassDef) else \
            [node.attr] if isinstance(node, ast.Attribute) else []
        if any(word in name.lower() for name in names for word in AWS_WORDS):
            return True
    return False


def scan_source(source: str, filename: str = "<snippet>", *,
                package_services: Iterable[str] = SERVICES) -> list[ActionUse]:
    """The IAM actions a module's source calls through boto3 clients (see the module doc)."""
    tree = ast.parse(source, filename)
    scan = _ModuleScan()
    scan.visit(tree)
    package = list(package_services) if scan.services or speaks_aws(tree) else []
    uses: list[ActionUse] = []
    for method, line, receiver in scan.calls:
        where = f"{filename}:{line}"
        if method in S3_TRANSFER and (receiver in (None, "s3")):
            if receiver == "s3" or "s3" in scan.services:
                uses.extend(ActionUse(a, where) for a in S3_TRANSFER[method])
            continue
        uses.extend(ActionUse(a, where)
                    for s, op in _resolve(method, scan.services, receiver, package)
                    for a in iam_actions(s, op))
    for name, line, receiver in scan.paginated:
        uses.extend(ActionUse(a, f"{filename}:{line}")
                    for s, op in _resolve(name, scan.services, receiver, package)
                    for a in iam_actions(s, op))
    for name, line, receiver in scan.waited:
        for service in [receiver] if receiver else sorted(scan.services) or package:
            if name in waiters(service):
                uses.extend(ActionUse(a, f"{filename}:{line}")
                            for a in iam_actions(service, waiters(service)[name]))
    if scan.getattr_on_client:
        for text, line in scan.strings:
            uses.extend(ActionUse(a, f"{filename}:{line}")
                        for s, op in _resolve(text, scan.services, None, package)
                        for a in iam_actions(s, op))
    return uses


def provider_classes(source: str) -> set[str]:
    """Names a module imports from ``airflow.providers.amazon``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "airflow.providers.amazon"):
            names.update(alias.name for alias in node.names)
    return names


def package_files(root: Path = PACKAGE_DIR) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def called_actions(root: Path = PACKAGE_DIR) -> list[ActionUse]:
    """Every IAM action the package's code calls: its client calls and, for every provider
    class it imports, that class's row of :data:`PROVIDER_ACTIONS` (a class without a row
    raises: add its row, read from the provider's source)."""
    uses: list[ActionUse] = []
    unknown: list[str] = []
    for path in package_files(root):
        source = path.read_text()
        where = str(path.relative_to(root.parent))
        uses.extend(scan_source(source, where))
        for name in sorted(provider_classes(source)):
            if name not in PROVIDER_ACTIONS:
                unknown.append(f"{name} ({where})")
                continue
            uses.extend(ActionUse(action, f"{name} in {where}") for action in PROVIDER_ACTIONS[name])
    if unknown:
        from airsage.errors import ConfigurationError

        raise ConfigurationError(
            f"provider classes without a row in airsage.awsiam.actions.PROVIDER_ACTIONS: "
            f"{', '.join(unknown)}; list the IAM actions each one calls")
    return uses
