"""The ``aws:`` settings section and the shape every aws job request shares.

A request is the ``request`` phase's output (see DESIGN.md, "The step seam"): frozen,
JSON-safe, built by a pure function, and mapped one-to-one onto the service calls it makes.
:class:`ServiceCall` is one such call, as ``airsage plan`` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError

QUALITY_ENGINES = ("glue_dq", "pydeequ")


# scikit-learn 1.9 SageMaker images (jobs and serving): the models are pickled by the pinned
# scikit-learn 1.9, and an image with another version cannot load them.
SKLEARN_IMAGE_VERSION = "1.9-0"


@dataclass(frozen=True)
class AwsSettings:
    """What the aws target's data plane reads from ``aws:`` (and ``catalog:``)."""

    region: str
    conn_id: str
    role_arn: str
    database: str
    athena_workgroup: str
    athena_output: str
    lake_root: str
    tags: tuple[tuple[str, str], ...]
    quality_engine: str = "glue_dq"
    glue_dq_workers: int = 2
    processing_instance_type: str = "ml.m5.xlarge"
    spark_version: str = "3.5"
    # the SageMaker framework image that serves include/jobs/inference.py (image_uris.retrieve)
    inference_framework: str = "sklearn"
    inference_framework_version: str = SKLEARN_IMAGE_VERSION

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsSettings:
        raw = settings.section("aws")
        where = f"section 'aws' of {settings.source}"
        tags = raw.get("tags") or {}
        if not isinstance(tags, Mapping):
            raise ConfigurationError(f"{where}: tags must be a mapping of tag name to value")
        engine = str(raw.get("quality_engine") or "glue_dq")
        if engine not in QUALITY_ENGINES:
            raise ConfigurationError(
                f"{where}: quality_engine {engine!r} is unknown; use one of {', '.join(QUALITY_ENGINES)}")
        try:
            workers = int(raw.get("glue_dq_workers", 2))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: glue_dq_workers must be an integer") from exc
        if workers < 2:
            raise ConfigurationError(f"{where}: glue_dq_workers must be >= 2 (Glue's minimum), got {workers}")
        database = str(settings.section("catalog").get("database") or raw.get("glue_database") or "airsage")
        return cls(
            region=str(raw.get("region") or "us-east-1"),
            conn_id=str(raw.get("conn_id") or "aws_default"),
            role_arn=str(raw.get("role_arn") or ""),
            database=database,
            athena_workgroup=str(raw.get("athena_workgroup") or "primary"),
            athena_output=str(raw.get("athena_output") or ""),
            lake_root=settings.lake_root.rstrip("/"),
            tags=tuple(sorted((str(k), str(v)) for k, v in tags.items())),
            quality_engine=engine,
            glue_dq_workers=workers,
            processing_instance_type=str(raw.get("processing_instance_type") or "ml.m5.xlarge"),
            spark_version=str(raw.get("spark_version") or "3.5"),
            inference_framework=str(raw.get("inference_framework") or "sklearn"),
            inference_framework_version=str(raw.get("inference_framework_version") or SKLEARN_IMAGE_VERSION),
        )

    def uri(self, key: str) -> str:
        """The S3 URI of a lake key (the same rule as :class:`airsage.lake.aws.S3Lake`)."""
        return f"{self.lake_root}/{key}"

    def require_s3(self) -> None:
        if not self.lake_root.startswith("s3://"):
            raise ConfigurationError(
                f"the aws target needs lake.root to be an s3:// URI, got {self.lake_root!r}")

    def require_role(self, what: str) -> str:
        if not self.role_arn:
            raise ConfigurationError(
                f"{what} needs an IAM role: set aws.role_arn (or AIRSAGE__AWS__ROLE_ARN) to the "
                "role Glue / SageMaker assume (see the README's AWS section)")
        return self.role_arn


@dataclass(frozen=True)
class ServiceCall:
    """One AWS API call a request makes: what ``airsage plan`` prints."""

    service: str
    operation: str
    parameters: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "operation": self.operation,
                "parameters": dict(self.parameters)}


class ServiceReader:
    """Reads a service's results back through a provider hook's boto3 client, made on first
    use (parsing a DAG touches no network; credentials from the Airflow connection
    ``aws.conn_id`` or the default chain). Tests hand in a client of their own."""

    def __init__(self, settings: Settings, *, client: Any | None = None) -> None:
        self.settings = settings
        self.aws = AwsSettings.from_settings(settings)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        """The boto3 client, from the service's provider hook."""
        raise NotImplementedError


JOB_FRAMEWORKS = ("sklearn", "pytorch")


@dataclass(frozen=True)
class SageMakerJobSettings:
    """``aws.jobs``: how the job steps' scripts run as SageMaker processing and training jobs
    (instance types: ``aws.processing_instance_type`` and ``training.instance_type``)."""

    processing_framework: str = "sklearn"
    processing_framework_version: str = SKLEARN_IMAGE_VERSION
    processing_instance_count: int = 1
    processing_volume_gb: int = 30
    training_framework: str = "sklearn"
    training_framework_version: str = SKLEARN_IMAGE_VERSION
    training_py_version: str = ""  # pytorch images need one (py311)
    training_instance_count: int = 1
    training_volume_gb: int = 30
    spot: bool = False
    max_wait_seconds: int = 0  # spot: how long to wait for capacity plus run; 0 = twice the limit
    checkpoints: bool = False
    poll_seconds: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> SageMakerJobSettings:
        from airsage.config import section_values

        raw = settings.section("aws").get("jobs") or {}
        where = f"aws.jobs in {settings.source}"
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"{where} must be a mapping, got {type(raw).__name__}")
        values = cls(**section_values(cls, raw, section="aws.jobs", source=settings.source))
        for name in ("processing_framework", "training_framework"):
            if getattr(values, name) not in JOB_FRAMEWORKS:
                raise ConfigurationError(
                    f"{where}: {name} {getattr(values, name)!r} is not a framework airsage's "
                    f"job scripts run on; use one of {', '.join(JOB_FRAMEWORKS)}")
        if values.training_framework == "pytorch" and not values.training_py_version:
            raise ConfigurationError(
                f"{where}: the pytorch image needs training_py_version (e.g. py311)")
        for name in ("processing_instance_count", "processing_volume_gb",
                     "training_instance_count", "training_volume_gb", "poll_seconds"):
            if getattr(values, name) < 1:
                raise ConfigurationError(f"{where}: {name} must be at least 1, got "
                                         f"{getattr(values, name)}")
        if values.max_wait_seconds < 0:
            raise ConfigurationError(
                f"{where}: max_wait_seconds must be 0 (twice the time limit) or a number of "
                f"seconds, got {values.max_wait_seconds}")
        return values
