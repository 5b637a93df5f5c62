"""Serving's interface: its settings, the model version it deploys and its result shapes.

The deployer accepts any object shaped like the registry's ``ModelVersion`` (a Protocol),
so serving depends on the registry's data, not on its module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airsage.config import Settings, section_values
from airsage.errors import ConfigurationError
from airsage.lake.base import Lake

if TYPE_CHECKING:
    from airsage.serving.request import DeploymentRequest

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
# The deployer's smoke invocation: answered and counted like any request, but not captured,
# because the monitor must see client traffic only.
HEALTH_CHECK_HEADER = "X-Airsage-Health-Check"
ADMIN_TOKEN_HEADER = "X-Airsage-Admin-Token"  # serving.admin_token, for admin calls from other hosts
TRAFFIC_SHIFTS = ("all_at_once", "canary", "linear")
MAX_WORKERS = 64  # serving.workers: a bound that catches a typo, far above a machine's cores

# Variant statuses, as SageMaker names a production variant's state.
CREATING = "Creating"
IN_SERVICE = "InService"
FAILED = "Failed"


@runtime_checkable
class ModelVersionLike(Protocol):
    """What the deployer reads from a registered model version (``airsage.registry.base``;
    read-only, as the registry's frozen ``ModelVersion`` is)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def artifact_uri(self) -> str: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def metrics(self) -> Mapping[str, Any]: ...
    @property
    def tags(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class CaptureConfig:
    """Model Monitor data capture: which share of requests is written, and how."""

    enabled: bool = True
    sampling_percent: float = 100.0
    buffer_size: int = 10000
    flush_seconds: float = 1.0
    max_records_per_file: int = 1000


@dataclass(frozen=True)
class AutoscalingConfig:
    """``serving.autoscaling``: Application Auto Scaling of the production variant (aws only).

    Target tracking on ``SageMakerVariantInvocationsPerInstance`` (invocations per instance
    per minute) keeps the variant between ``min_capacity`` and ``max_capacity`` instances;
    the cooldowns are the seconds after a scale-in / scale-out before the next one.
    """

    enabled: bool = True
    min_capacity: int = 1
    max_capacity: int = 4
    target_invocations_per_instance: float = 70.0
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60

    def problems(self) -> list[str]:
        """What is wrong with these limits, each naming the key (empty when valid)."""
        found = []
        for key in ("min_capacity", "max_capacity", "scale_in_cooldown", "scale_out_cooldown"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                found.append(f"autoscaling.{key} {value!r} must be a whole number >= 0")
        if not found:
            if self.min_capacity < 1:
                found.append(f"autoscaling.min_capacity {self.min_capacity} must be >= 1 (a "
                             "SageMaker real-time variant cannot scale to zero instances)")
            if self.max_capacity < self.min_capacity:
                found.append(f"autoscaling.max_capacity {self.max_capacity} is below "
                             f"min_capacity {self.min_capacity}")
        if not self.target_invocations_per_instance > 0:
            found.append("autoscaling.target_invocations_per_instance "
                         f"{self.target_invocations_per_instance} must be > 0")
        return found


@dataclass(frozen=True)
class ServingConfig:
    """The ``serving:`` section of the airsage config."""

    endpoint: str = "reviews-sentiment"
    dataset: str = "reviews"
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1048576
    traffic_shift: str = "all_at_once"
    canary_percent: float = 10.0
    linear_steps: int = 4
    bake_seconds: float = 5.0
    max_error_rate: float = 0.05
    max_p99_latency_ms: float = 1000.0
    startup_timeout_seconds: float = 60.0
    # the production variant's instances on aws (the local target runs one server process)
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    url: str = ""            # a model server run as a service (compose): deploy updates it, never starts one
    admin_token: str = ""    # lets admin calls from other hosts in (header X-Airsage-Admin-Token)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    autoscaling: AutoscalingConfig = field(default_factory=AutoscalingConfig)
    # local: server processes sharing the port (one supervisor keeps their variants in step)
    workers: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> ServingConfig:
        raw = settings.section("serving")
        capture_raw = raw.get("capture") or {}
        capture = CaptureConfig(**section_values(
            CaptureConfig, capture_raw, section="serving.capture", source=settings.source))
        autoscaling = AutoscalingConfig(**section_values(
            AutoscalingConfig, raw.get("autoscaling") or {}, section="serving.autoscaling",
            source=settings.source))
        config = cls(**section_values(cls, raw, section="serving", source=settings.source,
                                      custom=("capture", "autoscaling")),
                     capture=capture, autoscaling=autoscaling)
        config.validate(settings.source)
        return config

    def validate(self, source: str = "the airsage config") -> None:
        problems = []
        if self.traffic_shift not in TRAFFIC_SHIFTS:
            problems.append(f"traffic_shift {self.traffic_shift!r} is not one of {TRAFFIC_SHIFTS}")
        if not 0 < self.canary_percent < 100:
            problems.append(f"canary_percent {self.canary_percent} must be in (0, 100)")
        if self.linear_steps < 1:
            problems.append(f"linear_steps {self.linear_steps} must be >= 1")
        if self.url and not self.url.startswith(("http://", "https://")):
            problems.append(f"url {self.url!r} must be an http:// or https:// URL (or empty)")
        if self.url and not self.admin_token and not _is_loopback_url(self.url):
            problems.append(f"url {self.url!r} is another host: set admin_token (the server's "
                            "admin API answers other hosts only with it)")
        if self.max_body_bytes < 1:
            problems.append(f"max_body_bytes {self.max_body_bytes} must be positive")
        if not 0 <= self.capture.sampling_percent <= 100:
            problems.append(
                f"capture.sampling_percent {self.capture.sampling_percent} must be in [0, 100]"
            )
        if self.capture.buffer_size < 1:
            problems.append(f"capture.buffer_size {self.capture.buffer_size} must be >= 1")
        if isinstance(self.initial_instance_count, bool) or not isinstance(
                self.initial_instance_count, int) or self.initial_instance_count < 1:
            problems.append(
                f"initial_instance_count {self.initial_instance_count!r} must be a whole number >= 1")
        problems.extend(self.autoscaling.problems())
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not (
                1 <= self.workers <= MAX_WORKERS):
            problems.append(f"workers {self.workers!r} must be a whole number in "
                            f"[1, {MAX_WORKERS}] (server processes on this machine)")
        scaling = self.autoscaling
        if (scaling.enabled and not scaling.problems()
                and isinstance(self.initial_instance_count, int)
                and not scaling.min_capacity <= self.initial_instance_count <= scaling.max_capacity):
            problems.append(
                f"initial_instance_count {self.initial_instance_count} is outside "
                f"autoscaling's [min_capacity, max_capacity] = [{scaling.min_capacity}, "
                f"{scaling.max_capacity}]")
        if not 0 <= self.port <= 65535:
            problems.append(f"port {self.port} must be in [0, 65535]")
        if problems:
            raise ConfigurationError(f"serving settings in {source}: " + "; ".join(problems))

    def traffic_steps(self) -> list[float]:
        """The new variant's share of traffic (percent) after each shift, ending at 100."""
        if self.traffic_shift == "canary":
            return [self.canary_percent, 100.0]
        if self.traffic_shift == "linear":
            steps = range(1, self.linear_steps + 1)
            return [round(100.0 * step / self.linear_steps, 4) for step in steps]
        return [100.0]


KeepServing = Callable[[Sequence[Mapping[str, Any]]], "str | None"]
"""Asked with the variants serving now; a reason it returns keeps them (no deployment)."""


@dataclass(frozen=True)
class DeploymentResult:
    """What a deployment did: ``created`` / ``updated`` an endpoint, ``noop`` (already
    serving it), or ``kept`` (the serving model stays; ``reason`` says why)."""

    endpoint: str
    url: str
    action: str
    model_name: str
    model_version: str
    variant_name: str
    traffic_steps: tuple[float, ...] = ()
    replaced_variants: tuple[str, ...] = ()
    duration_seconds: float = 0.0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["traffic_steps"] = list(self.traffic_steps)
        data["replaced_variants"] = list(self.replaced_variants)
        return data


@dataclass(frozen=True)
class EndpointDescription:
    """An endpoint's state: ``InService`` when it answers, ``OutOfService`` otherwise."""

    endpoint: str
    url: str | None
    status: str
    variants: tuple[dict[str, Any], ...] = ()
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "url": self.url,
            "status": self.status,
            "pid": self.pid,
            "variants": [dict(variant) for variant in self.variants],
        }


def _is_loopback_url(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EndpointDeployer(Protocol):
    """Creates or updates an endpoint blue/green, describes it and stops it."""

    def deploy(self, lake: Lake, model_version: ModelVersionLike, *,
               endpoint: str | None = None,
               keep_serving: KeepServing | None = None) -> DeploymentResult:
        """Serve ``model_version`` (the configured endpoint unless one is named); roll back
        and raise on a failed check; ``keep_serving`` may keep the serving variants."""
        ...

    def run(self, lake: Lake, request: DeploymentRequest, *,
            keep_serving: KeepServing | None = None) -> DeploymentResult:
        """The deploy step's run phase: carry out ``request`` (its variant, traffic steps,
        bake and alarms); roll back and raise on a failed check; ``keep_serving`` as above."""
        ...

    def describe(self, endpoint: str | None = None) -> EndpointDescription:
        """The endpoint's status and variants (``OutOfService`` when nothing answers)."""
        ...

    def stop(self, endpoint: str | None = None, timeout: float = 20.0) -> bool:
        """Stop the endpoint; True if it was running."""
        ...
