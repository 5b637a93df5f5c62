"""The local target's tracking and model registry: MLflow 3 with a SQLite store.

Training jobs and tuning trials are MLflow runs (params, metrics, lineage tags); a registered
model is an MLflow model version whose approval status is the version tag
``model_approval_status`` with SageMaker Model Registry's values. The model.tar.gz is copied
into the run's artifacts (``<home>/mlartifacts``), so a registered version keeps working
after the lake's job output is cleaned up; ``ModelVersion.artifact_uri`` is that file's path
(or, for an artifact that is already remote, its URI). MLflow is imported on first use.
"""

from __future__ import annotations

import datetime as dt_
import functools
import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airsage.config import PROJECT_ROOT, Settings
from airsage.errors import InputDataError, StepFailed
from airsage.lake.layout import partition_value
from airsage.registry.base import (
    DECIDED_AT_TAG,
    DECIDED_BY_TAG,
    DECISION_COMMENT_TAG,
    STATUS_TAG,
    ApprovalStatus,
    ModelVersion,
    evaluation_metrics,
    local_path,
    select_champion,
)

TAG_PREFIX = "airsage."
METRIC_TAG_PREFIX = "metric."
ARTIFACT_TAG = "airsage.artifact_uri"
JOB_TAG = "airsage.training_job_name"
ARTIFACT_DIR = "model"
MAX_TAG_LENGTH = 5000


@functools.cache
def code_version() -> str:
    """The git commit of the project when it is a checkout, else the package version."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
            timeout=5, check=False,
        )
        if completed.returncode == 0 and completed.stdout.strip():
            return completed.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from airsage import __version__

    return f"airsage-{__version__}"


def _tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text[:MAX_TAG_LENGTH]


def _flatten(prefix: str, values: Mapping[str, Any] | None) -> dict[str, str]:
    return {f"{prefix}{key}": _tag_value(value) for key, value in (values or {}).items()
            if value is not None}


class MlflowRegistry:
    """airsage's ModelRegistry on MLflow (see the module doc)."""

    def __init__(self, settings: Settings) -> None:
        section = settings.section("registry")
        home = Path(settings.home)
        self.tracking_uri = str(section.get("tracking_uri") or f"sqlite:///{home / 'mlflow.db'}")
        artifact_root = Path(str(section.get("artifact_root") or "mlartifacts"))
        self.artifact_root = artifact_root if artifact_root.is_absolute() else home / artifact_root
        # A tracking server (http://mlflow:5000 in compose) keeps artifacts where it is told
        # (--artifacts-destination, the lake); a worker's own directory would be one worker's.
        self._server_artifacts = (self.tracking_uri.startswith(("http://", "https://"))
                                  and not section.get("artifact_root"))
        self.experiment_name = str(
            section.get("experiment") or section.get("model_name") or "airsage"
        )
        self._client_instance: Any = None
        self._experiment_id: str | None = None

    # -- plumbing -----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client_instance is None:
            from mlflow import MlflowClient

            if self.tracking_uri.startswith("sqlite:///"):
                Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                    parents=True, exist_ok=True
                )
            self._client_instance = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client_instance

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call MLflow; turn its errors into airsage's (missing → input, other → step)."""
        from mlflow.exceptions import MlflowException

        try:
            return function(*args, **kwargs)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise InputDataError(f"registry: {what}: {exc.message}") from exc
            raise StepFailed(
                f"registry: {what} failed on the MLflow store {self.tracking_uri}: {exc.message}"
            ) from exc

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            from mlflow.exceptions import MlflowException

            experiment = self.client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                try:
                    self._experiment_id = self.client.create_experiment(
                        self.experiment_name,
                        artifact_location=None if self._server_artifacts
                        else str(self.artifact_root / self.experiment_name),
                    )
                except MlflowException as exc:  # another task created it meanwhile
                    if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
                    experiment = self.client.get_experiment_by_name(self.experiment_name)
            if self._experiment_id is None:
                self._experiment_id = experiment.experiment_id
        return self._experiment_id

    def _ensure_registered_model(self, model_name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            try:
                self.client.create_registered_model(
                    model_name, description="airsage review-sentiment model"
                )
            except MlflowException as again:
                if again.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise

    # -- tracking -----------------------------------------------------------------------
    def log_training(
        self,
        *,
        job_name: str,
        dataset: str,
        day: dt_.date | str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        model_artifact_uri: str | None,
        dataset_hash: str | None = None,
        lineage: Mapping[str, Any] | None = None,
        status: str = "Completed",
        parent_run_id: str | None = None,
    ) -> str:
        """Record a training job or tuning trial (``parent_run_id``: the tuning run)."""
        from mlflow.entities import Metric, Param, RunTag

        tags = {
            "mlflow.runName": job_name,
            "airsage.dataset": dataset,
            "airsage.partition_day": partition_value(day),
            "airsage.code_version": code_version(),
            JOB_TAG: job_name,
            "airsage.job_status": status,
            **_flatten("lineage.", lineage),
        }
        if dataset_hash:
            tags["airsage.dataset_hash"] = dataset_hash
        if model_artifact_uri:
            tags["airsage.model_artifact_uri"] = model_artifact_uri
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = self._call("create run", self.client.create_run, self.experiment_id(),
                         run_name=job_name, tags=tags)
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        self._call(
            f"log run {job_name}", self.client.log_batch, run_id,
            metrics=[Metric(str(k), float(v), now, 0) for k, v in metrics.items()
                     if v is not None],
            params=[Param(str(k), _tag_value(v)[:6000]) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items() if k != "mlflow.runName"],
        )
        terminal = "FINISHED" if status == "Completed" else "FAILED"
        self._call(f"finish run {job_name}", self.client.set_terminated, run_id, terminal)
        return run_id

    def find_run(self, job_name: str) -> str | None:
        runs = self._call(
            f"search runs of {job_name}", self.client.search_runs, [self.experiment_id()],
            filter_string=f"tags.`{JOB_TAG}` = '{job_name.replace(chr(39), '')}'",
            max_results=1, order_by=["attributes.start_time DESC"],
        )
        return runs[0].info.run_id if runs else None

    # -- registry -----------------------------------------------------------------------
    def register(
        self,
        model_name: str,
        model_artifact_uri: str,
        *,
        run_id: str | None,
        evaluation: Mapping[str, Any],
        lineage: Mapping[str, Any],
        status: str | ApprovalStatus = ApprovalStatus.PENDING,
    ) -> ModelVersion:
        """Register ``model_artifact_uri`` (a model.tar.gz) as a new version of ``model_name``.

        A local artifact is copied into the run's artifacts when a run is given; the test
        metrics become ``metric.*`` version tags (and run metrics ``test:*``), the lineage
        becomes ``lineage.*`` tags, the evaluation document a run artifact.
        """
        approval = ApprovalStatus.parse(status)
        artifact_uri = source = model_artifact_uri
        local = local_path(model_artifact_uri)
        if local is not None and not local.is_file():
            raise InputDataError(
                f"registry: cannot register {model_name}: no model.tar.gz at {local}"
            )
        metrics = evaluation_metrics(evaluation)
        if run_id:
            if local is not None:
                self._call("store the model artifact", self.client.log_artifact, run_id,
                           str(local), ARTIFACT_DIR)
                run = self._call("read run", self.client.get_run, run_id)
                source = f"{run.info.artifact_uri}/{ARTIFACT_DIR}/{local.name}"
                stored = local_path(source)
                # A tracking server stores the copy where only it reads (mlflow-artifacts:/):
                # that copy is the version's source and artifact (never the file given, which
                # may be a download of this call); deploy reads the lake's key from lineage.
                artifact_uri = source = str(stored) if stored is not None else source
            now = int(time.time() * 1000)
            for name, value in metrics.items():
                self._call("log test metric", self.client.log_metric, run_id, f"test:{name}",
                           value, now)
            self._call("store the evaluation", self.client.log_dict, run_id,
                       dict(evaluation), "evaluation/evaluation.json")
        tags = {
            STATUS_TAG: approval.value,
            ARTIFACT_TAG: artifact_uri,
            "airsage.code_version": code_version(),
            **_flatten(METRIC_TAG_PREFIX, metrics),
            **_flatten("lineage.", lineage),
        }
        self._call(f"create registered model {model_name}", self._ensure_registered_model,
                   model_name)
        version = self._call(
            f"register a version of {model_name}", self.client.create_model_version,
            model_name, source=source, run_id=run_id, tags=tags,
            description=f"model.tar.gz at {artifact_uri}",
        )
        return self.get_version(model_name, str(version.version))

    def set_status(
        self, model_name: str, version: str, status: str | ApprovalStatus, *,
        decided_by: str | None = None, decided_at: str | None = None, comment: str | None = None,
    ) -> ModelVersion:
        """Set the status tag; who, when and why become ``approval.*`` tags beside it."""
        approval = ApprovalStatus.parse(status)
        self.get_version(model_name, version)
        when = decided_at or dt_.datetime.now(dt_.UTC).isoformat(timespec="seconds")
        tags = {STATUS_TAG: approval.value, DECIDED_AT_TAG: when,
                DECIDED_BY_TAG: decided_by or "airsage", DECISION_COMMENT_TAG: comment or ""}
        for key, value in tags.items():
            self._call(f"set status of {model_name} v{version}", self.client.set_model_version_tag,
                       model_name, str(version), key, _tag_value(value))
        return self.get_version(model_name, version)

    def champion(self, model_name: str) -> ModelVersion | None:
        return select_champion(self.list_versions(model_name))

    def get_version(self, model_name: str, version: str) -> ModelVersion:
        found = self._call(f"model {model_name} version {version}",
                           self.client.get_model_version, model_name, str(version))
        return self._to_model_version(found)

    def list_versions(self, model_name: str) -> list[ModelVersion]:
        """Every version of ``model_name``, oldest first (empty when it is unregistered)."""
        quoted = model_name.replace("'", "")
        found = self._call(f"list versions of {model_name}", self.client.search_model_versions,
                           f"name = '{quoted}'")
        versions = [self._to_model_version(v) for v in found]
        return sorted(versions, key=lambda v: int(v.version))

    def latest_version(
        self, model_name: str, status: str | ApprovalStatus | None = ApprovalStatus.APPROVED
    ) -> ModelVersion | None:
        """The newest version with ``status`` (any status when None), or None."""
        wanted = ApprovalStatus.parse(status).value if status is not None else None
        versions = [v for v in self.list_versions(model_name)
                    if wanted is None or v.status == wanted]
        return versions[-1] if versions else None

    @staticmethod
    def _to_model_version(found: Any) -> ModelVersion:
        tags = {str(k): str(v) for k, v in (found.tags or {}).items()}
        metrics = {}
        for key, value in tags.items():
            if key.startswith(METRIC_TAG_PREFIX):
                try:
                    metrics[key.removeprefix(METRIC_TAG_PREFIX)] = float(value)
                except ValueError:
                    continue
        created = ""
        if found.creation_timestamp:
            created = dt_.datetime.fromtimestamp(
                found.creation_timestamp / 1000, dt_.UTC
            ).isoformat(timespec="seconds")
        return ModelVersion(
            name=str(found.name),
            version=str(found.version),
            status=tags.get(STATUS_TAG, ApprovalStatus.PENDING.value),
            artifact_uri=tags.get(ARTIFACT_TAG, str(found.source)),
            run_id=found.run_id or None,
            metrics=metrics,
            tags=tags,
            created_at=created,
        )

