"""The aws target's ``run`` phase for every job script: a :class:`JobRequest` as a SageMaker job.

The same request the local runner executes in a subprocess (:mod:`airsage.jobs.local`) maps
one-to-one onto ``CreateProcessingJob`` (bias, evaluate, baseline, monitor) or
``CreateTrainingJob`` (train), and the job's end back onto the same :class:`JobOutcome`:

- **image**: a SageMaker framework image (``aws.jobs.*_framework`` / ``*_framework_version``),
  resolved offline by ``sagemaker.core.image_uris.retrieve``; never a hard-coded URI.
- **code**: the job's script and the ``airsage`` package it imports (without its Airflow
  layer: scripts import nothing from Airflow), one ``sourcedir.tar.gz`` staged once per
  content hash at ``code/jobs/<hash>/``. A training job runs it in script mode
  (``sagemaker_program`` / ``sagemaker_submit_directory``); a processing job gets it as its
  ``code`` input, and its entry point unpacks it and runs ``python3 <script>`` (one object
  to upload instead of a hundred small ones).
- **inputs**: a lake key or prefix is an ``S3Prefix`` input / channel, so the container sees
  the files the local runner stages (a prefix keeps the paths below it, a key its file name).
  A tuple of keys is copied, server-side, to ``staging/<job>/input/<channel>/`` under the
  names :func:`airsage.jobs.contract.manifest_name` gives them (an S3 ``ManifestFile`` would
  keep each key's path, and ``include/jobs/baseline.py`` opens the flattened names); an empty
  tuple stages one empty hidden file, so the channel exists there as it does locally.
- **config**: a processing job's config JSON is staged as ``staging/<job>/config/config.json``
  and mounted at ``processing/input/config/``; a training job's config is its
  hyperparameters (strings, encoded as the local runner encodes them).
- **outputs**: processing outputs are ``ProcessingOutputs`` to their lake prefixes (cleared
  before the job starts, as locally); SageMaker writes a training job's ``model.tar.gz``
  under ``OutputDataConfig`` and :func:`describe_outcome` copies it to the request's
  ``model`` key when the job's name differs (a re-attached ``-rN`` attempt).
- **Clarify**: a processing request whose script is :data:`CLARIFY_JOB` runs SageMaker
  Clarify's own container instead (``bias.engine: clarify``): Clarify's image, no code input
  and no entry point (Clarify supports neither), the config staged as
  ``analysis_config.json`` for the ``analysis_config`` input, the one input channel as the
  ``dataset`` input (``processing/input/data``) and the one output as ``analysis_result``
  from ``processing/output``, where Clarify writes ``analysis.json`` and its report.
- **outcome**: ``DescribeProcessingJob`` / ``DescribeTrainingJob`` → :class:`JobOutcome`.
  The script writes its failure file (``ExitMessage`` / ``FailureReason``); a reason that
  starts with ``ConfigurationError:`` or ``InputDataError:`` is the contract's exit code 2
  (bad input, no retry helps), any other failure exit code 1. ``FinalMetricDataList`` gives
  the last value of each metric the request defines.

:class:`SageMakerJobRunner` is the synchronous runner (the :class:`JobRunner` protocol) for
callers outside Airflow (the CLI): re-attach (:mod:`airsage.jobs.reattach`), stage, create,
wait with boto3's waiter, collect. Inside Airflow the same functions are split over the
task group of :mod:`airsage.airflow.aws_jobs`, whose provider operators wait deferred.
"""

from __future__ import annotations

import datetime as dt_
import gzip
import hashlib
import io
import json
import posixpath
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airsage.awsconf import AwsSettings, SageMakerJobSettings
from airsage.config import PROJECT_ROOT, Settings
from airsage.errors import ConfigurationError, StepFailed
from airsage.jobs import contract
from airsage.jobs.local import _hyperparameter_string, script_path
from airsage.jobs.reattach import SUBMIT, WAIT, decide, sagemaker_status
from airsage.jobs.request import (
    CONFIG_CHANNEL,
    MODEL_OUTPUT,
    AttemptingRunner,
    JobOutcome,
    JobRequest,
    MetricCallback,
)
from airsage.lake.base import Lake

PROCESSING = "/opt/ml/processing"
CODE_CHANNEL = "code"
CODE_PREFIX = "code/jobs/"
STAGING_PREFIX = "staging/"
SOURCE_ARCHIVE = "sourcedir.tar.gz"
CODE_ROOT = "/tmp/airsage-job"  # where a processing job unpacks its code bundle
EMPTY_MANIFEST = ".airsage-empty-manifest"
PACKAGE_DIR = PROJECT_ROOT / "plugins" / "airsage"
# The Airflow layer never runs inside a job container (scripts import nothing from Airflow).
EXCLUDED_PACKAGES = ("airflow",)
BAD_INPUT_PREFIXES = ("ConfigurationError:", "InputDataError:")
DEFAULT_TRAINING_RUNTIME = 24 * 3600  # SageMaker's own default for MaxRuntimeInSeconds
# A request with this script runs SageMaker Clarify's container, not a script of include/jobs/
# (no file there can have this name: scripts end in .py). Clarify's own contract:
# docs.aws.amazon.com/sagemaker/latest/dg/clarify-processing-job-configure-parameters.html
CLARIFY_JOB = "sagemaker-clarify"
CLARIFY_CONFIG_FILE = "analysis_config.json"
CLARIFY_CONFIG_INPUT, CLARIFY_DATA_INPUT = "analysis_config", "dataset"
CLARIFY_OUTPUT = "analysis_result"
WAITERS = {"processing": "processing_job_completed_or_stopped",
           "training": "training_job_completed_or_stopped"}


# -- settings and images ----------------------------------------------------------------------


def image_uri(framework: str, version: str, *, region: str, instance_type: str, scope: str,
              py_version: str = "", setting: str = "aws.jobs") -> str:
    """The framework image of ``framework`` ``version`` in ``region``, resolved offline from the
    SageMaker SDK's bundled image table (no network, no hard-coded account or URI)."""
    from sagemaker.core import image_uris

    try:
        return str(image_uris.retrieve(framework, region, version=version,
                                       py_version=py_version or None,
                                       instance_type=instance_type, image_scope=scope))
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(
            f"{setting}: no SageMaker {framework} {scope} image for version {version!r}"
            f"{f' and py_version {py_version!r}' if py_version else ''} on {instance_type} in "
            f"{region}: {exc}") from exc


def clarify_image(region: str) -> str:
    """SageMaker Clarify's processing image in ``region``, resolved offline as the SDK's own
    ``SageMakerClarifyProcessor`` resolves it."""
    from sagemaker.core import image_uris

    try:
        return str(image_uris.retrieve("clarify", region))
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(
            f"bias.engine: clarify: SageMaker Clarify has no processing image in {region}: "
            f"{exc}; use bias.engine: airsage there") from exc


@dataclass(frozen=True)
class JobTarget:
    """Everything a Create*Job call needs besides the request: role, lake, images, instances,
    limits and tags, read from the settings once (images resolved offline)."""

    region: str
    role_arn: str
    lake_root: str
    tags: tuple[tuple[str, str], ...]
    processing_image: str
    processing_instance_type: str
    training_image: str
    training_instance_type: str
    jobs: SageMakerJobSettings

    @classmethod
    def from_settings(cls, settings: Settings) -> JobTarget:
        aws = AwsSettings.from_settings(settings)
        aws.require_s3()
        role = aws.require_role("SageMaker processing and training jobs")
        jobs = SageMakerJobSettings.from_settings(settings)
        training_type = str(settings.section("training").get("instance_type") or "ml.m5.xlarge")
        return cls(
            region=aws.region, role_arn=role, lake_root=aws.lake_root, tags=aws.tags,
            processing_image=image_uri(
                jobs.processing_framework, jobs.processing_framework_version, region=aws.region,
                instance_type=aws.processing_instance_type, scope="training",
                setting="aws.jobs.processing_framework_version"),
            processing_instance_type=aws.processing_instance_type,
            training_image=image_uri(
                jobs.training_framework, jobs.training_framework_version, region=aws.region,
                instance_type=training_type, scope="training",
                py_version=jobs.training_py_version,
                setting="aws.jobs.training_framework_version"),
            training_instance_type=training_type,
            jobs=jobs,
        )

    def uri(self, key: str) -> str:
        return f"{self.lake_root}/{key}"


# -- code and staging ---------------------------------------------------------------------------


def _package_files() -> list[tuple[str, Path]]:
    """(name in the bundle, file) for the airsage package, without its Airflow layer."""
    files = []
    for path in sorted(PACKAGE_DIR.rglob("*")):
        relative = path.relative_to(PACKAGE_DIR)
        if (not path.is_file() or "__pycache__" in relative.parts
                or relative.parts[0] in EXCLUDED_PACKAGES or path.suffix not in (".py", ".typed")):
            continue
        files.append((f"airsage/{relative.as_posix()}", path))
    return files


@dataclass(frozen=True)
class CodeBundle:
    """The job's script and the airsage package, content-addressed in the lake."""

    script: str  # the entry point's file name
    files: tuple[tuple[str, Path], ...]
    digest: str

    @classmethod
    def for_script(cls, script: str) -> CodeBundle:
        if script == CLARIFY_JOB:  # Clarify's container brings its own code: nothing to stage
            return cls(script=script, files=(), digest="")
        path = script_path(script)
        files = ((path.name, path), *_package_files())
        digest = hashlib.sha256()
        for name, file in files:
            digest.update(name.encode() + b"\0" + file.read_bytes() + b"\0")
        return cls(script=path.name, files=files, digest=digest.hexdigest()[:16])

    @property
    def archive_key(self) -> str:
        """A training job's ``sagemaker_submit_directory``, a processing job's ``code`` input."""
        return f"{CODE_PREFIX}{self.digest}/{SOURCE_ARCHIVE}"

    def processing_entrypoint(self) -> list[str]:
        """Unpack the bundle and run the script (``/bin/sh`` and ``tar`` are in every
        SageMaker framework image)."""
        archive = f"{PROCESSING}/input/{CODE_CHANNEL}/{SOURCE_ARCHIVE}"
        return ["/bin/sh", "-c",
                f'mkdir -p {CODE_ROOT} && tar -xzf "$1" -C {CODE_ROOT} '
                f'&& exec python3 {CODE_ROOT}/"$2"', "airsage-job", archive, self.script]

    def archive(self) -> bytes:
        """A reproducible ``sourcedir.tar.gz`` (sorted, zero mtimes)."""
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed, \
                tarfile.open(fileobj=packed, mode="w") as tar:
            for name, file in self.files:
                data = file.read_bytes()
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def stage(self, lake: Lake) -> None:
        """Upload the bundle unless this content is staged already (one object: a reader
        sees all of it or none); an image-only job (Clarify) has none."""
        if self.files and not lake.exists(self.archive_key):
            lake.write_bytes(self.archive_key, self.archive())


def staging_prefix(job_name: str) -> str:
    return f"{STAGING_PREFIX}{job_name}/"


def config_key(job_name: str, file: str = contract.CONFIG_FILE) -> str:
    return f"{staging_prefix(job_name)}config/{file}"


def request_config_key(request: JobRequest, job_name: str) -> str:
    """Where a processing request's config is staged: ``config.json`` for airsage's contract,
    ``analysis_config.json`` for Clarify's."""
    return config_key(job_name, CLARIFY_CONFIG_FILE if request.script == CLARIFY_JOB
                      else contract.CONFIG_FILE)


def manifest_prefix(job_name: str, channel: str) -> str:
    return f"{staging_prefix(job_name)}input/{channel}/"


def copy_key(lake: Lake, source: str, destination: str) -> None:
    """Copy one lake object: server-side on S3, through memory on any other lake."""
    client = getattr(lake, "client", None)
    source_uri, destination_uri = lake.uri(source), lake.uri(destination)
    if client is not None and source_uri.startswith("s3://"):
        bucket, _, source_key = source_uri[len("s3://"):].partition("/")
        destination_key = destination_uri[len("s3://"):].partition("/")[2]
        client.copy_object(Bucket=bucket, Key=destination_key,
                           CopySource={"Bucket": bucket, "Key": source_key})
    else:
        lake.write_bytes(destination, lake.read_bytes(source))


def _input_prefix(request: JobRequest, job_name: str, channel: str) -> str:
    """The lake key or prefix a channel's S3 input names."""
    source = request.inputs[channel]
    return manifest_prefix(job_name, channel) if isinstance(source, tuple) else source


def stage(lake: Lake, request: JobRequest, job_name: str) -> CodeBundle:
    """Everything the job reads from S3 besides its inputs, and its outputs cleared: the code
    bundle, the config file (processing), each manifest's copies. A missing input fails here,
    before a job is paid for, with the local runner's message."""
    from airsage.errors import InputDataError

    for channel, source in request.inputs.items():
        keys = source if isinstance(source, tuple) else (source,)
        for key in keys:
            missing = not any(True for _ in lake.list(key)) if key.endswith("/") else (
                not lake.exists(key))
            if missing:
                raise InputDataError(
                    f"job {request.job_name}: input '{channel}' names lake "
                    f"{'prefix' if key.endswith('/') else 'key'} {key!r} ({lake.uri(key)}), "
                    "which has no objects; run the step that writes it first")
    bundle = CodeBundle.for_script(request.script)
    bundle.stage(lake)
    lake.delete_prefix(staging_prefix(job_name))
    if request.kind == "processing":
        lake.write_bytes(request_config_key(request, job_name),
                         json.dumps(dict(request.config), indent=2).encode())
    for channel, source in request.inputs.items():
        if not isinstance(source, tuple):
            continue
        prefix = manifest_prefix(job_name, channel)
        if not source:
            lake.write_bytes(prefix + EMPTY_MANIFEST, b"")
        for key in source:
            copy_key(lake, key, prefix + contract.manifest_name(key))
    for key in request.outputs.values():
        lake.delete_prefix(key)
    return bundle


def staged_keys(request: JobRequest, job_name: str, bundle: CodeBundle) -> tuple[str, ...]:
    """The lake keys :func:`stage` writes for job ``job_name`` (pure, so ``airsage plan`` lists
    them without uploading): the code bundle (unless already staged), the config file of a
    processing job, and each manifest channel's copies (or its empty marker)."""
    keys = [bundle.archive_key] if bundle.files else []
    if request.kind == "processing":
        keys.append(request_config_key(request, job_name))
    for channel, source in request.inputs.items():
        if not isinstance(source, tuple):
            continue
        prefix = manifest_prefix(job_name, channel)
        if not source:
            keys.append(prefix + EMPTY_MANIFEST)
        keys.extend(prefix + contract.manifest_name(key) for key in source)
    return tuple(keys)


# -- the Create*Job arguments (pure) ------------------------------------------------------------


def _tags(target: JobTarget) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in target.tags]


def processing_job_config(request: JobRequest, job_name: str, target: JobTarget,
                          bundle: CodeBundle) -> dict[str, Any]:
    """``CreateProcessingJob``'s arguments for ``request`` run as job ``job_name``."""
    if request.kind != "processing":
        raise ConfigurationError(f"job {request.job_name} is a {request.kind} job, not processing")

    def s3_input(name: str, key: str, local: str = "") -> dict[str, Any]:
        return {"InputName": name, "S3Input": {
            "S3Uri": target.uri(key), "LocalPath": f"{PROCESSING}/input/{local or name}",
            "S3DataType": "S3Prefix", "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated"}}

    def s3_output(name: str, prefix: str, local: str) -> dict[str, Any]:
        return {"OutputName": name, "S3Output": {
            "S3Uri": target.uri(prefix), "LocalPath": f"{PROCESSING}/{local}",
            "S3UploadMode": "EndOfJob"}}

    if request.script == CLARIFY_JOB:
        if len(request.inputs) != 1 or len(request.outputs) != 1:
            raise ConfigurationError(
                f"job {request.job_name}: SageMaker Clarify reads one dataset and writes one "
                f"output; the request has inputs {sorted(request.inputs)} and outputs "
                f"{sorted(request.outputs)}")
        [channel], [prefix] = list(request.inputs), list(request.outputs.values())
        app: dict[str, Any] = {"ImageUri": clarify_image(target.region)}
        inputs = [s3_input(CLARIFY_CONFIG_INPUT, request_config_key(request, job_name),
                           CONFIG_CHANNEL),
                  s3_input(CLARIFY_DATA_INPUT, _input_prefix(request, job_name, channel),
                           "data")]
        outputs = [s3_output(CLARIFY_OUTPUT, prefix, "output")]
    else:
        app = {"ImageUri": target.processing_image,
               "ContainerEntrypoint": bundle.processing_entrypoint()}
        inputs = [s3_input(CODE_CHANNEL, bundle.archive_key),
                  s3_input(CONFIG_CHANNEL, config_key(job_name))]
        inputs += [s3_input(channel, _input_prefix(request, job_name, channel))
                   for channel in request.inputs]
        outputs = [s3_output(name, prefix, f"output/{name}")
                   for name, prefix in request.outputs.items()]
    config: dict[str, Any] = {
        "ProcessingJobName": job_name,
        "RoleArn": target.role_arn,
        "AppSpecification": app,
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": outputs},
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": target.jobs.processing_instance_count,
            "InstanceType": target.processing_instance_type,
            "VolumeSizeInGB": target.jobs.processing_volume_gb}},
        "Environment": {"PYTHONUNBUFFERED": "1"},
        "Tags": _tags(target),
    }
    if request.timeout_seconds:
        config["StoppingCondition"] = {"MaxRuntimeInSeconds": int(request.timeout_seconds)}
    return config


def model_output_path(model_key: str, base_name: str) -> str:
    """The ``S3OutputPath`` under which SageMaker's ``<job>/output/model.tar.gz`` is the
    request's model key itself for the first attempt (``LakeLayout.model_artifact``), and the
    same layout under the ``-rN`` attempt's own name for a later one."""
    suffix = f"{base_name}/output/model.tar.gz"
    if model_key.endswith("/" + suffix):
        return model_key[: -len(suffix)]
    return posixpath.dirname(model_key) + "/sagemaker/"


def checkpoint_prefix(model_key: str) -> str:
    """Spot checkpoints beside the model: ``models/<dataset>/<job>/checkpoints/``."""
    directory = posixpath.dirname(model_key)
    if posixpath.basename(directory) == "output":
        directory = posixpath.dirname(directory)
    return f"{directory}/checkpoints/"


def debugger_image(region: str) -> str:
    """SageMaker Debugger's built-in rule image in ``region``, resolved offline."""
    from sagemaker.core import image_uris

    try:
        return str(image_uris.retrieve("debugger", region))
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(
            f"training.debugger: SageMaker Debugger has no rule image in {region}: {exc}; "
            "set training.debugger.enabled: false there") from exc


def _rule_value(value: Any) -> str:
    return ("True" if value else "False") if isinstance(value, bool) else str(value)


def debugger_config(request: JobRequest, job_name: str, target: JobTarget) -> dict[str, Any]:
    """``DebugHookConfig``, ``DebugRuleConfigurations`` (the built-in rules, with the
    ``StopTraining`` action under ``stop_training``), ``ProfilerConfig`` and
    ``ProfilerRuleConfigurations`` (``ProfilerReport``) of a training request; empty without
    rules. Outputs go beside the model: ``models/<dataset>/<job>/debug-output/`` and
    ``profiler-output/``. The rules read the tensors the smdebug hook saves (the framework
    containers' zero-code-change hook); airsage also prints the metrics the same rules are
    evaluated on locally."""
    if not request.debugger:
        return {}
    from smdebug_rulesconfig.actions.actions import StopTraining  # type: ignore[import-untyped]

    rules = dict(request.debugger.get("rules") or {})
    image = debugger_image(target.region)
    prefix = checkpoint_prefix(request.output(MODEL_OUTPUT)).removesuffix("checkpoints/")
    configurations = []
    for name, parameters in rules.items():
        values = {"rule_to_invoke": name, **{k: _rule_value(v) for k, v in parameters.items()}}
        if request.debugger.get("action") == "stop_training":
            values["action_json"] = StopTraining(job_name).serialize()
        configurations.append({"RuleConfigurationName": name, "RuleEvaluatorImage": image,
                               "RuleParameters": values})
    config: dict[str, Any] = {
        "DebugHookConfig": {"S3OutputPath": target.uri(prefix + "debug-output/"),
                            "CollectionConfigurations": [
                                {"CollectionName": "losses",
                                 "CollectionParameters": {"save_interval": "1"}}]},
        "DebugRuleConfigurations": configurations,
    }
    if request.debugger.get("profiler", True):
        config["ProfilerConfig"] = {"S3OutputPath": target.uri(prefix + "profiler-output/"),
                                    "ProfilingIntervalInMilliseconds": 500}
        config["ProfilerRuleConfigurations"] = [{
            "RuleConfigurationName": "ProfilerReport", "RuleEvaluatorImage": image,
            "RuleParameters": {"rule_to_invoke": "ProfilerReport"}}]
    return config


def training_job_config(request: JobRequest, job_name: str, target: JobTarget,
                        bundle: CodeBundle) -> dict[str, Any]:
    """``CreateTrainingJob``'s arguments for ``request`` run as job ``job_name`` (script mode)."""
    if request.kind != "training":
        raise ConfigurationError(f"job {request.job_name} is a {request.kind} job, not training")
    if not bundle.files:
        raise ConfigurationError(
            f"job {request.job_name}: {request.script!r} is a processing container, not a "
            "training script; a training job runs a script of include/jobs/")
    jobs = target.jobs
    model_key = request.output(MODEL_OUTPUT)
    runtime = int(request.timeout_seconds or DEFAULT_TRAINING_RUNTIME)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": runtime}
    hyperparameters = {str(k): _hyperparameter_string(v) for k, v in request.config.items()}
    reserved = sorted(k for k in hyperparameters if k.startswith("sagemaker_"))
    if reserved:
        raise ConfigurationError(
            f"job {request.job_name}: hyperparameters {reserved} use SageMaker's reserved "
            "'sagemaker_' prefix; rename them")
    hyperparameters.update({
        "sagemaker_program": bundle.script,
        "sagemaker_submit_directory": target.uri(bundle.archive_key),
        "sagemaker_region": target.region,
        "sagemaker_container_log_level": "20",
    })
    config: dict[str, Any] = {
        "TrainingJobName": job_name,
        "RoleArn": target.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": target.training_image, "TrainingInputMode": "File",
            "MetricDefinitions": [dict(d) for d in request.metric_definitions]},
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {"ChannelName": channel, "InputMode": "File", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": target.uri(_input_prefix(request, job_name, channel)),
                "S3DataDistributionType": "FullyReplicated"}}}
            for channel in request.inputs],
        "OutputDataConfig": {"S3OutputPath": target.uri(
            model_output_path(model_key, request.job_name))},
        "ResourceConfig": {"InstanceType": target.training_instance_type,
                           "InstanceCount": jobs.training_instance_count,
                           "VolumeSizeInGB": jobs.training_volume_gb},
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": jobs.spot,
        "Tags": _tags(target),
        **debugger_config(request, job_name, target),
    }
    if jobs.spot:
        wait = jobs.max_wait_seconds or 2 * runtime
        if wait < runtime:
            raise ConfigurationError(
                f"aws.jobs.max_wait_seconds ({wait}) must be at least the job's time limit "
                f"({runtime} s, training.timeout_seconds) for spot training")
        stopping["MaxWaitTimeInSeconds"] = wait
    if jobs.checkpoints:
        config["CheckpointConfig"] = {"S3Uri": target.uri(checkpoint_prefix(model_key)),
                                      "LocalPath": "/opt/ml/checkpoints"}
    return config


def job_config(request: JobRequest, job_name: str, target: JobTarget,
               bundle: CodeBundle) -> dict[str, Any]:
    """The Create*Job arguments of the request's kind."""
    build = processing_job_config if request.kind == "processing" else training_job_config
    return build(request, job_name, target, bundle)


def max_polls(request: JobRequest, poll_seconds: int) -> int:
    """How many status polls cover the job's time limit (plus SageMaker's start-up)."""
    limit = request.timeout_seconds or DEFAULT_TRAINING_RUNTIME
    return int(limit // max(1, poll_seconds)) + 120


# -- the outcome -------------------------------------------------------------------------------


def describe(client: Any, kind: str, job_name: str) -> dict[str, Any]:
    if kind == "processing":
        return dict(client.describe_processing_job(ProcessingJobName=job_name))
    return dict(client.describe_training_job(TrainingJobName=job_name))


def _seconds(start: Any, end: Any) -> float:
    if isinstance(start, dt_.datetime) and isinstance(end, dt_.datetime):
        return max(0.0, (end - start).total_seconds())
    return 0.0


def _lake_keys(lake: Lake, prefixes: Mapping[str, str]) -> Iterator[str]:
    for prefix in prefixes.values():
        yield from lake.list(prefix)


def outcome_from_description(request: JobRequest, description: Mapping[str, Any],
                             lake: Lake) -> JobOutcome:
    """``Describe*Job``'s answer as a :class:`JobOutcome`; a completed training job's model
    is copied to the request's ``model`` key when SageMaker wrote it elsewhere."""
    training = request.kind == "training"
    status = str(description["TrainingJobStatus" if training else "ProcessingJobStatus"])
    job_name = str(description["TrainingJobName" if training else "ProcessingJobName"])
    if status not in ("Completed", "Failed", "Stopped"):
        raise StepFailed(f"job {job_name} is {status}, not finished; wait for it before collecting")
    message = str(description.get("ExitMessage") or "").strip()
    reason = "\n".join(part for part in (str(description.get("FailureReason") or "").strip(),
                                         message) if part)
    # the script's one-line reason leads its failure file (contract.run_job): a processing
    # job's ExitMessage, a training job's FailureReason (after SageMaker's "AlgorithmError:")
    failure_file = message or str(description.get("FailureReason") or "")
    lines = [line.strip() for line in failure_file.splitlines() if line.strip()]
    first = next((line.split(":", 1)[1].strip() if line.startswith("AlgorithmError:") else line
                  for line in lines), "")
    exit_code: int | None
    if status == "Completed":
        exit_code = 0
    elif status == "Stopped":
        exit_code = None
    else:
        exit_code = contract.EXIT_BAD_INPUT if first.startswith(BAD_INPUT_PREFIXES) else (
            contract.EXIT_FAILED)
    defined = {d["Name"] for d in request.metric_definitions}
    metrics = {str(m["MetricName"]): (float(m["Value"]),)
               for m in description.get("FinalMetricDataList") or ()
               if m.get("MetricName") in defined}
    start = description.get("TrainingStartTime" if training else "ProcessingStartTime") or (
        description.get("CreationTime"))
    end = description.get("TrainingEndTime" if training else "ProcessingEndTime")
    output_keys: tuple[str, ...] = ()
    if status == "Completed":
        if training:
            key = request.output(MODEL_OUTPUT)
            written = str((description.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or "")
            _copy_model(lake, request, written, key)
            output_keys = (key,)
        else:
            output_keys = tuple(_lake_keys(lake, request.outputs))
    return JobOutcome(
        job_name=job_name, status=status, exit_code=exit_code,
        failure_reason=(reason or f"the job ended {status}") if status != "Completed" else None,
        last_stderr_line=first, log_tail=reason, duration_seconds=_seconds(start, end),
        metric_history=metrics, output_keys=output_keys,
        rule_evaluations=tuple(
            {k: str(v) for k, v in status.items()
             if k in ("RuleConfigurationName", "RuleEvaluationStatus", "StatusDetails")}
            for status in description.get("DebugRuleEvaluationStatuses") or ()) if training else (),
        log_path=f"CloudWatch /aws/sagemaker/{'TrainingJobs' if training else 'ProcessingJobs'}"
                 f" {job_name}",
    )


def _copy_model(lake: Lake, request: JobRequest, written: str, key: str) -> None:
    target_uri = lake.uri(key)
    if written == target_uri:
        return
    root = lake.uri("").rstrip("/") + "/"
    if not written.startswith(root):
        raise StepFailed(
            f"training job {request.job_name} wrote its model to {written or 'nowhere'}, "
            f"outside the lake {root}; airsage expects it under the lake's models/ keys")
    source = written[len(root):]
    if not lake.exists(source):
        raise StepFailed(
            f"training job {request.job_name} completed but its model artifact {written} "
            "does not exist; rerun the task")
    copy_key(lake, source, key)


def check_collected(request: JobRequest, job_name: str) -> None:
    """The job that ran is the request's: its name, or a re-attach attempt ``<name>-rN``."""
    from airsage.jobs.reattach import MAX_ATTEMPTS, attempt_name

    names = {attempt_name(request.job_name, n) for n in range(1, MAX_ATTEMPTS + 1)}
    if job_name not in names:
        raise StepFailed(
            f"the job that ran is {job_name}, but this step asks for {request.job_name} (or a "
            f"re-attach attempt -r2 … -r{MAX_ATTEMPTS}); the step's request changed between "
            "submitting and collecting: clear the whole task group to run it again")


# -- the synchronous runner ---------------------------------------------------------------------


class SageMakerJobRunner(AttemptingRunner):
    """Runs a job script as a SageMaker processing or training job and waits for it (the CLI's
    runner; Airflow's task groups wait deferred instead). Re-attaches on a second call: a job
    of the request's name that runs is waited for, one that completed is collected, one that
    failed or stopped is replaced by ``<name>-rN``."""

    def __init__(self, settings: Settings, *, client: Any | None = None) -> None:
        self.settings = settings
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sagemaker",
                                        region_name=AwsSettings.from_settings(self.settings).region)
        return self._client

    def attempt(self, lake: Lake, request: JobRequest, *,
                on_metric: MetricCallback | None = None) -> JobOutcome:
        """Run (or re-attach to) the job and report how it ended. ``on_metric`` is refused:
        SageMaker reports metrics at the end, so nothing could stop a job early here."""
        if on_metric is not None:
            raise ConfigurationError(
                f"job {request.job_name}: early stopping on metrics needs the local runner or a "
                "SageMaker tuning job; the SageMaker job runner reports metrics at the end")
        job = decide(request.job_name, sagemaker_status(self.client, request.kind))
        if job.action == SUBMIT:
            self.submit(lake, request, job.job_name)
        if job.action in (SUBMIT, WAIT):
            self.wait(request, job.job_name)
        return outcome_from_description(
            request, describe(self.client, request.kind, job.job_name), lake)

    def submit(self, lake: Lake, request: JobRequest, job_name: str) -> dict[str, Any]:
        target = JobTarget.from_settings(self.settings)
        bundle = stage(lake, request, job_name)
        config = job_config(request, job_name, target, bundle)
        if request.kind == "processing":
            self.client.create_processing_job(**config)
        else:
            self.client.create_training_job(**config)
        return config

    def wait(self, request: JobRequest, job_name: str) -> None:
        from botocore.exceptions import WaiterError

        poll = SageMakerJobSettings.from_settings(self.settings).poll_seconds
        waiter = self.client.get_waiter(WAITERS[request.kind])
        parameter = "ProcessingJobName" if request.kind == "processing" else "TrainingJobName"
        try:
            waiter.wait(**{parameter: job_name}, WaiterConfig={
                "Delay": poll, "MaxAttempts": max_polls(request, poll)})
        except WaiterError as exc:  # Failed ends the waiter; the outcome says why
            if "Max attempts exceeded" in str(exc):
                raise StepFailed(
                    f"job {job_name} did not finish within its time limit and SageMaker's "
                    "start-up; it may still run: a retry waits for it") from exc
