"""moto 5.2.5 in server mode, plus the few APIs airsage's aws data plane needs and moto lacks.

The one place where the tests extend moto. Run as a program (``python moto_ext.py PORT``) it
patches moto and serves on 127.0.0.1; :class:`MotoServer` starts that program as a
subprocess and stops it by its PID. What each addition does, and why it is honest:

Glue crawler
  - ``UpdateCrawler`` (moto: 500 "not implemented"): replaces the given fields of a stored
    crawler, bumps ``Version``; refused with ``CrawlerRunningException`` while it runs (as AWS).
  - ``GetCrawlerMetrics`` (moto: 500): one entry per crawler; the table counts are 0 because
    moto's crawler creates no tables (the tests create the Glue table the crawler would have
    written, stating its columns).
  - ``LastCrawl.Status``: moto says ``COMPLETED`` where AWS says ``SUCCEEDED``; renamed here.
  - A crawl leaves RUNNING only when moto's state manager is told so: :meth:`MotoServer.start`
    sets ``{"model_name": "glue::crawl", "transition": {"progression": "immediate"}}``
    through moto's own ``/moto-api/state-manager/set-transition``.

Glue Data Quality (moto: every API answers 500). A recorder that evaluates nothing: the
  test states each rule's outcome through ``POST /moto-api/static/airsage/glue-dq-outcomes``
  (``{"ruleset": name, "rule_results": [Glue RuleResult, ...]}``); a run of a ruleset with no
  stated outcome ends ``FAILED`` with an ``ErrorString`` that says so.
  - ``CreateDataQualityRuleset`` / ``GetDataQualityRuleset`` / ``UpdateDataQualityRuleset``:
    store and return the DQDL text as sent (``AlreadyExistsException``,
    ``EntityNotFoundException`` as AWS).
  - ``StartDataQualityRulesetEvaluationRun``: records the request; the run is ``SUCCEEDED``
    at once with one result per ruleset carrying the stated rule results.
  - ``GetDataQualityRulesetEvaluationRun``, ``GetDataQualityResult``,
    ``BatchGetDataQualityResult``: return what was recorded.

SageMaker jobs (moto runs no container: every processing and training job is ``Completed`` the
  moment it is created and writes nothing)
  - ``POST /moto-api/static/airsage/sagemaker-job-ends``
    (``{"job_name": name, "status": "Completed" | "Failed" | "Stopped", "objects":
    {"bucket/key": base64}, "failure_reason": ..., "exit_message": ...}``): how the job of that
    name ends when it is created. A completed job writes the stated objects to S3 then (what
    the job script would have written to its outputs: the test states them, since nothing
    runs); a failed one carries the stated ``FailureReason`` / ``ExitMessage`` (what
    SageMaker reads from the script's failure file).
  - ``StopTrainingJob`` (moto: 500 "not implemented"): marks the job ``Stopped``, as
    moto's own ``StopProcessingJob`` does.
  - Debugger rule statuses (moto stores a training job's ``DebugRuleConfigurations`` but runs
    no rule, so its DescribeTrainingJob has no ``DebugRuleEvaluationStatuses``): the job-end
    statement may carry ``"debug_rule_evaluation_statuses": [{RuleConfigurationName,
    RuleEvaluationStatus, StatusDetails}]``, what SageMaker's rule containers would have
    concluded; DescribeTrainingJob then answers them. moto drops ``ProfilerConfig`` and
    ``ProfilerRuleConfigurations``: the tests read those from the request boto3 sent.
  - Transform jobs (batch scoring) likewise: moto's ``CreateTransformJob`` records the
    request and is ``Completed`` at once, writing nothing; the same statement gives its end
    (``TransformJobStatus``, ``FailureReason``) and the ``.out`` objects the job would have
    written (the test produces them with the real inference handlers over the staged input).

Athena
  - ``POST /moto-api/static/airsage/athena-results-by-query``
    (``{"results": [{"query": sql, "rows": [...], "column_info": [...]}]}``): the result a
    query with exactly that text gets. moto's own ``/moto-api/static/athena/query-results``
    is a FIFO queue consumed in start order, which the tasks of one Airflow task group do not
    have; keyed by the text, the seeded result also proves which SQL Athena received.

SageMaker hyperparameter tuning (moto: a tuning job is ``Completed`` on creation with a fixed
fake ``BestTrainingJob`` named ``FakeTrainingJobName`` and runs no training job;
``ListTrainingJobsForHyperParameterTuningJob`` answers 500). A recorder that tunes nothing:
the test states how the tuning job went through
``POST /moto-api/static/airsage/sagemaker-tuning`` (``{"tuning_job": name, "status":
"Completed"|"InProgress"|"Failed"|"Stopped", "failure_reason": ..., "trials": [{"status":
"Completed"|"Failed"|"Stopped", "hyperparameters": {name: str}, "objective": float,
"failure_reason": str}]}``), before or after the job is created; a later statement for the
same job replaces the keys it names.
  - The tuning job's training jobs are real moto training jobs, created from its
    ``TrainingJobDefinition`` (static plus the trial's hyperparameters, the same channels,
    output, resources and role) and named as SageMaker names them, ``<tuning job>-NNN-<8
    hex>``; each gets its stated status, ``FailureReason``, ``TuningJobArn`` and a
    ``FinalMetricDataList`` holding the objective metric's stated value. Their model artifact
    URI is moto's (``<S3OutputPath>/<job>/output/model.tar.gz``), and a completed trial
    leaves an object there, as its training would: a marker naming the trial, not a model.
  - ``DescribeHyperParameterTuningJob``: the stated status and ``FailureReason``; the
    training job and objective status counters counted from the trials; ``BestTrainingJob``
    the completed trial with the best objective in the job's direction (Maximize/Minimize),
    absent when none completed, as AWS. moto's fake ``OverallBestTrainingJob`` is dropped.
    A tuning job with nothing stated keeps moto's ``Completed`` but has no trials and no best.
  - ``ListTrainingJobsForHyperParameterTuningJob``: the trials' summaries (``StatusEquals``,
    ``SortBy`` Name/CreationTime/Status/FinalObjectiveMetricValue, ``SortOrder``,
    ``MaxResults``/``NextToken``); an unknown tuning job is ``ResourceNotFound``.

SageMaker endpoints (airsage's deploy step)
  - ``UpdateEndpoint`` (moto: 500 "not implemented"): switches a stored endpoint to the new
    config (its variants and data capture), records the request's ``DeploymentConfig`` as
    ``LastDeploymentConfig`` (DescribeEndpoint's field on AWS) and clears ``FailureReason``;
    ``ValidationException`` for an unknown endpoint or config, as AWS. Traffic shifting,
    baking and alarms are not simulated: the update is complete at once.
  - ``POST /moto-api/static/airsage/sagemaker-update-outcome``
    (``{"endpoint": name, "rollback_reason": text}``): the next UpdateEndpoint of that endpoint
    ends as an automatic rollback does on AWS: the request's DeploymentConfig is recorded,
    the endpoint stays InService on its previous config, and ``FailureReason`` is the text.
  - ``UpdateEndpoint`` refuses (``ValidationException``) a config that drops a variant
    registered with Application Auto Scaling, as SageMaker's guide says the call fails
    ("Update endpoints that use auto scaling": deregister first); the wording is ours.
  - Not changed, measured: ``CreateEndpoint`` on an existing endpoint silently replaces it
    (AWS refuses), and ``UpdateModelPackage`` replaces ``CustomerMetadataProperties`` with
    what the call sends (none: wiped) and ``ApprovalDescription`` likewise; airsage's code
    describes first and re-sends, so the tests see what AWS would do.
SageMaker Feature Store (airsage's feature group)
  - ``DescribeFeatureGroup`` of a group that does not exist (moto: a KeyError, answered 500):
    ``ResourceNotFound``, as AWS ("Resource Not Found: Amazon SageMaker can't find a
    FeatureGroup with name …").
  - ``CreateFeatureGroup`` keeps the request's ``OfflineStoreConfig.DataCatalogConfig``
    (moto replaces it with a generated table in ``sagemaker_featurestore``; AWS registers the
    table the request names). Without one, moto's generated names stay, as AWS generates them.
  - Not added: ``sagemaker-featurestore-runtime`` (PutRecord, DeleteRecord) has no moto
    backend at all; the tests of ingestion use botocore's Stubber on that client and say so.

Application Auto Scaling of SageMaker variants (moto 5.2.5 stores sagemaker targets and
  policies: RegisterScalableTarget, PutScalingPolicy, Describe*, DeleteScalingPolicy,
  DeregisterScalableTarget; it checks no variant and creates no target-tracking alarms for
  the sagemaker namespace — the tests assert on the stored requests, not on alarms)
  - ``RegisterScalableTarget`` on ``sagemaker:variant:DesiredInstanceCount`` refuses
    (``ValidationException``) a ResourceId whose endpoint or variant does not exist, as AWS
    validates the resource (the wording is ours).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from typing import IO, Any

HOST = "127.0.0.1"
OUTCOMES_PATH = "/moto-api/static/airsage/glue-dq-outcomes"
ATHENA_BY_QUERY_PATH = "/moto-api/static/airsage/athena-results-by-query"
TUNING_PATH = "/moto-api/static/airsage/sagemaker-tuning"
UPDATE_OUTCOME_PATH = "/moto-api/static/airsage/sagemaker-update-outcome"
JOB_ENDS_PATH = "/moto-api/static/airsage/sagemaker-job-ends"


# -- the patched server (runs in the subprocess) ------------------------------------------------


def _state(backend: Any) -> dict[str, Any]:
    """Per-account/region store kept on moto's Glue backend (reset with it)."""
    if not hasattr(backend, "_airsage_dq"):
        backend._airsage_dq = {"rulesets": {}, "runs": {}, "results": {}, "outcomes": {}}
    return backend._airsage_dq


def _patch_glue() -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.core.utils import utcnow
    from moto.glue import models, responses
    from moto.glue.exceptions import (
        AlreadyExistsException,
        CrawlerRunningException,
        EntityNotFoundException,
    )

    original_as_dict = models.FakeCrawler.as_dict

    def as_dict(self: Any) -> dict[str, Any]:
        data = original_as_dict(self)
        if data.get("LastCrawl", {}).get("Status") == "COMPLETED":
            data["LastCrawl"]["Status"] = "SUCCEEDED"
        return data

    models.FakeCrawler.as_dict = as_dict

    updatable = {"Role": "role", "DatabaseName": "database_name", "Description": "description",
                 "Targets": "targets", "Classifiers": "classifiers", "TablePrefix": "table_prefix",
                 "SchemaChangePolicy": "schema_change_policy", "RecrawlPolicy": "recrawl_policy",
                 "LineageConfiguration": "lineage_configuration", "Configuration": "configuration",
                 "CrawlerSecurityConfiguration": "crawler_security_configuration"}

    def update_crawler(self: Any) -> Any:
        crawler = self.glue_backend.get_crawler(self.parameters.get("Name"))
        if crawler.status != "READY":
            raise CrawlerRunningException(f"Crawler with name {crawler.name} is {crawler.status}")
        for key, attribute in updatable.items():
            if key in self.parameters:
                setattr(crawler, attribute, self.parameters[key])
        if "Schedule" in self.parameters:
            crawler.schedule = self.parameters["Schedule"]
        crawler.version += 1
        crawler.last_updated = utcnow()
        return EmptyResult()

    def get_crawler_metrics(self: Any) -> Any:
        names = self.parameters.get("CrawlerNameList") or list(self.glue_backend.crawlers)
        metrics = []
        for name in names:
            crawler = self.glue_backend.get_crawler(name)
            metrics.append({
                "CrawlerName": crawler.name, "TimeLeftSeconds": 0.0, "StillEstimating": False,
                "LastRuntimeSeconds": 0.0, "MedianRuntimeSeconds": 0.0,
                # moto's crawler writes no tables
                "TablesCreated": 0, "TablesUpdated": 0, "TablesDeleted": 0,
            })
        return ActionResult({"CrawlerMetricsList": metrics})

    def create_data_quality_ruleset(self: Any) -> Any:
        rulesets = _state(self.glue_backend)["rulesets"]
        name = self.parameters["Name"]
        if name in rulesets:
            raise AlreadyExistsException(f"Data quality ruleset {name}")
        now = utcnow()
        rulesets[name] = {"Name": name, "Ruleset": self.parameters["Ruleset"],
                          "Description": self.parameters.get("Description", ""),
                          "TargetTable": self.parameters.get("TargetTable"),
                          "Tags": self.parameters.get("Tags") or {},
                          "CreatedOn": now, "LastModifiedOn": now}
        return ActionResult({"Name": name})

    def _ruleset(self: Any, name: str) -> dict[str, Any]:
        try:
            return _state(self.glue_backend)["rulesets"][name]
        except KeyError:
            raise EntityNotFoundException(f"Data quality ruleset {name} not found") from None

    def get_data_quality_ruleset(self: Any) -> Any:
        stored = _ruleset(self, self.parameters["Name"])
        return ActionResult({k: v for k, v in stored.items() if k != "Tags" and v is not None})

    def update_data_quality_ruleset(self: Any) -> Any:
        stored = _ruleset(self, self.parameters["Name"])
        for key in ("Ruleset", "Description"):
            if key in self.parameters:
                stored[key] = self.parameters[key]
        stored["LastModifiedOn"] = utcnow()
        return ActionResult({k: stored[k] for k in ("Name", "Description", "Ruleset")})

    def start_data_quality_ruleset_evaluation_run(self: Any) -> Any:
        state = _state(self.glue_backend)
        names = list(self.parameters["RulesetNames"])
        for name in names:
            _ruleset(self, name)
        run_id = f"dqrun-{uuid.uuid4().hex}"
        now = utcnow()
        run = {"RunId": run_id, "DataSource": self.parameters["DataSource"],
               "Role": self.parameters["Role"],
               "NumberOfWorkers": int(self.parameters.get("NumberOfWorkers", 5)),
               "Timeout": int(self.parameters.get("Timeout", 2880)),
               "AdditionalRunOptions": self.parameters.get("AdditionalRunOptions") or {},
               "RulesetNames": names, "StartedOn": now, "LastModifiedOn": now,
               "CompletedOn": now, "ExecutionTime": 0, "ResultIds": []}
        missing = [n for n in names if n not in state["outcomes"]]
        if missing:
            run["Status"] = "FAILED"
            run["ErrorString"] = (f"airsage moto extension: no rule outcomes stated for ruleset(s) "
                                  f"{missing}; the fake evaluates nothing, the test states them")
        else:
            run["Status"] = "SUCCEEDED"
            for name in names:
                result_id = f"dqresult-{uuid.uuid4().hex}"
                rules = state["outcomes"][name]
                passed = sum(1 for r in rules if r.get("Result") == "PASS")
                state["results"][result_id] = {
                    "ResultId": result_id, "Score": passed / len(rules) if rules else 1.0,
                    "DataSource": run["DataSource"], "RulesetName": name,
                    "StartedOn": now, "CompletedOn": now, "RulesetEvaluationRunId": run_id,
                    "RuleResults": rules, "AnalyzerResults": [], "Observations": [],
                }
                run["ResultIds"].append(result_id)
        state["runs"][run_id] = run
        return ActionResult({"RunId": run_id})

    def get_data_quality_ruleset_evaluation_run(self: Any) -> Any:
        run_id = self.parameters["RunId"]
        try:
            return ActionResult(_state(self.glue_backend)["runs"][run_id])
        except KeyError:
            raise EntityNotFoundException(f"Evaluation run {run_id} not found") from None

    def get_data_quality_result(self: Any) -> Any:
        result_id = self.parameters["ResultId"]
        try:
            return ActionResult(_state(self.glue_backend)["results"][result_id])
        except KeyError:
            raise EntityNotFoundException(f"Data quality result {result_id} not found") from None

    def batch_get_data_quality_result(self: Any) -> Any:
        stored = _state(self.glue_backend)["results"]
        ids = list(self.parameters["ResultIds"])
        return ActionResult({"Results": [stored[i] for i in ids if i in stored],
                             "ResultsNotFound": [i for i in ids if i not in stored]})

    for function in (update_crawler, get_crawler_metrics, create_data_quality_ruleset,
                     get_data_quality_ruleset, update_data_quality_ruleset,
                     start_data_quality_ruleset_evaluation_run,
                     get_data_quality_ruleset_evaluation_run, get_data_quality_result,
                     batch_get_data_quality_result):
        setattr(responses.GlueResponse, function.__name__, function)


def _patch_athena() -> None:
    from moto.athena import models

    original_start = models.AthenaBackend.start_query_execution

    def start_query_execution(self: Any, query: str, *args: Any, **kwargs: Any) -> str:
        exec_id = original_start(self, query, *args, **kwargs)
        seeded = getattr(self, "_airsage_by_query", {}).get(query)
        if seeded is not None:
            self.query_results[exec_id] = models.QueryResults(**seeded)
        return exec_id

    models.AthenaBackend.start_query_execution = start_query_execution


def _patch_sagemaker() -> None:
    import base64

    from moto.core.responses import EmptyResult
    from moto.s3.models import s3_backends
    from moto.sagemaker import models, responses

    def end_as_stated(backend: Any, job: Any, status_attribute: str) -> None:
        name = (getattr(job, "processing_job_name", None) or getattr(job, "transform_job_name", None)
                or job.training_job_name)
        stated = backend.__dict__.get("_airsage_job_ends", {}).get(name)
        if stated is None:
            return
        setattr(job, status_attribute, stated["status"])
        if hasattr(job, "secondary_status"):
            job.secondary_status = stated["status"]
        if stated.get("failure_reason"):
            job.failure_reason = stated["failure_reason"]
        if stated.get("exit_message"):
            job.exit_message = stated["exit_message"]
        if stated.get("debug_rule_evaluation_statuses"):
            job.debug_rule_evaluation_statuses = list(stated["debug_rule_evaluation_statuses"])
        if stated["status"] == "Completed":
            s3 = s3_backends[backend.account_id]["global"]
            for path, body in (stated.get("objects") or {}).items():
                bucket, _, key = path.partition("/")
                s3.put_object(bucket, key, base64.b64decode(body))

    original_processing = models.SageMakerModelBackend.create_processing_job
    original_training = models.SageMakerModelBackend.create_training_job
    original_transform = models.SageMakerModelBackend.create_transform_job

    def create_processing_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        job = original_processing(self, *args, **kwargs)
        end_as_stated(self, job, "processing_job_status")
        return job

    def create_training_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        job = original_training(self, *args, **kwargs)
        end_as_stated(self, job, "training_job_status")
        return job

    def create_transform_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        job = original_transform(self, *args, **kwargs)
        end_as_stated(self, job, "transform_job_status")
        return job

    def stop_training_job(self: Any) -> Any:
        job = self.sagemaker_backend.training_jobs[self._get_param("TrainingJobName")]
        job.training_job_status = job.secondary_status = "Stopped"
        return EmptyResult()

    models.SageMakerModelBackend.create_processing_job = create_processing_job
    models.SageMakerModelBackend.create_training_job = create_training_job
    models.SageMakerModelBackend.create_transform_job = create_transform_job
    responses.SageMakerResponse.stop_training_job = stop_training_job


def _add_seed_endpoints() -> None:
    from moto.athena.models import athena_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.glue.models import glue_backends
    from moto.moto_api._internal import urls

    def body_of(request: Any) -> dict[str, Any]:
        data = request.data if hasattr(request, "data") else request.body
        return json.loads(data or b"{}")

    def set_outcomes(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
        body = body_of(request)
        backend = glue_backends[body.get("account_id", DEFAULT_ACCOUNT_ID)][body.get("region", "us-east-1")]
        _state(backend)["outcomes"][body["ruleset"]] = list(body["rule_results"])
        return 201, {}, ""

    def set_athena_by_query(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
        body = body_of(request)
        backend = athena_backends[body.get("account_id", DEFAULT_ACCOUNT_ID)][body.get("region", "us-east-1")]
        store = backend.__dict__.setdefault("_airsage_by_query", {})
        for result in body["results"]:
            store[result["query"]] = {"rows": result["rows"], "column_info": result.get("column_info", [])}
        return 201, {}, ""

    def set_job_end(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
        from moto.sagemaker.models import sagemaker_backends

        body = body_of(request)
        account = body.get("account_id", DEFAULT_ACCOUNT_ID)
        backend = sagemaker_backends[account][body.get("region", "us-east-1")]
        backend.__dict__.setdefault("_airsage_job_ends", {})[body["job_name"]] = body
        return 201, {}, ""

    urls.url_paths["{0}" + JOB_ENDS_PATH] = set_job_end
    urls.url_paths["{0}" + OUTCOMES_PATH] = set_outcomes
    urls.url_paths["{0}" + ATHENA_BY_QUERY_PATH] = set_athena_by_query


def _patch_sagemaker_tuning() -> None:
    """Tuning jobs run the training jobs the test states (see the module docstring)."""
    import copy
    import hashlib

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.moto_api._internal import urls
    from moto.s3.models import s3_backends
    from moto.sagemaker import models, responses

    def stated_of(backend: Any) -> dict[str, dict[str, Any]]:
        return backend.__dict__.setdefault("_airsage_tuning", {})

    def run(backend: Any, job: Any) -> None:
        """Apply what the test stated to tuning job ``job``: trials, counters, best, status."""
        name = job.hyper_parameter_tuning_job_name
        stated = stated_of(backend).get(name, {})
        definition = job.training_job_definition or {}
        objective = job.hyper_parameter_tuning_job_config["HyperParameterTuningJobObjective"]
        summaries = []
        for number, trial in enumerate(stated.get("trials") or (), start=1):
            digest = hashlib.sha256(f"{name}-{number}".encode()).hexdigest()[:8]
            trial_name = f"{name}-{number:03d}-{digest}"
            tuned = {k: str(v) for k, v in (trial.get("hyperparameters") or {}).items()}
            if trial_name not in backend.training_jobs:
                backend.create_training_job(
                    training_job_name=trial_name,
                    hyper_parameters={**(definition.get("StaticHyperParameters") or {}), **tuned},
                    algorithm_specification=copy.deepcopy(definition["AlgorithmSpecification"]),
                    role_arn=definition["RoleArn"],
                    input_data_config=copy.deepcopy(definition.get("InputDataConfig") or []),
                    output_data_config=copy.deepcopy(definition["OutputDataConfig"]),
                    resource_config=copy.deepcopy(definition["ResourceConfig"]),
                    vpc_config=definition.get("VpcConfig"),
                    stopping_condition=copy.deepcopy(definition["StoppingCondition"]),
                    tags=[], enable_network_isolation=definition.get("EnableNetworkIsolation", False),
                    enable_inter_container_traffic_encryption=definition.get(
                        "EnableInterContainerTrafficEncryption", False),
                    enable_managed_spot_training=definition.get("EnableManagedSpotTraining", False),
                    checkpoint_config=definition.get("CheckpointConfig"), debug_hook_config=None,
                    debug_rule_configurations=None, tensor_board_output_config=None,
                    experiment_config=None)
            training = backend.training_jobs[trial_name]
            status = str(trial.get("status", "Completed"))
            if status == "Completed":
                bucket, _, key = training.model_artifacts["S3ModelArtifacts"][len("s3://"):].partition("/")
                s3_backends[backend.account_id][backend.partition].put_object(
                    bucket, key, f"airsage moto extension: the model of {trial_name}".encode())
            training.training_job_status = training.secondary_status = status
            training.tuning_job_arn = job.arn
            value = trial.get("objective")
            if trial.get("failure_reason"):
                training.failure_reason = str(trial["failure_reason"])
            training.final_metric_data_list = [] if value is None else [
                {"MetricName": objective["MetricName"], "Value": float(value),
                 "Timestamp": training.creation_time}]
            summary = {
                "TrainingJobName": trial_name, "TrainingJobArn": training.arn, "TuningJobName": name,
                "CreationTime": training.creation_time, "TrainingStartTime": training.creation_time,
                "TrainingEndTime": training.creation_time, "TrainingJobStatus": status,
                "TunedHyperParameters": tuned,
                "ObjectiveStatus": "Succeeded" if status == "Completed" and value is not None else "Failed",
            }
            if trial.get("failure_reason"):
                summary["FailureReason"] = str(trial["failure_reason"])
            if value is not None:
                summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                    "Type": objective["Type"], "MetricName": objective["MetricName"], "Value": float(value)}
            summaries.append(summary)
        job._airsage_trials = summaries
        statuses = [s["TrainingJobStatus"] for s in summaries]
        job.training_job_status_counters = {
            "Completed": statuses.count("Completed"), "InProgress": statuses.count("InProgress"),
            "RetryableError": 0, "NonRetryableError": statuses.count("Failed"),
            "Stopped": statuses.count("Stopped")}
        objectives = [s["ObjectiveStatus"] for s in summaries]
        job.objective_status_counters = {"Succeeded": objectives.count("Succeeded"),
                                         "Pending": 0, "Failed": objectives.count("Failed")}
        scored = [s for s in summaries if s["ObjectiveStatus"] == "Succeeded"]
        sign = 1.0 if objective["Type"] == "Maximize" else -1.0
        job.best_training_job = max(
            scored, key=lambda s: sign * s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        ) if scored else None
        job.OverallBestTrainingJob = None
        job.hyper_parameter_tuning_job_status = str(stated.get("status", "Completed"))
        job.failure_reason = str(stated.get("failure_reason", ""))
        job.last_modified_time = utcnow()

    original_create = models.SageMakerModelBackend.create_hyper_parameter_tuning_job

    def create_hyper_parameter_tuning_job(self: Any, **kwargs: Any) -> str:
        arn = original_create(self, **kwargs)
        run(self, self.hyper_parameter_tuning_jobs[kwargs["hyper_parameter_tuning_job_name"]])
        return arn

    original_describe = models.HyperParameterTuningJob.describe

    def describe(self: Any) -> dict[str, Any]:
        return {k: v for k, v in original_describe(self).items() if v is not None}

    def list_training_jobs_for_hyper_parameter_tuning_job(self: Any) -> Any:
        name = self._get_param("HyperParameterTuningJobName")
        self.sagemaker_backend.describe_hyper_parameter_tuning_job(name)  # ResourceNotFound
        found = list(getattr(self.sagemaker_backend.hyper_parameter_tuning_jobs[name],
                             "_airsage_trials", []))
        if self._get_param("StatusEquals"):
            found = [s for s in found if s["TrainingJobStatus"] == self._get_param("StatusEquals")]
        order = {"Name": lambda s: s["TrainingJobName"], "CreationTime": lambda s: s["CreationTime"],
                 "Status": lambda s: s["TrainingJobStatus"],
                 "FinalObjectiveMetricValue": lambda s: s.get(
                     "FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value", float("-inf"))}
        found.sort(key=order[self._get_param("SortBy") or "Name"],
                   reverse=self._get_param("SortOrder") == "Descending")
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 10)
        result: dict[str, Any] = {"TrainingJobSummaries": found[start:start + size]}
        if start + size < len(found):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    def state_tuning(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
        data = request.data if hasattr(request, "data") else request.body
        body = json.loads(data or b"{}")
        backend = models.sagemaker_backends[body.get("account_id", DEFAULT_ACCOUNT_ID)][
            body.get("region", "us-east-1")]
        name = body["tuning_job"]
        stated_of(backend).setdefault(name, {}).update(
            {k: v for k, v in body.items() if k in ("status", "failure_reason", "trials")})
        if name in backend.hyper_parameter_tuning_jobs:
            run(backend, backend.hyper_parameter_tuning_jobs[name])
        return 201, {}, ""

    models.SageMakerModelBackend.create_hyper_parameter_tuning_job = create_hyper_parameter_tuning_job
    models.HyperParameterTuningJob.describe = describe
    responses.SageMakerResponse.list_training_jobs_for_hyper_parameter_tuning_job = (
        list_training_jobs_for_hyper_parameter_tuning_job)
    urls.url_paths["{0}" + TUNING_PATH] = state_tuning


# -- SageMaker endpoints (UpdateEndpoint; a rollback a test asks for) ----------------------------


def _patch_sagemaker_endpoints() -> None:
    """UpdateEndpoint and the seed of a rolled-back update (see the module doc)."""
    from moto.applicationautoscaling.exceptions import AWSValidationException
    from moto.applicationautoscaling.models import (
        ApplicationAutoscalingBackend,
        applicationautoscaling_backends,
    )
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.moto_api._internal import urls
    from moto.sagemaker import responses
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, sagemaker_backends

    VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"

    def outcomes(backend: Any) -> dict[str, str]:
        return backend.__dict__.setdefault("_airsage_update_outcomes", {})

    def scalable_targets(backend: Any) -> dict[str, Any]:
        """The sagemaker variants Application Auto Scaling holds (moto's own store)."""
        scaling = applicationautoscaling_backends[backend.account_id][backend.region_name]
        return dict(scaling.targets.get(VARIANT_DIMENSION) or {})

    original_register = ApplicationAutoscalingBackend.register_scalable_target

    def register_scalable_target(self: Any, namespace: str, r_id: str, dimension: str,
                                 *args: Any, **kwargs: Any) -> Any:
        if dimension == VARIANT_DIMENSION:
            parts = r_id.split("/")
            sagemaker = sagemaker_backends[self.account_id][self.region_name]
            endpoint = sagemaker.endpoints.get(parts[1]) if len(parts) == 4 else None
            variants = {v["VariantName"] for v in endpoint.production_variants} if endpoint else set()
            if len(parts) != 4 or parts[3] not in variants:
                raise AWSValidationException(
                    f"The endpoint or variant of {r_id} does not exist (variants: "
                    f"{sorted(variants)})")
        return original_register(self, namespace, r_id, dimension, *args, **kwargs)

    ApplicationAutoscalingBackend.register_scalable_target = register_scalable_target

    def update_endpoint(self: Any) -> Any:
        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        config_name = self._get_param("EndpointConfigName")
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        config = backend.describe_endpoint_config(config_name)  # ValidationException if unknown
        kept = {v["VariantName"] for v in config["ProductionVariants"]}
        registered = sorted(
            v["VariantName"] for v in endpoint.production_variants
            if v["VariantName"] not in kept
            and f"endpoint/{name}/variant/{v['VariantName']}" in scalable_targets(backend))
        if registered:
            raise ValidationError(message=(
                f"The variant(s) {registered} of endpoint {name} are registered as scalable "
                "targets with Application Auto Scaling; deregister them before an update "
                "removes them"))
        endpoint.last_deployment_config = self._get_param("DeploymentConfig")
        rollback = outcomes(backend).pop(name, None)
        if rollback is not None:
            endpoint.failure_reason = rollback
        else:
            endpoint.endpoint_config_name = config_name
            endpoint.production_variants = endpoint._process_production_variants(
                config["ProductionVariants"])
            endpoint.data_capture_config = config.get("DataCaptureConfig")
            endpoint.failure_reason = None
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = utcnow()
        return ActionResult({"EndpointArn": endpoint.arn})

    responses.SageMakerResponse.update_endpoint = update_endpoint

    def set_update_outcome(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
        data = request.data if hasattr(request, "data") else request.body
        body = json.loads(data or b"{}")
        backend = sagemaker_backends[body.get("account_id", DEFAULT_ACCOUNT_ID)][
            body.get("region", "us-east-1")]
        outcomes(backend)[body["endpoint"]] = str(body["rollback_reason"])
        return 201, {}, ""

    urls.url_paths["{0}" + UPDATE_OUTCOME_PATH] = set_update_outcome


def _patch_sagemaker_feature_groups() -> None:
    """DescribeFeatureGroup's ResourceNotFound; CreateFeatureGroup's DataCatalogConfig."""
    import copy

    from moto.sagemaker import models
    from moto.sagemaker.exceptions import ResourceNotFound

    original_create = models.SageMakerModelBackend.create_feature_group
    original_describe = models.SageMakerModelBackend.describe_feature_group

    def create_feature_group(self: Any, *args: Any, **kwargs: Any) -> str:
        requested = copy.deepcopy((kwargs.get("offline_store_config") or {}).get("DataCatalogConfig"))
        arn = original_create(self, *args, **kwargs)
        if requested:
            self.feature_groups[arn].offline_store_config["DataCatalogConfig"] = requested
        return arn

    def describe_feature_group(self: Any, feature_group_name: str) -> dict[str, Any]:
        try:
            return original_describe(self, feature_group_name)
        except KeyError:
            raise ResourceNotFound(
                message=f"Resource Not Found: Amazon SageMaker can't find a FeatureGroup with "
                        f"name {feature_group_name}") from None

    models.SageMakerModelBackend.create_feature_group = create_feature_group
    models.SageMakerModelBackend.describe_feature_group = describe_feature_group


def serve(port: int) -> None:
    """Patch moto, then serve every service on 127.0.0.1:``port`` (blocks)."""
    _patch_glue()
    _patch_athena()
    _patch_sagemaker()
    _add_seed_endpoints()
    _patch_sagemaker_tuning()
    _patch_sagemaker_endpoints()
    _patch_sagemaker_feature_groups()
    from moto.server import main

    main(["-H", HOST, "-p", str(port)])


# -- the test side -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """The patched moto server as a subprocess on 127.0.0.1, started and stopped by its PID."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        # moto logs every request to stderr: into a file, never an unread pipe (once a pipe's
        # buffer is full, moto blocks on its next log line and stops answering).
        self.log: IO[bytes] | None = None

    def start(self, timeout: float = 60.0) -> MotoServer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.port)], env=env,
            stdout=subprocess.DEVNULL, stderr=self.log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"moto server did not answer on {self.url} within {timeout} s")
        self.post("/moto-api/state-manager/set-transition",
                  {"model_name": "glue::crawl", "transition": {"progression": "immediate"}})
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.log is not None:
            self.log.close()
            self.log = None
        self.process = None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of what the server wrote to stderr (its request log and any traceback)."""
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:]

    def post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status >= 300:
                raise RuntimeError(f"moto {path} answered {response.status}")

    def reset(self) -> None:
        self.post("/moto-api/reset", {})
        self.post("/moto-api/state-manager/set-transition",
                  {"model_name": "glue::crawl", "transition": {"progression": "immediate"}})

    def state_rule_outcomes(self, ruleset: str, rule_results: list[dict[str, Any]]) -> None:
        """What Glue Data Quality 'found' for ``ruleset``: the test states it, rule by rule."""
        self.post(OUTCOMES_PATH, {"ruleset": ruleset, "rule_results": rule_results})

    def seed_athena(self, query: str, rows: list[list[str]], columns: list[tuple[str, str]]) -> None:
        """The result Athena returns for exactly ``query`` (a header row is added, as Athena does)."""
        header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
        data = [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in rows]
        self.post(ATHENA_BY_QUERY_PATH, {"results": [{
            "query": query, "rows": [header, *data],
            "column_info": [{"Name": n, "Label": n, "Type": t, "CatalogName": "hive",
                             "SchemaName": "", "TableName": "", "Nullable": "UNKNOWN",
                             "CaseSensitive": False, "Precision": 19, "Scale": 0}
                            for n, t in columns],
        }]})

    def state_tuning(self, tuning_job: str, *, trials: list[dict[str, Any]] | None = None,
                     status: str | None = None, failure_reason: str | None = None) -> None:
        """How SageMaker tuning job ``tuning_job`` went: its trials and its status (the test
        states them; moto tunes nothing)."""
        body: dict[str, Any] = {"tuning_job": tuning_job}
        for key, value in (("trials", trials), ("status", status), ("failure_reason", failure_reason)):
            if value is not None:
                body[key] = value
        self.post(TUNING_PATH, body)


    def roll_back_next_update(self, endpoint: str, reason: str) -> None:
        """The next UpdateEndpoint of ``endpoint`` is rolled back by SageMaker with ``reason``."""
        self.post(UPDATE_OUTCOME_PATH, {"endpoint": endpoint, "rollback_reason": reason})

    def state_job_end(self, job_name: str, *, status: str = "Completed",
                      objects: dict[str, bytes] | None = None, failure_reason: str = "",
                      exit_message: str = "",
                      debug_rule_evaluation_statuses: list[dict[str, str]] | None = None) -> None:
        """How the SageMaker job ``job_name`` ends when it is created; a completed job writes
        ``objects`` (``"bucket/key"`` -> bytes: what its script would have written); a
        training job reports ``debug_rule_evaluation_statuses`` (its Debugger rules')."""
        import base64

        self.post(JOB_ENDS_PATH, {
            "job_name": job_name, "status": status, "failure_reason": failure_reason,
            "exit_message": exit_message,
            "debug_rule_evaluation_statuses": debug_rule_evaluation_statuses or [],
            "objects": {k: base64.b64encode(v).decode() for k, v in (objects or {}).items()}})


if __name__ == "__main__":
    serve(int(sys.argv[1]))
