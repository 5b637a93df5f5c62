"""The registry capability's interface: model versions, approval statuses, the protocol.

Statuses use SageMaker Model Registry's terms so that a model registered on either target
reads the same; on the local target the status is the MLflow version tag
``model_approval_status``. Nothing here imports MLflow.
"""

from __future__ import annotations

import datetime as dt_
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from airsage.errors import ConfigurationError

STATUS_TAG = "model_approval_status"


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
        self, model_name: str, version: str, status: str | ApprovalStatus
    ) -> ModelVersion: ...

    def latest_version(
        self, model_name: str, status: str | ApprovalStatus | None = ApprovalStatus.APPROVED
    ) -> ModelVersion | None: ...

    def get_version(self, model_name: str, version: str) -> ModelVersion: ...

    def list_versions(self, model_name: str) -> list[ModelVersion]: ...
