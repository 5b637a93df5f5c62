"""An endpoint's state: its production variants, their routing, metrics and data capture.

No network here: ``app.py`` turns HTTP requests into calls of :class:`Endpoint`, and
``server.py`` runs that app. Variants load through ``model_fn`` of ``include/jobs/inference.py``
(imported by path, as a SageMaker framework container does) and every request goes
``input_fn`` → ``predict_fn`` → ``output_fn``. A variant that fails to load is ``Failed`` and
can never get traffic. Requests are routed by weight; a target variant is honoured even at
weight 0, as SageMaker allows, which is how the deployer smoke-tests a new variant.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import datetime as dt_
import functools
import importlib.util
import json
import logging
import math
import os
import random
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from airsage.config import INCLUDE_DIR, Settings
from airsage.errors import ConfigurationError, InputDataError
from airsage.lake.base import Lake
from airsage.serving.base import CREATING, FAILED, IN_SERVICE, ServingConfig
from airsage.serving.capture import CaptureWriter, capture_record
from airsage.serving.contract import RequestError, media_type, negotiate_accept

log = logging.getLogger(__name__)
INFERENCE_SCRIPT = INCLUDE_DIR / "jobs" / "inference.py"
LATENCY_WINDOW = 4096
VARIANT_NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")
MODEL_ERROR = "ModelError"


def endpoints_dir(settings: Settings) -> Path:
    """``<home>/endpoints``: state files, logs and extracted models of local endpoints."""
    return Path(settings.home) / "endpoints"


def state_file_for(settings: Settings, endpoint: str) -> Path:
    return endpoints_dir(settings) / f"{endpoint}.json"


def lake_key(lake: Lake, reference: str) -> str | None:
    """The lake key that ``reference`` (a key, or a URI under the lake's root) names; None
    for anything else (a path elsewhere, another bucket)."""
    root = str(lake.root).rstrip("/") + "/"
    if reference.startswith(root):
        return reference[len(root):]
    if reference and "://" not in reference and not reference.startswith("/"):
        return reference
    return None


def log_file_for(settings: Settings, endpoint: str) -> Path:
    return endpoints_dir(settings) / f"{endpoint}.log"


def load_inference_module(path: Path = INFERENCE_SCRIPT) -> ModuleType:
    """Import the SageMaker entry point by path, as a framework container does."""
    spec = importlib.util.spec_from_file_location(f"airsage_inference_{uuid.uuid4().hex}", path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"serving: cannot import the inference entry point {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [name for name in ("model_fn", "input_fn", "predict_fn", "output_fn")
               if not callable(getattr(module, name, None))]
    if missing:
        raise ConfigurationError(f"serving: {path} lacks the handler(s) {missing}")
    return module


def percentile(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values (nearest rank); None when there are none."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class RoutingError(RequestError):
    """The endpoint refused a request before any model saw it (no such or no live variant).

    The runtime API answers these as its own ``ValidationError``, not as the model's error.
    """


class AdminError(Exception):
    """An admin request the endpoint refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class VariantStats:
    """Counters since load, and a window of recent (time, latency, status class) events."""

    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    events: collections.deque[tuple[float, float, int]] = field(
        default_factory=lambda: collections.deque(maxlen=LATENCY_WINDOW)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, latency_ms: float, status: int) -> None:
        with self.lock:
            self.invocations += 1
            if 400 <= status < 500:
                self.errors_4xx += 1
            elif status >= 500:
                self.errors_5xx += 1
            self.events.append((time.time(), latency_ms, status // 100))

    def summary(self, since: float | None = None, *, raw: bool = False) -> dict[str, Any]:
        with self.lock:
            if since is None:
                counts = (self.invocations, self.errors_4xx, self.errors_5xx)
                latencies = sorted(event[1] for event in self.events)
            else:
                recent = [event for event in self.events if event[0] >= since]
                counts = (len(recent), sum(1 for e in recent if e[2] == 4),
                          sum(1 for e in recent if e[2] == 5))
                latencies = sorted(event[1] for event in recent)
        invocations, e4, e5 = counts
        summary: dict[str, Any] = {
            "invocations": invocations,
            "errors_4xx": e4,
            "errors_5xx": e5,
            "error_rate": (e5 / invocations) if invocations else 0.0,
            "latency_ms": {
                "p50": percentile(latencies, 0.50),
                "p99": percentile(latencies, 0.99),
                "samples": len(latencies),
            },
        }
        if raw:
            summary["latencies_ms"] = latencies
        return summary


@dataclass
class Variant:
    """A production variant: one model version behind the endpoint, with its traffic weight."""

    name: str
    model_name: str
    model_version: str
    artifact_path: str
    weight: float = 0.0
    status: str = CREATING
    error: str | None = None
    run_id: str | None = None
    model: Any = None
    model_dir: Path | None = None
    stats: VariantStats = field(default_factory=VariantStats)

    def describe(self) -> dict[str, Any]:
        return {
            "variant_name": self.name,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "artifact_path": self.artifact_path,
            "run_id": self.run_id,
            "weight": self.weight,
            "status": self.status,
            "error": self.error,
        }


@dataclass(frozen=True)
class Invocation:
    """What the model container answered: status, body, and the variant that answered.

    ``error`` names the failure (``ModelError`` when the model raised, else the 4xx kind)
    and ``message`` says why; both are empty on success.
    """

    status: int
    content_type: str
    body: bytes
    variant: str
    error: str = ""
    message: str = ""


def error_kind(status: int) -> str:
    """The error name a status stands for in airsage's JSON error bodies."""
    return {413: "PayloadTooLarge", 415: "UnsupportedMediaType", 406: "NotAcceptable",
            411: "LengthRequired", 503: "ServiceUnavailable", 404: "NotFound",
            405: "MethodNotAllowed", 409: "Conflict", 403: "Forbidden",
            500: MODEL_ERROR}.get(status, "ValidationError")


class Batcher:
    """Requests that reach the event loop in the same turn share one ``predict_fn`` call.

    A model's fixed cost per call (scikit-learn validates its input on every call: most of a
    one-review prediction) is then paid once per batch, not once per request. Nothing waits
    for a batch to fill: an idle server predicts a lone request at once; under load, the
    requests that arrived while the previous batch ran form the next one. A batch joins the
    instance lists of its requests (the contract's ``input_fn`` returns a list and
    ``predict_fn`` answers one prediction per instance); if the joined call raises or answers
    the wrong number of predictions, each request is predicted alone, so one bad request
    fails only itself.
    """

    def __init__(self, predict_fn: Callable[[Any, Any], Any]) -> None:
        self.predict_fn = predict_fn
        self._waiting: list[tuple[Variant, Any, asyncio.Future[Any]]] = []
        self._scheduled = False
        self.batches = 0
        self.batched_requests = 0

    def predict(self, variant: Variant, data: Any) -> asyncio.Future[Any]:
        """The prediction for ``data``, resolved on the event loop's next turn."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((variant, data, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run)
        return future

    def _run(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        groups: dict[int, list[tuple[Variant, Any, asyncio.Future[Any]]]] = {}
        for item in waiting:
            groups.setdefault(id(item[0]), []).append(item)
        for items in groups.values():
            self._predict(items)

    def _predict(self, items: list[tuple[Variant, Any, asyncio.Future[Any]]]) -> None:
        variant = items[0][0]
        if len(items) > 1 and all(isinstance(data, list) for _v, data, _f in items):
            joined = [row for _v, data, _f in items for row in data]
            try:
                predictions = self.predict_fn(joined, variant.model)
            except Exception:  # someone's request broke the batch: find out whose, alone
                predictions = None
            if isinstance(predictions, list) and len(predictions) == len(joined):
                self.batches += 1
                self.batched_requests += len(items)
                offset = 0
                for _v, data, future in items:
                    if not future.done():
                        future.set_result(predictions[offset : offset + len(data)])
                    offset += len(data)
                return
        for _v, data, future in items:
            try:
                result = self.predict_fn(data, variant.model)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)


class Endpoint:
    """Variants, weighted routing, per-variant metrics and data capture of one endpoint.

    ``on_change`` is called after every admin change (the server rewrites its state file).
    """

    def __init__(
        self,
        config: ServingConfig,
        lake: Lake | None,
        *,
        name: str | None = None,
        work_dir: Path | None = None,
        inference_script: Path = INFERENCE_SCRIPT,
        capture_writer: CaptureWriter | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.lake = lake
        self.name = name or config.endpoint
        self.handlers = load_inference_module(inference_script)
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix=f"airsage-{self.name}-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.on_change = on_change or (lambda: None)
        self._variants: dict[str, Variant] = {}
        self._route_lock = threading.Lock()
        self._admin_lock = threading.RLock()
        self._rng = random.Random()
        self._refused: collections.Counter[str] = collections.Counter()
        self._refused_lock = threading.Lock()
        if capture_writer is None and lake is not None and config.capture.enabled:
            capture_writer = CaptureWriter(lake, self.name, config.capture)
        self.capture = capture_writer.start() if capture_writer is not None else None
        self._batcher = Batcher(self.handlers.predict_fn)
        self.started_at = time.time()
        self.url = ""  # set by the server once it has bound its port

    def close(self) -> None:
        """Write queued capture records; remove the models this endpoint extracted."""
        if self.capture is not None:
            self.capture.close()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- admin --------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"endpoint": self.name, "url": self.url, "pid": os.getpid(),
                "status": "InService" if self.healthy() else "OutOfService",
                "variants": self.variants()}

    def variants(self) -> list[dict[str, Any]]:
        with self._route_lock:
            return [variant.describe() for variant in self._variants.values()]

    def add_variant(
        self,
        name: str,
        artifact_path: str | Path,
        *,
        model_name: str = "",
        model_version: str = "",
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Load a variant at weight 0; a load failure leaves it ``Failed`` with the error."""
        if not VARIANT_NAME.match(name or ""):
            raise AdminError(f"variant name {name!r} must be 1-63 letters, digits or '-'")
        variant = Variant(name=name, model_name=model_name, model_version=str(model_version),
                          artifact_path=str(artifact_path), run_id=run_id)
        with self._admin_lock:
            with self._route_lock:
                if name in self._variants:
                    raise AdminError(f"variant {name!r} already exists on endpoint "
                                     f"{self.name}; remove it first", status=409)
                self._variants[name] = variant
            try:
                variant.model_dir = self._extract(name, self._fetch(name, str(artifact_path)))
                variant.model = self.handlers.model_fn(str(variant.model_dir))
                variant.status = IN_SERVICE
            except Exception as exc:  # any load failure: the variant must never get traffic
                variant.status = FAILED
                variant.error = f"{type(exc).__name__}: {exc}"
                log.warning("variant %s of endpoint %s failed to load: %s", name, self.name,
                            variant.error)
            self.on_change()
            return variant.describe()

    def _fetch(self, name: str, artifact: str) -> Path:
        """A local path of ``artifact``: a file or directory here, else a key (or URI) of the
        lake, downloaded (a model server run as a service gets lake keys from deploy)."""
        local = Path(artifact.removeprefix("file://"))
        if "://" not in artifact.removeprefix("file://") and local.exists():
            return local
        key = lake_key(self.lake, artifact) if self.lake is not None else None
        if key is not None and self.lake is not None and self.lake.exists(key):
            return self.lake.download(key, self.work_dir / f"{name}-{uuid.uuid4().hex[:8]}.tar.gz")
        return local

    def _extract(self, name: str, artifact: Path) -> Path:
        if artifact.is_dir():
            return artifact
        if not artifact.is_file():
            raise InputDataError(f"model artifact {artifact} does not exist")
        from airsage.training.model import unpack_model

        return unpack_model(artifact, self.work_dir / f"{name}-{uuid.uuid4().hex[:8]}")

    def check_weights(self, weights: dict[str, float]) -> None:
        """Raise the :class:`AdminError` :meth:`set_weights` would, changing nothing (a
        multi-process server checks every worker before it changes any)."""
        with self._admin_lock, self._route_lock:
            self._check_weights(weights)

    def _check_weights(self, weights: dict[str, float]) -> None:
        for name, weight in weights.items():
            variant = self._variants.get(name)
            if variant is None:
                raise AdminError(f"no variant {name!r} on endpoint {self.name}; "
                                 f"variants: {sorted(self._variants)}", status=404)
            if (isinstance(weight, bool) or not isinstance(weight, int | float)
                    or weight < 0 or math.isnan(weight)):
                raise AdminError(f"weight of {name!r} must be a number >= 0, got {weight!r}")
            if weight > 0 and variant.status != IN_SERVICE:
                raise AdminError(f"variant {name!r} is {variant.status} "
                                 f"({variant.error}); it cannot take traffic", status=409)

    def set_weights(self, weights: dict[str, float]) -> list[dict[str, Any]]:
        """Set several weights at once (one atomic change: no request sees a half-shift)."""
        with self._admin_lock:
            with self._route_lock:
                self._check_weights(weights)
                for name, weight in weights.items():
                    self._variants[name].weight = float(weight)
            self.on_change()
            return self.variants()

    def remove_variant(self, name: str) -> list[dict[str, Any]]:
        with self._admin_lock:
            with self._route_lock:
                variant = self._variants.pop(name, None)
            if variant is None:
                raise AdminError(f"no variant {name!r} on endpoint {self.name}", status=404)
            if variant.model_dir is not None and variant.model_dir.is_relative_to(self.work_dir):
                shutil.rmtree(variant.model_dir, ignore_errors=True)
            self.on_change()
            return self.variants()

    def restore(self, saved_variants: list[dict[str, Any]]) -> None:
        """Reload the variants of a previous run of this endpoint (``airsage serve`` restart)."""
        weights = {}
        for saved in saved_variants:
            if saved.get("status") == FAILED or not saved.get("artifact_path"):
                continue
            loaded = self.add_variant(
                saved["variant_name"], saved["artifact_path"],
                model_name=saved.get("model_name", ""),
                model_version=saved.get("model_version", ""), run_id=saved.get("run_id"))
            if loaded["status"] == IN_SERVICE and float(saved.get("weight") or 0) > 0:
                weights[saved["variant_name"]] = float(saved["weight"])
        if weights:
            self.set_weights(weights)

    # -- data plane ---------------------------------------------------------------------
    def healthy(self) -> bool:
        with self._route_lock:
            return any(v.weight > 0 and v.status == IN_SERVICE for v in self._variants.values())

    def route(self, target: str | None) -> Variant:
        """The variant that answers: ``target`` if given, else one drawn by weight."""
        with self._route_lock:
            if target:
                variant = self._variants.get(target)
                if variant is None or variant.status != IN_SERVICE:
                    state = "does not exist" if variant is None else f"is {variant.status}"
                    raise RoutingError(f"target variant {target!r} {state} on endpoint "
                                       f"{self.name}; variants: {sorted(self._variants)}")
                return variant
            live = [v for v in self._variants.values() if v.weight > 0 and v.status == IN_SERVICE]
            if not live:
                raise RoutingError(f"endpoint {self.name} has no variant in service", 503)
            cumulative, total = [], 0.0
            for variant in live:
                total += variant.weight
                cumulative.append(total)
            return live[bisect.bisect_right(cumulative, self._rng.random() * total)]

    def refused(self, status: int) -> None:
        """Count a request refused before routing (oversize, no length, no variant)."""
        with self._refused_lock:
            self._refused[str(status)] += 1

    async def invoke(
        self, body: bytes, content_type: str | None, accept: str | None, target: str | None,
        inference_id: str | None = None, *, capture: bool = True,
    ) -> Invocation:
        """Route and run one request; :class:`RoutingError` when no variant can take it."""
        variant = self.route(target)
        started = time.perf_counter()
        status = 200
        try:
            data = self.handlers.input_fn(body, content_type)
            response_type = negotiate_accept(accept, media_type(content_type))
            try:
                prediction = await self._batcher.predict(variant, data)
                payload = self.handlers.output_fn(prediction, response_type)
            except RequestError:
                raise
            except Exception as exc:  # the model raised: a 500 the bake alarms count
                status = 500
                log.error("variant %s of endpoint %s raised", variant.name, self.name,
                          exc_info=exc)
                message = (f"variant {variant.name} failed to predict: "
                           f"{type(exc).__name__}: {exc}")
                return Invocation(500, "application/json", _error_body(MODEL_ERROR, message),
                                  variant.name, MODEL_ERROR, message)
            response = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
            if capture and self.capture is not None and self.capture.sample():
                now = dt_.datetime.now(dt_.UTC)  # the record is built by the writer thread
                self.capture.enqueue(variant.name, now, functools.partial(
                    capture_record, request_body=body, request_content_type=str(content_type),
                    response_body=response, response_content_type=response_type,
                    inference_time=now, inference_id=inference_id))
            return Invocation(200, response_type, response, variant.name)
        except RequestError as exc:
            status = exc.status
            kind = error_kind(exc.status)
            return Invocation(exc.status, "application/json", _error_body(kind, str(exc)),
                              variant.name, kind, str(exc))
        finally:
            variant.stats.record((time.perf_counter() - started) * 1000.0, status)

    def metrics(self, since: float | None = None, *, raw: bool = False) -> dict[str, Any]:
        """Per-variant counters and latency percentiles; ``raw`` adds each variant's
        latencies (``latencies_ms``) so a supervisor can merge its workers' percentiles."""
        with self._route_lock:
            variants = list(self._variants.values())
        with self._refused_lock:
            refused = dict(self._refused)
        result: dict[str, Any] = {
            "endpoint": self.name,
            "time": time.time(),
            "since": since,
            "pid": os.getpid(),
            "variants": {v.name: {"weight": v.weight, "status": v.status,
                                  **v.stats.summary(since, raw=raw)}
                         for v in variants},
            "refused": refused,
        }
        result["batches"] = {"batches": self._batcher.batches,
                             "batched_requests": self._batcher.batched_requests}
        if self.capture is not None:
            result.update(self.capture.snapshot())
        else:
            result.update({"capture_sampled": 0, "capture_written": 0, "capture_dropped": 0})
        return result


ADMIN_OPS = ("describe", "add_variant", "check_weights", "set_weights", "remove_variant",
             "metrics", "restore")


def apply_admin(endpoint: Endpoint, op: str, args: dict[str, Any]) -> Any:
    """One admin operation on ``endpoint``, by name: what the admin API calls in a
    one-process server, and what each worker of a multi-process server runs when its
    supervisor tells it to (``serving/workers.py``), so both answer the same."""
    if op == "describe":
        return endpoint.describe()
    if op == "add_variant":
        return endpoint.add_variant(
            str(args.get("variant_name", "")), str(args.get("artifact_path", "")),
            model_name=str(args.get("model_name", "")),
            model_version=str(args.get("model_version", "")), run_id=args.get("run_id"))
    if op == "check_weights":
        endpoint.check_weights(args["weights"])
        return None
    if op == "set_weights":
        endpoint.set_weights(args["weights"])
        return endpoint.describe()
    if op == "remove_variant":
        endpoint.remove_variant(str(args["name"]))
        return endpoint.describe()
    if op == "metrics":
        return endpoint.metrics(args.get("since"), raw=bool(args.get("raw")))
    if op == "restore":
        endpoint.restore(list(args.get("variants") or []))
        return endpoint.describe()
    raise AdminError(f"unknown admin operation {op!r}; one of {ADMIN_OPS}")


def _error_body(kind: str, message: str) -> bytes:
    """airsage's container error body: ``{"error": kind, "message": why}``."""
    return json.dumps({"error": kind, "message": message}).encode("utf-8")
