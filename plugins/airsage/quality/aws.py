"""The aws target's quality gate: one DQDL file, two Deequ engines, the local gate's verdict.

- Glue Data Quality (``aws.quality_engine: glue_dq``): :func:`glue_dq_request` (pure) names
  the ruleset (content-addressed, so a changed DQDL file is a new ruleset and a rerun reuses
  the existing one), the shipped DQDL text, the Glue table with a push-down predicate on the
  day's partition, the role, the workers and the results prefix (a lake key). The run is
  ``CreateDataQualityRuleset`` + ``StartDataQualityRulesetEvaluationRun`` (the provider's
  ``GlueDataQualityOperator`` and ``GlueDataQualityRuleSetEvaluationRunOperator``).
- PyDeequ (``aws.quality_engine: pydeequ``): :func:`deequ_job_request` (pure) is a SageMaker
  Spark processing job running ``include/jobs/deequ_gate.py`` (PyDeequ's
  ``pydeequ.dqdl.EvaluateDataQuality``) on the day's raw partition, with
  ``spark.jars.packages`` set to PyDeequ's own Deequ coordinate.
- :func:`collect_quality` (pure) normalises either engine's rule outcomes into the local
  gate's :class:`~airsage.quality.results.RuleResult`; :func:`finish_quality` then runs the
  shared anomaly checks, writes the metrics history and the report, and raises the same
  :class:`GateFailedError` as the local gate. Quarantine and alerts are the Airflow layer's,
  shared by both targets.
"""

from __future__ import annotations

import ast
import datetime as dt_
import hashlib
import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airsage.awsconf import AwsSettings, ServiceCall, ServiceReader
from airsage.config import INCLUDE_DIR, Settings
from airsage.errors import ConfigurationError, GateFailedError, GateFailure, InputDataError
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.quality import dqdl
from airsage.quality.history import (
    REPORT_FILE,
    REPORT_KIND,
    MetricsHistory,
    QualitySettings,
    check_anomalies,
)
from airsage.quality.results import OUTCOMES, QualityReport, RuleResult

GATE_NAME = "quality"
DEEQU_JOB_SCRIPT = "deequ_gate.py"
DEEQU_CODE_KEY = f"code/jobs/{DEEQU_JOB_SCRIPT}"
DEEQU_REPORT_KIND = "quality-deequ"
GLUE_DQ_REPORT_KIND = "quality-glue"
PROCESSING = "/opt/ml/processing"
_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\n)*")


def shipped_ruleset(settings: Settings) -> tuple[str, str]:
    """The configured DQDL file: (its path, its text)."""
    configured = QualitySettings.from_settings(settings).ruleset
    path = Path(configured)
    if not path.is_absolute():
        path = INCLUDE_DIR / path
    try:
        return str(path), path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"quality gate: cannot read the DQDL ruleset {path} (quality.ruleset = {configured!r}); "
            "point the setting at an existing file") from exc


def glue_ruleset_text(text: str, source: str) -> str:
    """The DQDL document as Glue receives it: the shipped text from ``Rules`` on (the
    provider's operator requires ``Rules = [ ... ]``; the file's leading comment block is
    documentation). A document with other sections first cannot go to Glue as it is."""
    body = _LEADING_COMMENTS.sub("", text).strip()
    if not body.startswith("Rules") or not body.endswith("]"):
        raise ConfigurationError(
            f"{source}: Glue Data Quality (GlueDataQualityOperator) takes a document that starts "
            "with 'Rules = [' and ends with ']'; move Metadata / DataSources / Analyzers out "
            "of this ruleset or use aws.quality_engine: pydeequ")
    return body


def ruleset_name(dataset: str, text: str) -> str:
    """Content-addressed: the same DQDL text always has the same Glue ruleset name."""
    return f"airsage-{dataset}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class GlueDQRequest:
    """One day's Glue Data Quality evaluation of the shipped ruleset."""

    dataset: str
    day: str
    ruleset_name: str
    ruleset: str
    ruleset_source: str
    database: str
    table: str
    role: str
    workers: int
    results_prefix: str
    lake_root: str
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def datasource(self) -> dict[str, Any]:
        return {"GlueTable": {"DatabaseName": self.database, "TableName": self.table,
                              "AdditionalOptions": {"pushDownPredicate": f"dt = '{self.day}'"}}}

    @property
    def run_options(self) -> dict[str, Any]:
        return {"AdditionalRunOptions": {"CloudWatchMetricsEnabled": False,
                                         "ResultsS3Prefix": f"{self.lake_root}/{self.results_prefix}"}}

    def ruleset_kwargs(self) -> dict[str, Any]:
        return {"TargetTable": {"DatabaseName": self.database, "TableName": self.table},
                "Tags": dict(self.tags)}

    def calls(self) -> tuple[ServiceCall, ...]:
        return (
            ServiceCall("glue", "CreateDataQualityRuleset (when absent)",
                        {"Name": self.ruleset_name, "Ruleset": f"<{self.ruleset_source}>",
                         **self.ruleset_kwargs()}),
            ServiceCall("glue", "StartDataQualityRulesetEvaluationRun",
                        {"DataSource": self.datasource, "Role": self.role,
                         "NumberOfWorkers": self.workers, "RulesetNames": [self.ruleset_name],
                         **self.run_options}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"engine": "glue_dq", **{k: getattr(self, k) for k in (
            "dataset", "day", "ruleset_name", "ruleset", "ruleset_source", "database", "table",
            "role", "workers", "results_prefix", "lake_root")},
            "tags": [list(t) for t in self.tags]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> GlueDQRequest:
        values = {k: v for k, v in raw.items() if k != "engine"}
        return cls(**{**values, "tags": tuple(tuple(t) for t in raw.get("tags", ()))})


def glue_dq_request(settings: Settings, dataset: str, day: str) -> GlueDQRequest:
    aws = AwsSettings.from_settings(settings)
    aws.require_s3()
    settings.dataset(dataset)
    day = partition_value(day)
    source, text = shipped_ruleset(settings)
    dqdl.parse(text, source=source)  # a ruleset that does not parse never reaches Glue
    body = glue_ruleset_text(text, source)
    return GlueDQRequest(
        dataset=dataset, day=day, ruleset_name=ruleset_name(dataset, body), ruleset=body,
        ruleset_source=source, database=aws.database, table=dataset, role=aws.role_arn,
        workers=aws.glue_dq_workers,
        results_prefix=LakeLayout(dataset).report(GLUE_DQ_REPORT_KIND, day, ""),
        lake_root=aws.lake_root, tags=aws.tags,
    )


def deequ_coordinate(spark_version: str) -> str:
    """PyDeequ's Deequ Maven coordinate for a Spark version, read from the installed PyDeequ
    (``pydeequ.configs.SPARK_TO_DEEQU_COORD_MAPPING``) without importing it: importing
    PyDeequ needs pyspark and a ``SPARK_VERSION`` variable, which a worker does not have."""
    spec = importlib.util.find_spec("pydeequ")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("aws.quality_engine pydeequ needs the pydeequ package installed")
    configs = Path(next(iter(spec.submodule_search_locations))) / "configs.py"
    for node in ast.parse(configs.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "SPARK_TO_DEEQU_COORD_MAPPING"):
            mapping = ast.literal_eval(node.value)
            break
    else:
        raise ConfigurationError(f"{configs} has no SPARK_TO_DEEQU_COORD_MAPPING; is PyDeequ 1.7 installed?")
    try:
        return str(mapping[spark_version])
    except KeyError:
        raise ConfigurationError(
            f"aws.spark_version {spark_version!r} has no Deequ build in PyDeequ; use one of "
            f"{sorted(mapping)}") from None


def spark_image(region: str, spark_version: str, instance_type: str) -> str:
    """The SageMaker Spark processing image, resolved offline by the SageMaker SDK."""
    from sagemaker.core import image_uris

    return str(image_uris.retrieve("spark", region, version=spark_version, instance_type=instance_type))


@dataclass(frozen=True)
class DeequJobRequest:
    """A SageMaker Spark processing job that runs PyDeequ's DQDL evaluator (CreateProcessingJob)."""

    dataset: str
    day: str
    job_name: str
    image_uri: str
    role: str
    instance_type: str
    script_key: str
    data_key: str
    ruleset: str
    ruleset_source: str
    output_key: str
    deequ_coordinate: str
    spark_version: str
    lake_root: str
    tags: tuple[tuple[str, str], ...] = ()

    def processing_config(self) -> dict[str, Any]:
        """``CreateProcessingJob`` parameters (the provider's SageMakerProcessingOperator)."""
        root = self.lake_root
        return {
            "ProcessingJobName": self.job_name,
            "RoleArn": self.role,
            "AppSpecification": {
                "ImageUri": self.image_uri,
                "ContainerEntrypoint": ["smspark-submit", f"{PROCESSING}/input/code/{DEEQU_JOB_SCRIPT}"],
                "ContainerArguments": ["--data", f"{PROCESSING}/input/data",
                                       "--ruleset-b64", _b64(self.ruleset),
                                       "--output", f"{PROCESSING}/output/results.json",
                                       "--jars-packages", self.deequ_coordinate],
            },
            "ProcessingInputs": [
                {"InputName": "code", "S3Input": {
                    "S3Uri": f"{root}/{self.script_key}", "LocalPath": f"{PROCESSING}/input/code",
                    "S3DataType": "S3Prefix", "S3InputMode": "File"}},
                {"InputName": "data", "S3Input": {
                    "S3Uri": f"{root}/{self.data_key}", "LocalPath": f"{PROCESSING}/input/data",
                    "S3DataType": "S3Prefix", "S3InputMode": "File"}},
            ],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "results", "S3Output": {
                "S3Uri": f"{root}/{self.output_key}", "LocalPath": f"{PROCESSING}/output",
                "S3UploadMode": "EndOfJob"}}]},
            "ProcessingResources": {"ClusterConfig": {
                "InstanceCount": 1, "InstanceType": self.instance_type, "VolumeSizeInGB": 30}},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "Environment": {"SPARK_VERSION": self.spark_version},
            "Tags": [{"Key": k, "Value": v} for k, v in self.tags],
        }

    def calls(self) -> tuple[ServiceCall, ...]:
        config = self.processing_config()
        return (ServiceCall("sagemaker", "CreateProcessingJob", {
            "ProcessingJobName": self.job_name, "ImageUri": self.image_uri,
            "Script": f"{self.lake_root}/{self.script_key}", "Ruleset": self.ruleset_source,
            "Input": f"{self.lake_root}/{self.data_key}",
            "Output": f"{self.lake_root}/{self.output_key}",
            "spark.jars.packages": self.deequ_coordinate, "Tags": config["Tags"]}),)

    def to_dict(self) -> dict[str, Any]:
        return {"engine": "pydeequ", **{k: getattr(self, k) for k in (
            "dataset", "day", "job_name", "image_uri", "role", "instance_type", "script_key",
            "data_key", "ruleset", "ruleset_source", "output_key", "deequ_coordinate",
            "spark_version", "lake_root")}, "tags": [list(t) for t in self.tags]}


    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DeequJobRequest:
        values = {k: v for k, v in raw.items() if k != "engine"}
        return cls(**{**values, "tags": tuple(tuple(t) for t in raw.get("tags", ()))})


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def deequ_job_request(settings: Settings, dataset: str, day: str, *,
                      image_uri: str | None = None) -> DeequJobRequest:
    """The PyDeequ processing job for ``day`` (pure but for resolving the image offline)."""
    aws = AwsSettings.from_settings(settings)
    aws.require_s3()
    settings.dataset(dataset)
    day = partition_value(day)
    source, text = shipped_ruleset(settings)
    dqdl.parse(text, source=source)
    layout = LakeLayout(dataset)
    digest = hashlib.sha256(f"{text}|{day}".encode()).hexdigest()[:8]
    return DeequJobRequest(
        dataset=dataset, day=day,
        job_name=f"airsage-deequ-{dataset}-{day.replace('-', '')}-{digest}",
        image_uri=image_uri or spark_image(aws.region, aws.spark_version, aws.processing_instance_type),
        role=aws.role_arn, instance_type=aws.processing_instance_type,
        script_key=DEEQU_CODE_KEY, data_key=layout.raw_partition(day),
        ruleset=text, ruleset_source=source,
        output_key=layout.report(DEEQU_REPORT_KIND, day, ""),
        deequ_coordinate=deequ_coordinate(aws.spark_version), spark_version=aws.spark_version,
        lake_root=aws.lake_root, tags=aws.tags,
    )


def _expected_by_text(ruleset_text: str, source: str) -> dict[str, str]:
    parsed = dqdl.parse(ruleset_text, source=source)
    expected = {}
    for rule in parsed.rules:
        condition = getattr(rule, "condition", None)
        threshold = getattr(rule, "threshold", None)
        parts = [str(c) for c in (condition, threshold) if c is not None]
        expected[rule.text] = " with threshold ".join(parts) if parts else rule.text
    return expected


def collect_quality(ruleset_text: str, source: str, rule_results: Sequence[Mapping[str, Any]],
                    *, dataset: str, day: str,
                    now: dt_.datetime | None = None) -> QualityReport:
    """Normalise Glue Data Quality ``RuleResults`` (or PyDeequ's outcomes, already in Glue's
    keys by the job script) into the local gate's report. An outcome outside PASS / FAIL /
    ERROR, or a result with no rules, is an error: the gate never passes on nothing."""
    if not rule_results:
        raise InputDataError(f"quality gate: the engine returned no rule results for {dataset} dt={day}")
    expected = _expected_by_text(ruleset_text, source)
    results: list[RuleResult] = []
    metrics: dict[str, Any] = {}
    for index, raw in enumerate(rule_results, start=1):
        outcome = str(raw.get("Result", "")).upper()
        if outcome not in OUTCOMES:
            raise InputDataError(
                f"quality gate: rule {raw.get('Name')!r} has outcome {raw.get('Result')!r}; "
                f"expected one of {', '.join(OUTCOMES)}")
        evaluated = {str(k): v for k, v in (raw.get("EvaluatedMetrics") or {}).items()}
        metrics.update(evaluated)
        description = str(raw.get("Description") or raw.get("EvaluatedRule") or "")
        results.append(RuleResult(
            name=str(raw.get("Name") or f"Rule_{index}"), description=description, result=outcome,
            evaluation_message=str(raw.get("EvaluationMessage") or ""),
            evaluated_metrics=evaluated,
            measured=next(iter(evaluated.values())) if len(evaluated) == 1 else (evaluated or None),
            expected=expected.get(description, description),
        ))
    now = now or dt_.datetime.now(dt_.UTC)
    return QualityReport(rule_results=tuple(results), metrics=metrics, ruleset_source=source,
                         dataset=dataset, day=partition_value(day),
                         evaluated_at=now.replace(microsecond=0).isoformat())


def finish_quality(settings: Settings, lake: Lake, report: QualityReport) -> QualityReport:
    """What the local gate does after evaluating: anomaly rules over the metrics history,
    the day's metrics and report written, then a refusal raised with every failed rule."""
    dataset, day = report.dataset, report.day
    assert dataset is not None and day is not None
    quality = QualitySettings.from_settings(settings)
    history = MetricsHistory(lake, dataset)
    trailing = history.trailing(day, quality.history_window_days)
    anomalies = check_anomalies(quality.anomaly, report.metrics, trailing, quality.history_window_days)
    report = report.with_results(anomalies)
    history.write(day, report.metrics)
    key = LakeLayout(dataset).report(REPORT_KIND, day, REPORT_FILE)
    report_uri = lake.write_bytes(key, json.dumps(report.to_dict(), indent=2).encode("utf-8"))
    if report.outcome != "PASS":
        raise GateFailedError(
            gate=GATE_NAME,
            resource=f"{report.dataset} dt={report.day}",
            failures=[GateFailure(check=r.description, measured=r.measured, expected=r.expected,
                                  message=f"{r.name} {r.result}: {r.evaluation_message}")
                      for r in report.failed],
            report_uri=report_uri,
        )
    return report


class GlueQualityGate(ServiceReader):
    """Reads a Glue Data Quality evaluation run's results back (the provider's hook)."""

    def _connect(self) -> Any:
        from airflow.providers.amazon.aws.hooks.glue import GlueDataQualityHook

        return GlueDataQualityHook(aws_conn_id=self.aws.conn_id or None,
                                   region_name=self.aws.region).conn

    def ruleset_exists(self, name: str) -> bool:
        try:
            self.client.get_data_quality_ruleset(Name=name)
        except self.client.exceptions.EntityNotFoundException:
            return False
        return True

    def rule_results(self, run_id: str) -> list[dict[str, Any]]:
        run = self.client.get_data_quality_ruleset_evaluation_run(RunId=run_id)
        if run.get("Status") != "SUCCEEDED":
            raise InputDataError(
                f"quality gate: Glue Data Quality run {run_id} is {run.get('Status')}: "
                f"{run.get('ErrorString') or 'no reason given'}")
        found = self.client.batch_get_data_quality_result(ResultIds=run.get("ResultIds") or [])
        return [rule for result in found.get("Results", []) for rule in result.get("RuleResults", [])]
