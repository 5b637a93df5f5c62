"""The registry capability's interface: model versions, approval statuses, the protocol.

Statuses use SageMaker Model Registry's terms so that a model registered on either target
reads the same; on the local target the status is the MLflow version tag
``model_approval_status``. Nothing here imports MLflow.
"""

from __future__ import annotations

import datetime as dt_
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from airsage.errors import ConfigurationError
from airsage.evaluation.base import METRICS_KEY

STATUS_TAG = "model_approval_status"
# Who decided a version's status, when, and why (SageMaker: ApprovalDescription, ModifiedBy).
DECIDED_BY_TAG = "approval.decided_by"
DECIDED_AT_TAG = "approval.decided_at"
DECISION_COMMENT_TAG = "approval.comment"
# The newest partition day of the data a version was trained on (a lineage tag).
DATA_DAY_TAG = "lineage.partition_day"
# the lake key of the version's model.tar.gz (deploy and the champion's evaluation read it)
LINEAGE_ARTIFACT_KEY = "lineage.model_artifact_key"
# The headline test metrics a version carries (SageMaker: ModelMetrics.ModelQuality).
EVALUATION_METRICS = ("accuracy", "macro_f1", "weighted_f1", "baseline_accuracy")


def evaluation_metrics(evaluation: Mapping[str, Any]) -> dict[str, float]:
    """The headline test metrics of an evaluation.json (or an EvaluationReport dict)."""
    document = evaluation.get("evaluation", evaluation)
    section = document.get(METRICS_KEY) or {}
    metrics = {}
    for name in EVALUATION_METRICS:
        entry = section.get(name)
        if isinstance(entry, Mapping) and entry.get("value") is not None:
            metrics[name] = float(entry["value"])
    return metrics


def local_path(uri: str) -> Path | None:
    """The filesystem path of a plain path or ``file://`` URI; None for remote URIs."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a path (or a Windows drive)
        return Path(uri)
    return None


class ApprovalStatus(StrEnum):
    """SageMaker Model Registry's ``ModelApprovalStatus`` values."""

    PENDING = "PendingManualApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"

    @classmethod
    def parse(cls, value: str | ApprovalStatus) -> ApprovalStatus:
        try:
            return cls(str(value))
        except ValueError:
            raise ConfigurationError(
                f"unknown model approval status {value!r}; valid statuses: "
                f"{', '.join(s.value for s in cls)}"
            ) from None


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: where its model.tar.gz is, its status, metrics and lineage."""

    name: str
    version: str
    status: str
    artifact_uri: str
    run_id: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: str = ""

    @property
    def data_day(self) -> str:
        """The newest partition day it was trained on ('' when the lineage does not say)."""
        return str(self.tags.get(DATA_DAY_TAG, ""))

    def freshness(self) -> tuple[str, int]:
        """Order of "trained on newer data": the data day, then the version number (a later
        retraining on the same day is newer)."""
        return (self.data_day, int(self.version) if str(self.version).isdigit() else -1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "artifact_uri": self.artifact_uri,
            "run_id": self.run_id,
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelVersion:
        return cls(
            name=str(raw["name"]),
            version=str(raw["version"]),
            status=str(raw["status"]),
            artifact_uri=str(raw["artifact_uri"]),
            run_id=raw.get("run_id"),
            metrics={k: float(v) for k, v in (raw.get("metrics") or {}).items()},
            tags={k: str(v) for k, v in (raw.get("tags") or {}).items()},
            created_at=str(raw.get("created_at", "")),
        )


def select_champion(versions: list[ModelVersion]) -> ModelVersion | None:
    """The champion: the Approved version trained on the newest data (not the newest
    version number — a backfill registers older days' models after newer ones)."""
    approved = [v for v in versions if v.status == ApprovalStatus.APPROVED.value]
    return max(approved, key=ModelVersion.freshness) if approved else None


def older_than_serving(candidate: ModelVersion, serving: ModelVersion) -> str | None:
    """Why ``candidate`` must not replace ``serving`` (it was trained on older data), or
    None when it may. A run for an older partition never replaces a newer model."""
    if candidate.freshness() >= serving.freshness():
        return None
    return (
        f"{serving.name} v{serving.version} (trained on data up to {serving.data_day or '?'}) "
        f"keeps serving: this run's v{candidate.version} was trained on data up to "
        f"{candidate.data_day or '?'}, which is older; a run for an older partition never "
        "replaces a model trained on newer data"
    )


@dataclass(frozen=True)
class RegistrationResult:
    """What the condition-and-register step decided and registered."""

    blessed: bool
    blessing: Mapping[str, Any]
    model_version: ModelVersion | None
    champion_version: ModelVersion | None
    blessing_uri: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "blessed": self.blessed,
            "blessing": dict(self.blessing),
            "model_version": self.model_version.to_dict() if self.model_version else None,
            "champion_version": (
                self.champion_version.to_dict() if self.champion_version else None
            ),
            "blessing_uri": self.blessing_uri,
        }


def _lake_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key or key.startswith("/") or "://" in key \
            or ".." in key.split("/"):
        raise ConfigurationError(
            f"{where}: {key!r} is not a lake key (relative, '/'-separated, without '..'); "
            "requests name lake keys, never a worker's paths or URIs")
    return key


@dataclass(frozen=True)
class RegistrationRequest:
    """One model version to register (the ``register`` step's request phase): what
    SageMaker's ``CreateModelPackage`` takes, reduced to what airsage varies.

    - ``model_package_group_name``: the registered model (``registry.model_name``).
    - ``model_artifact_key``: the lake key of the blessed ``model.tar.gz`` (``ModelDataUrl``).
    - ``training_job_name``: the job that produced it (its tracking run is found by this name).
    - ``metrics``: the headline test metrics; ``evaluation_report_key`` the lake key of the
      whole ``evaluation.json`` (``ModelMetrics.ModelQuality.Statistics``).
    - ``approval_status``: ``Approved`` (auto-approval) or ``PendingManualApproval``.
    - ``lineage``: JSON-safe values that become ``lineage.*`` tags
      (``CustomerMetadataProperties``).
    """

    model_package_group_name: str
    model_artifact_key: str
    training_job_name: str
    metrics: Mapping[str, float]
    evaluation_report_key: str
    approval_status: str
    lineage: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"registration of {self.model_package_group_name!r}"
        if not self.model_package_group_name or not isinstance(self.model_package_group_name, str):
            raise ConfigurationError("a registration request names its model package group "
                                     "(registry.model_name)")
        _lake_key(self.model_artifact_key, f"{where}, model artifact")
        if self.evaluation_report_key:
            _lake_key(self.evaluation_report_key, f"{where}, evaluation report")
        approval = ApprovalStatus.parse(self.approval_status)
        if approval is ApprovalStatus.REJECTED:
            raise ConfigurationError(f"{where}: a new version is registered Approved or "
                                     "PendingManualApproval, never Rejected")
        try:
            metrics = {str(k): float(v) for k, v in self.metrics.items()}
            lineage = json.loads(json.dumps(dict(self.lineage), allow_nan=False, default=str))
            json.dumps(metrics, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"{where}: metrics must be finite numbers and lineage JSON-safe: {exc}") from exc
        object.__setattr__(self, "approval_status", approval.value)
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "lineage", lineage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_package_group_name": self.model_package_group_name,
            "model_artifact_key": self.model_artifact_key,
            "training_job_name": self.training_job_name,
            "metrics": dict(self.metrics),
            "evaluation_report_key": self.evaluation_report_key,
            "approval_status": self.approval_status,
            "lineage": dict(self.lineage),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RegistrationRequest:
        try:
            return cls(
                model_package_group_name=raw["model_package_group_name"],
                model_artifact_key=raw["model_artifact_key"],
                training_job_name=str(raw["training_job_name"]),
                metrics=dict(raw["metrics"]),
                evaluation_report_key=str(raw.get("evaluation_report_key") or ""),
                approval_status=raw["approval_status"],
                lineage=dict(raw.get("lineage") or {}),
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"a RegistrationRequest mapping lacks {exc.args[0]!r}; pass "
                "RegistrationRequest.to_dict()'s result") from exc


class ModelRegistry(Protocol):
    """Experiment tracking plus a model registry with approval statuses."""

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
        """Record one training job or tuning trial as a run; return its run id."""

    def find_run(self, job_name: str) -> str | None:
        """The run id logged for a training job, if any."""

    def register(
        self,
        model_name: str,
        model_artifact_uri: str,
        *,
        run_id: str | None,
        evaluation: Mapping[str, Any],
        lineage: Mapping[str, Any],
        status: str | ApprovalStatus = ApprovalStatus.PENDING,
    ) -> ModelVersion: ...

    def set_status(
        self, model_name: str, version: str, status: str | ApprovalStatus, *,
        decided_by: str | None = None, decided_at: str | None = None, comment: str | None = None,
    ) -> ModelVersion:
        """Set the approval status, recording who decided, when and why."""

    def champion(self, model_name: str) -> ModelVersion | None:
        """The Approved version trained on the newest data (:func:`select_champion`)."""

    def latest_version(
        self, model_name: str, status: str | ApprovalStatus | None = ApprovalStatus.APPROVED
    ) -> ModelVersion | None: ...

    def get_version(self, model_name: str, version: str) -> ModelVersion: ...

    def list_versions(self, model_name: str) -> list[ModelVersion]: ...
