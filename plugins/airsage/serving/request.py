"""The ``deploy`` step's request: what a blue/green endpoint update is asked to do.

A :class:`DeploymentRequest` is the request phase of the deploy step (DESIGN.md, "The step
seam"): a pure function of the settings and the registered model version
(:func:`deployment_request`). It names what SageMaker's ``CreateModel`` (the model version
and its artifact), ``CreateEndpointConfig`` (the production variant, its instances, data
capture) and ``UpdateEndpoint`` (the blue/green ``DeploymentConfig``: traffic shifting, bake
time, rollback alarms) and the variant's Application Auto Scaling (``scaling``) take; the
deployer the Airflow layer hands in (``Engines.serving``) runs it. It is frozen and JSON-safe
(:meth:`to_dict` / :meth:`from_dict`), so it can travel through XCom and be printed by
``airsage plan``.

Names are derived from the model and its version only, so deploying the same version again
asks for the same variant (a no-op when it already serves).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError
from airsage.lake.layout import LakeLayout
from airsage.registry.base import LINEAGE_ARTIFACT_KEY
from airsage.serving.base import TRAFFIC_SHIFTS, ModelVersionLike, ServingConfig

# SageMaker's rule for EndpointName, EndpointConfigName, ModelName and VariantName.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
NAME_MAX = 63


def _name(text: str, fallback: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return name[:NAME_MAX].rstrip("-") or fallback


def variant_name(model_name: str, version: str) -> str:
    """``<model>-v<version>``, within SageMaker's name rules (also the CreateModel name)."""
    return _name(f"{model_name}-v{version}", "variant")


@dataclass(frozen=True)
class CaptureRequest:
    """``DataCaptureConfig``: whether requests are captured, which share, and where to."""

    enabled: bool
    sampling_percent: float
    destination_prefix: str  # a lake prefix: capture/<endpoint>/


@dataclass(frozen=True)
class BlueGreenConfig:
    """``DeploymentConfig``: how traffic moves to the new variant and when it rolls back.

    ``traffic_steps`` is the new variant's share (percent) after each shift, ending at 100;
    each step bakes ``bake_seconds`` while the alarms (error rate, p99 latency) are watched.
    """

    traffic_shift: str
    traffic_steps: tuple[float, ...]
    bake_seconds: float
    max_error_rate: float
    max_p99_latency_ms: float


@dataclass(frozen=True)
class ScalingRequest:
    """Application Auto Scaling of the production variant (``serving.autoscaling``):
    ``RegisterScalableTarget``'s limits and ``PutScalingPolicy``'s target tracking on
    invocations per instance per minute, with its cooldowns (seconds)."""

    min_capacity: int
    max_capacity: int
    target_invocations_per_instance: float
    scale_in_cooldown: int
    scale_out_cooldown: int


@dataclass(frozen=True)
class DeploymentRequest:
    """One endpoint update: which model version, as which variant, how (see the module doc).

    ``artifact_uri`` is where the registry keeps the version's ``model.tar.gz`` (the registry
    owns that copy); ``model_artifact_key`` the lake key it was trained to (its lineage), read
    when the registry's copy is not reachable from the deploying worker.
    """

    endpoint: str
    model_name: str
    model_version: str
    artifact_uri: str
    model_artifact_key: str
    variant_name: str
    instance_type: str
    initial_instance_count: int
    capture: CaptureRequest
    deployment: BlueGreenConfig
    run_id: str | None = None
    scaling: ScalingRequest | None = None  # None: autoscaling is off

    def __post_init__(self) -> None:
        where = f"deployment of {self.model_name} v{self.model_version} to {self.endpoint!r}"
        for label, value in (("endpoint", self.endpoint), ("variant", self.variant_name)):
            if not isinstance(value, str) or not NAME_PATTERN.match(value):
                raise ConfigurationError(
                    f"{where}: {label} name {value!r} is not a valid SageMaker name: use 1-63 "
                    "letters, digits and hyphens, starting and ending with a letter or digit")
        if not self.model_name or not self.model_version:
            raise ConfigurationError(f"{where}: name the model and its version")
        if not self.artifact_uri and not self.model_artifact_key:
            raise ConfigurationError(f"{where}: the model version names no artifact")
        if isinstance(self.initial_instance_count, bool) or not isinstance(
                self.initial_instance_count, int) or self.initial_instance_count < 1:
            raise ConfigurationError(
                f"{where}: initial_instance_count must be a whole number >= 1, got "
                f"{self.initial_instance_count!r}")
        if not 0 <= self.capture.sampling_percent <= 100:
            raise ConfigurationError(
                f"{where}: capture sampling_percent {self.capture.sampling_percent} must be in "
                "[0, 100]")
        steps = self.deployment.traffic_steps
        if self.deployment.traffic_shift not in TRAFFIC_SHIFTS:
            raise ConfigurationError(
                f"{where}: traffic_shift {self.deployment.traffic_shift!r} is not one of "
                f"{TRAFFIC_SHIFTS}")
        if not steps or steps[0] <= 0 or steps[-1] != 100.0 or any(
                later <= earlier for earlier, later in itertools.pairwise(steps)):
            raise ConfigurationError(
                f"{where}: traffic steps {list(steps)} must rise from above 0 to 100")

    @property
    def endpoint_config_name(self) -> str:
        """``EndpointConfigName``: one config per endpoint and variant (a redeploy reuses it)."""
        return _name(f"{self.endpoint}-{self.variant_name}", "endpoint-config")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["deployment"]["traffic_steps"] = list(self.deployment.traffic_steps)
        return data

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DeploymentRequest:
        try:
            deployment = dict(raw["deployment"])
            deployment["traffic_steps"] = tuple(float(s) for s in deployment["traffic_steps"])
            return cls(
                endpoint=raw["endpoint"], model_name=str(raw["model_name"]),
                model_version=str(raw["model_version"]), artifact_uri=str(raw["artifact_uri"]),
                model_artifact_key=str(raw["model_artifact_key"]),
                variant_name=raw["variant_name"], instance_type=str(raw["instance_type"]),
                initial_instance_count=raw["initial_instance_count"],
                capture=CaptureRequest(**raw["capture"]),
                deployment=BlueGreenConfig(**deployment),
                run_id=raw.get("run_id"),
                scaling=ScalingRequest(**raw["scaling"]) if raw.get("scaling") else None,
            )
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"a DeploymentRequest mapping lacks or misshapes {exc}; pass "
                "DeploymentRequest.to_dict()'s result") from exc


def version_dict(model_version: ModelVersionLike) -> dict[str, Any]:
    """The fields of a registry model version the deploy step reads, as plain data."""
    return {
        "name": str(model_version.name), "version": str(model_version.version),
        "status": str(model_version.status), "artifact_uri": str(model_version.artifact_uri or ""),
        "run_id": model_version.run_id, "tags": dict(model_version.tags or {}),
    }


def deployment_request(
    settings: Settings, model_version: Mapping[str, Any], *, endpoint: str | None = None,
) -> DeploymentRequest:
    """The endpoint update that serves ``model_version`` (pure): ``ModelVersion.to_dict()``
    of the version this run registered; ``endpoint`` overrides ``serving.endpoint``."""
    config = ServingConfig.from_settings(settings)
    try:
        name, version = str(model_version["name"]), str(model_version["version"])
    except KeyError as exc:
        raise ConfigurationError(
            f"deploy: the model version lacks {exc.args[0]!r}; pass ModelVersion.to_dict()"
        ) from None
    target = endpoint or config.endpoint
    tags = model_version.get("tags") or {}
    return DeploymentRequest(
        endpoint=target,
        model_name=name,
        model_version=version,
        artifact_uri=str(model_version.get("artifact_uri") or ""),
        model_artifact_key=str(tags.get(LINEAGE_ARTIFACT_KEY) or ""),
        variant_name=variant_name(name, version),
        instance_type=config.instance_type,
        initial_instance_count=config.initial_instance_count,
        capture=CaptureRequest(enabled=config.capture.enabled,
                               sampling_percent=float(config.capture.sampling_percent),
                               destination_prefix=LakeLayout.capture_prefix(target)),
        deployment=BlueGreenConfig(
            traffic_shift=config.traffic_shift,
            traffic_steps=tuple(float(s) for s in config.traffic_steps()),
            bake_seconds=float(config.bake_seconds),
            max_error_rate=float(config.max_error_rate),
            max_p99_latency_ms=float(config.max_p99_latency_ms)),
        run_id=str(model_version["run_id"]) if model_version.get("run_id") else None,
        scaling=ScalingRequest(
            min_capacity=config.autoscaling.min_capacity,
            max_capacity=config.autoscaling.max_capacity,
            target_invocations_per_instance=float(
                config.autoscaling.target_invocations_per_instance),
            scale_in_cooldown=config.autoscaling.scale_in_cooldown,
            scale_out_cooldown=config.autoscaling.scale_out_cooldown)
        if config.autoscaling.enabled else None,
    )
