"""The local model server: SageMaker's inference contract over a real HTTP server.

- ``GET /ping``: 200 only when a variant with weight > 0 is loaded (``InService``).
- ``POST /invocations``: routed to production variants by weight; the
  ``X-Amzn-SageMaker-Target-Variant`` header picks one explicitly (even at weight 0, as
  SageMaker allows), which is how the deployer smoke-tests a new variant before it gets traffic.
- ``GET /metrics``: per variant invocations, 4xx, 5xx and latency p50/p99 (``?since=<epoch>``
  restricts them to recent requests, which is what the deployer's bake alarms read), plus
  endpoint-level refusals and capture counters.
- ``/admin/...`` (loopback clients only): add a variant from a ``model.tar.gz``, set weights,
  remove a variant, describe, shut down.

Variants load through ``model_fn`` of ``include/jobs/inference.py`` (imported by path), and
every request goes ``input_fn`` → ``predict_fn`` → ``output_fn``, exactly as in a SageMaker
framework container. A variant that fails to load is ``Failed`` and can never get traffic.
Bad requests answer a 4xx JSON error; only a model that raises answers 500 (``ModelError``).
"""

from __future__ import annotations

import argparse
import bisect
import collections
import datetime as dt_
import importlib.util
import ipaddress
import json
import logging
import math
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airsage.config import INCLUDE_DIR, Settings, load_settings
from airsage.errors import ConfigurationError, InputDataError
from airsage.lake.base import Lake
from airsage.serving.base import (
    CREATING,
    FAILED,
    HEALTH_CHECK_HEADER,
    IN_SERVICE,
    INFERENCE_ID_HEADER,
    INVOKED_VARIANT_HEADER,
    TARGET_VARIANT_HEADER,
    ServingConfig,
)
from airsage.serving.capture import CaptureWriter, capture_record
from airsage.serving.contract import INPUT_FIELDS_ENV, RequestError, media_type, negotiate_accept

log = logging.getLogger(__name__)
INFERENCE_SCRIPT = INCLUDE_DIR / "jobs" / "inference.py"
LATENCY_WINDOW = 4096
VARIANT_NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")


def endpoints_dir(settings: Settings) -> Path:
    """``<home>/endpoints``: state files, logs and extracted models of local endpoints."""
    return Path(settings.home) / "endpoints"


def state_file_for(settings: Settings, endpoint: str) -> Path:
    return endpoints_dir(settings) / f"{endpoint}.json"


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


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


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

    def summary(self, since: float | None = None) -> dict[str, Any]:
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
        return {
            "invocations": invocations,
            "errors_4xx": e4,
            "errors_5xx": e5,
            "error_rate": (e5 / invocations) if invocations else 0.0,
            "latency_ms": {
                "p50": _percentile(latencies, 0.50),
                "p99": _percentile(latencies, 0.99),
                "samples": len(latencies),
            },
        }


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


class AdminError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ModelServer:
    """Variants, routing, metrics and capture behind a ``ThreadingHTTPServer``."""

    def __init__(
        self,
        config: ServingConfig,
        lake: Lake | None,
        *,
        endpoint: str | None = None,
        host: str | None = None,
        port: int | None = None,
        state_file: Path | None = None,
        work_dir: Path | None = None,
        inference_script: Path = INFERENCE_SCRIPT,
        capture_writer: CaptureWriter | None = None,
    ) -> None:
        self.config = config
        self.endpoint = endpoint or config.endpoint
        self.handlers = load_inference_module(inference_script)
        self.state_file = state_file
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix=f"airsage-{self.endpoint}-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._variants: dict[str, Variant] = {}
        self._route_lock = threading.Lock()
        self._admin_lock = threading.RLock()
        self._rng = random.Random()
        self._refused = collections.Counter()
        self._refused_lock = threading.Lock()
        if capture_writer is None and lake is not None and config.capture.enabled:
            capture_writer = CaptureWriter(lake, self.endpoint, config.capture)
        self.capture = capture_writer.start() if capture_writer is not None else None
        self.started_at = time.time()
        self.httpd = _HTTPServer(
            (host or config.host, config.port if port is None else port), _make_handler(self)
        )
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> ModelServer:
        """Serve from a background thread (tests, embedding); ``stop()`` ends it."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,),
                                        name="airsage-serve", daemon=True)
        self._thread.start()
        self.write_state()
        return self

    def stop(self) -> None:
        """Stop accepting requests, write queued capture records, release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(10)
            self._thread = None
        self.httpd.server_close()
        if self.capture is not None:
            self.capture.close()
        self.write_state(running=False)
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def write_state(self, running: bool = True) -> None:
        """The endpoint's state file: what the deployer and ``airsage serve`` restart read."""
        if self.state_file is None:
            return
        state = {
            "endpoint": self.endpoint,
            "pid": os.getpid() if running else None,
            "host": self.host,
            "port": self.port if running else None,
            "url": self.url if running else None,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "variants": self.describe()["variants"],
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(f".{self.state_file.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.state_file)

    # -- admin --------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        with self._route_lock:
            variants = [variant.describe() for variant in self._variants.values()]
        return {"endpoint": self.endpoint, "url": self.url, "pid": os.getpid(),
                "status": "InService" if self.healthy() else "OutOfService", "variants": variants}

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
                                     f"{self.endpoint}; remove it first", status=409)
                self._variants[name] = variant
            try:
                variant.model_dir = self._extract(name, Path(artifact_path))
                variant.model = self.handlers.model_fn(str(variant.model_dir))
                variant.status = IN_SERVICE
            except Exception as exc:  # any load failure: the variant must never get traffic
                variant.status = FAILED
                variant.error = f"{type(exc).__name__}: {exc}"
                log.warning("variant %s of endpoint %s failed to load: %s", name, self.endpoint,
                            variant.error)
            self.write_state()
            return variant.describe()

    def _extract(self, name: str, artifact: Path) -> Path:
        if artifact.is_dir():
            return artifact
        if not artifact.is_file():
            raise InputDataError(f"model artifact {artifact} does not exist")
        from airsage.training.model import unpack_model

        return unpack_model(artifact, self.work_dir / f"{name}-{uuid.uuid4().hex[:8]}")

    def set_weights(self, weights: dict[str, float]) -> dict[str, Any]:
        """Set several weights at once (one atomic change: no request sees a half-shift)."""
        with self._admin_lock:
            with self._route_lock:
                for name, weight in weights.items():
                    variant = self._variants.get(name)
                    if variant is None:
                        raise AdminError(f"no variant {name!r} on endpoint {self.endpoint}; "
                                         f"variants: {sorted(self._variants)}", status=404)
                    if not isinstance(weight, int | float) or weight < 0 or math.isnan(weight):
                        raise AdminError(f"weight of {name!r} must be a number >= 0, got {weight!r}")
                    if weight > 0 and variant.status != IN_SERVICE:
                        raise AdminError(f"variant {name!r} is {variant.status} "
                                         f"({variant.error}); it cannot take traffic", status=409)
                for name, weight in weights.items():
                    self._variants[name].weight = float(weight)
            self.write_state()
            return self.describe()

    def remove_variant(self, name: str) -> dict[str, Any]:
        with self._admin_lock:
            with self._route_lock:
                variant = self._variants.pop(name, None)
            if variant is None:
                raise AdminError(f"no variant {name!r} on endpoint {self.endpoint}", status=404)
            if variant.model_dir is not None and variant.model_dir.is_relative_to(self.work_dir):
                shutil.rmtree(variant.model_dir, ignore_errors=True)
            self.write_state()
            return self.describe()

    # -- data plane ---------------------------------------------------------------------
    def healthy(self) -> bool:
        with self._route_lock:
            return any(v.weight > 0 and v.status == IN_SERVICE for v in self._variants.values())

    def route(self, target: str | None) -> Variant:
        with self._route_lock:
            if target:
                variant = self._variants.get(target)
                if variant is None or variant.status != IN_SERVICE:
                    state = "does not exist" if variant is None else f"is {variant.status}"
                    raise RequestError(f"target variant {target!r} {state} on endpoint "
                                       f"{self.endpoint}")
                return variant
            live = [v for v in self._variants.values() if v.weight > 0 and v.status == IN_SERVICE]
            if not live:
                raise RequestError(f"endpoint {self.endpoint} has no variant in service", 503)
            cumulative, total = [], 0.0
            for variant in live:
                total += variant.weight
                cumulative.append(total)
            return live[bisect.bisect_right(cumulative, self._rng.random() * total)
                        if total else 0]

    def refused(self, status: int) -> None:
        with self._refused_lock:
            self._refused[str(status)] += 1

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None, target: str | None,
        inference_id: str | None, *, capture: bool = True,
    ) -> tuple[int, str, bytes, str | None]:
        """``(status, content type, body, variant name)`` of one invocation."""
        variant = self.route(target)
        started = time.perf_counter()
        status = 200
        try:
            data = self.handlers.input_fn(body, content_type)
            kind = media_type(content_type)
            response_type = negotiate_accept(accept, kind)
            try:
                prediction = self.handlers.predict_fn(data, variant.model)
            except RequestError:
                raise
            except Exception as exc:
                status = 500
                log.exception("variant %s raised in predict_fn", variant.name)
                return 500, "application/json", _error_body(
                    "ModelError", f"variant {variant.name} failed to predict: "
                    f"{type(exc).__name__}: {exc}"), variant.name
            try:
                payload = self.handlers.output_fn(prediction, response_type)
            except RequestError:
                raise
            except Exception as exc:
                status = 500
                log.exception("variant %s raised in output_fn", variant.name)
                return 500, "application/json", _error_body(
                    "ModelError", f"variant {variant.name} failed to serialise: {exc}"
                ), variant.name
            response = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
            if capture and self.capture is not None and self.capture.sample():
                now = dt_.datetime.now(dt_.UTC)
                self.capture.enqueue(variant.name, now, capture_record(
                    request_body=body, request_content_type=str(content_type),
                    response_body=response, response_content_type=response_type,
                    inference_time=now, inference_id=inference_id))
            return 200, str(response_type), response, variant.name
        except RequestError as exc:
            status = exc.status
            return exc.status, "application/json", _error_body(_error_kind(exc.status),
                                                               str(exc)), variant.name
        finally:
            variant.stats.record((time.perf_counter() - started) * 1000.0, status)

    def metrics(self, since: float | None = None) -> dict[str, Any]:
        with self._route_lock:
            variants = list(self._variants.values())
        with self._refused_lock:
            refused = dict(self._refused)
        result: dict[str, Any] = {
            "endpoint": self.endpoint,
            "time": time.time(),
            "since": since,
            "variants": {v.name: {"weight": v.weight, "status": v.status, **v.stats.summary(since)}
                         for v in variants},
            "refused": refused,
        }
        if self.capture is not None:
            result.update(self.capture.snapshot())
        else:
            result.update({"capture_sampled": 0, "capture_written": 0, "capture_dropped": 0})
        return result


class _HTTPServer(ThreadingHTTPServer):
    # The default backlog (5) drops connection attempts of a burst of clients (1 s retries).
    request_queue_size = 128


def _error_kind(status: int) -> str:
    return {413: "PayloadTooLarge", 415: "UnsupportedMediaType", 406: "NotAcceptable",
            411: "LengthRequired", 503: "ServiceUnavailable", 404: "NotFound",
            405: "MethodNotAllowed", 409: "Conflict"}.get(status, "ValidationError")


def _error_body(kind: str, message: str) -> bytes:
    return json.dumps({"error": kind, "message": message}).encode("utf-8")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _make_handler(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "airsage-model-server"

        def setup(self) -> None:
            super().setup()
            # Headers and body are two writes: without this, Nagle + delayed ACK add ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: bytes, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode("utf-8"))

        def _error(self, status: int, message: str) -> None:
            self._send(status, _error_body(_error_kind(status), message))

        def _read_body(self, limit: int) -> bytes | None:
            length_header = self.headers.get("Content-Length")
            if self.headers.get("Transfer-Encoding") or length_header is None:
                self.close_connection = True
                server.refused(411)
                self._error(411, "send the body with a Content-Length header")
                return None
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError(length_header)
            except ValueError:
                self.close_connection = True
                server.refused(400)
                self._error(400, f"Content-Length {length_header!r} is not a byte count")
                return None
            if length > limit:
                # Not reading the body: close the connection instead of draining it.
                self.close_connection = True
                server.refused(413)
                self._error(413, f"request body of {length} bytes exceeds the limit of {limit} "
                                 "bytes (serving.max_body_bytes); send fewer instances per request")
                return None
            return self.rfile.read(length) if length else b""

        def _admin_allowed(self) -> bool:
            if _is_loopback(self.client_address[0]):
                return True
            self._error(403, "the admin API answers loopback clients only")
            return False

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/ping":
                healthy = server.healthy()
                self._json(200 if healthy else 503, {"status": "Healthy" if healthy else "Unhealthy"})
            elif parts.path == "/metrics":
                since_raw = parse_qs(parts.query).get("since", [None])[0]
                try:
                    since = float(since_raw) if since_raw is not None else None
                except ValueError:
                    self._error(400, f"since={since_raw!r} is not an epoch time in seconds")
                    return
                self._json(200, server.metrics(since))
            elif parts.path == "/admin/endpoint":
                if self._admin_allowed():
                    self._json(200, server.describe())
            elif parts.path == "/invocations":
                self._error(405, "use POST /invocations")
            else:
                self._error(404, f"no route GET {parts.path}")

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path == "/invocations":
                self._invocations()
            elif path == "/admin/variants":
                if self._admin_allowed():
                    self._admin(lambda req: (201, server.add_variant(
                        str(req.get("variant_name", "")), str(req.get("artifact_path", "")),
                        model_name=str(req.get("model_name", "")),
                        model_version=str(req.get("model_version", "")),
                        run_id=req.get("run_id"))))
            elif path == "/admin/shutdown":
                if self._admin_allowed():
                    self.close_connection = True
                    self._json(202, {"status": "ShuttingDown"})
                    threading.Thread(target=_request_shutdown, daemon=True).start()
            else:
                self._error(404, f"no route POST {path}")

        def do_PUT(self) -> None:
            path = urlsplit(self.path).path
            if path == "/admin/weights":
                if self._admin_allowed():
                    self._admin(lambda req: (200, server.set_weights(dict(req.get("weights") or {}))))
            else:
                self._error(404, f"no route PUT {path}")

        def do_DELETE(self) -> None:
            path = urlsplit(self.path).path
            prefix = "/admin/variants/"
            if path.startswith(prefix):
                if self._admin_allowed():
                    self._admin(lambda _req: (200, server.remove_variant(path[len(prefix):])),
                                body_required=False)
            else:
                self._error(404, f"no route DELETE {path}")

        def _admin(self, action: Any, body_required: bool = True) -> None:
            if not body_required and self.headers.get("Content-Length") is None:
                body: bytes | None = b""
            else:
                body = self._read_body(server.config.max_body_bytes)
            if body is None:
                return
            try:
                request = json.loads(body) if body else {}
                if body_required and not isinstance(request, dict):
                    raise AdminError("the admin API takes a JSON object")
                status, payload = action(request)
            except json.JSONDecodeError as exc:
                self._error(400, f"admin request is not valid JSON: {exc}")
            except AdminError as exc:
                self._error(exc.status, str(exc))
            else:
                self._json(status, payload)

        def _invocations(self) -> None:
            body = self._read_body(server.config.max_body_bytes)
            if body is None:
                return
            try:
                status, content_type, payload, variant = server.invoke(
                    body, self.headers.get("Content-Type"), self.headers.get("Accept"),
                    self.headers.get(TARGET_VARIANT_HEADER), self.headers.get(INFERENCE_ID_HEADER),
                    capture=self.headers.get(HEALTH_CHECK_HEADER) is None)
            except RequestError as exc:  # routing refused before any variant was chosen
                server.refused(exc.status)
                self._error(exc.status, str(exc))
                return
            except Exception as exc:  # a bug must answer, not drop the connection
                log.exception("unexpected error in /invocations")
                server.refused(500)
                self._error(500, f"internal error: {type(exc).__name__}: {exc}")
                return
            self._send(status, payload, content_type, {INVOKED_VARIANT_HEADER: variant or ""})

    return Handler


_shutdown = threading.Event()


def _request_shutdown(*_args: Any) -> None:
    _shutdown.set()


def restore_variants(server: ModelServer, state: dict[str, Any]) -> None:
    """Reload the variants of a previous run of this endpoint (``airsage serve`` restart)."""
    weights = {}
    for saved in state.get("variants") or []:
        if saved.get("status") == FAILED or not saved.get("artifact_path"):
            continue
        loaded = server.add_variant(
            saved["variant_name"], saved["artifact_path"], model_name=saved.get("model_name", ""),
            model_version=saved.get("model_version", ""), run_id=saved.get("run_id"))
        if loaded["status"] == IN_SERVICE and float(saved.get("weight") or 0) > 0:
            weights[saved["variant_name"]] = float(saved["weight"])
    if weights:
        server.set_weights(weights)


def main(argv: list[str] | None = None) -> int:
    """``airsage serve``: serve an endpoint from the local state until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="airsage serve", description=main.__doc__)
    parser.add_argument("--config", help="airsage YAML config (default: AIRSAGE_CONFIG or "
                                         "include/config/airsage.yaml)")
    parser.add_argument("--endpoint", help="endpoint name (default: serving.endpoint)")
    parser.add_argument("--host", help="bind address (default: serving.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: serving.port; 0 = any free port)")
    parser.add_argument("--artifact", help="serve this model.tar.gz (or model dir) as variant "
                                           "AllTraffic, in addition to the restored variants")
    parser.add_argument("--no-restore", action="store_true",
                        help="start empty instead of reloading the endpoint's saved variants")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    settings = load_settings(args.config)
    config = ServingConfig.from_settings(settings)
    endpoint = args.endpoint or config.endpoint
    os.environ[INPUT_FIELDS_ENV] = ",".join(settings.dataset(config.dataset).columns)
    from airsage.targets import implementation

    lake = implementation("lake", settings)
    state_file = state_file_for(settings, endpoint)
    previous: dict[str, Any] = {}
    if state_file.exists() and not args.no_restore:
        try:
            previous = json.loads(state_file.read_text())
        except json.JSONDecodeError:
            log.warning("ignoring unreadable endpoint state %s", state_file)
    server = ModelServer(config, lake, endpoint=endpoint, host=args.host, port=args.port,
                         state_file=state_file, work_dir=endpoints_dir(settings) / endpoint)
    signal.signal(signal.SIGTERM, _request_shutdown)
    signal.signal(signal.SIGINT, _request_shutdown)
    try:
        restore_variants(server, previous)
        if args.artifact:
            loaded = server.add_variant("AllTraffic", args.artifact, model_name="cli",
                                        model_version=Path(args.artifact).name)
            if loaded["status"] != IN_SERVICE:
                print(f"airsage serve: {args.artifact} failed to load: {loaded['error']}",
                      file=sys.stderr)
                return 1
            if not server.healthy():
                server.set_weights({"AllTraffic": 1.0})
        server.start()
        print(f"airsage serve: endpoint {endpoint} listening on {server.url} (pid {os.getpid()})",
              flush=True)
        _shutdown.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
