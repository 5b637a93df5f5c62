"""The model server's HTTP face: a Starlette (ASGI) app over one :class:`Endpoint`.

- ``GET /ping``: 200 only when a variant with weight > 0 is loaded (``InService``).
- ``POST /invocations``: the container contract. Routed to production variants by weight;
  ``X-Amzn-SageMaker-Target-Variant`` picks one explicitly. Bad requests answer a 4xx JSON
  ``{"error", "message"}``; a model that raises answers 500 ``ModelError``.
- ``POST /endpoints/{name}/invocations``: the SageMaker Runtime API in front of it
  (``invoke_endpoint``), with the runtime's headers and error shapes (``runtime_api.py``).
- ``GET /metrics``: per variant invocations, 4xx, 5xx and latency p50/p99 (``?since=<epoch>``
  restricts them to recent requests: the deployer's bake alarms), refusals, capture counters.
- ``/admin/...`` (loopback clients only): add a variant from a ``model.tar.gz``, set weights,
  remove a variant, describe, shut down. Admin work runs in a worker thread, so loading a
  model never stalls the requests the serving variants answer meanwhile.

Inference runs on the event loop itself, and the requests of one loop turn share one
``predict_fn`` call (``endpoint.Batcher``): the models are small and CPU-bound, so a thread
hop would add latency and GIL contention, while batching removes the per-call overhead that
dominates a one-review prediction (``bench/serving.py`` measures the result).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airsage.serving import runtime_api
from airsage.serving.base import (
    ADMIN_TOKEN_HEADER,
    HEALTH_CHECK_HEADER,
    INFERENCE_ID_HEADER,
    INVOKED_VARIANT_HEADER,
    TARGET_VARIANT_HEADER,
)
from airsage.serving.endpoint import AdminError, Endpoint, RoutingError, apply_admin, error_kind

log = logging.getLogger(__name__)


class BodyRefused(Exception):
    """A request body refused before it was read: missing length, bad length, too large."""

    def __init__(self, status: int, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload).encode("utf-8"), status,
                    {"content-type": "application/json", **(headers or {})})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"error": error_kind(status), "message": message}, headers)


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _has_admin_token(request: Request, token: str) -> bool:
    """A deployer on another host (a Celery worker) proves itself with the shared token."""
    sent = request.headers.get(ADMIN_TOKEN_HEADER, "")
    return bool(token) and hmac.compare_digest(sent.encode(), token.encode())


async def read_body(request: Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes; a chunked body is read up to the limit."""
    length = request.headers.get("content-length")
    if length is None:
        if "transfer-encoding" not in request.headers:
            raise BodyRefused(411, "send the body with a Content-Length header")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyRefused(413, _too_large(None, limit))
            chunks.append(chunk)
        return b"".join(chunks)
    try:
        size = int(length)
        if size < 0:
            raise ValueError(length)
    except ValueError:
        raise BodyRefused(400, f"Content-Length {length!r} is not a byte count") from None
    if size > limit:
        raise BodyRefused(413, _too_large(size, limit), size)
    return await request.body()


def _too_large(size: int | None, limit: int) -> str:
    got = f"of {size} bytes " if size is not None else ""
    return (f"request body {got}exceeds the limit of {limit} bytes (serving.max_body_bytes); "
            "send fewer instances per request")


Control = Callable[[str, dict[str, Any]], Any]
"""An admin operation by name (``endpoint.ADMIN_OPS``) and its arguments → its answer."""


def build_app(endpoint: Endpoint, *, on_shutdown: Callable[[], None],
              log_location: str = "the model server's log",
              account: str = runtime_api.LOCAL_ACCOUNT_ID,
              control: Control | None = None) -> Starlette:
    """The ASGI app serving ``endpoint``; ``on_shutdown`` stops the server (admin API).

    ``control`` runs the admin operations and ``/metrics``: by default on ``endpoint``
    itself; a worker of a multi-process server hands in its supervisor's, which applies
    each change to every worker and merges their metrics (``serving/workers.py``).
    """
    limit = endpoint.config.max_body_bytes
    admin_token = endpoint.config.admin_token
    shared = control

    async def ping(_request: Request) -> Response:
        healthy = endpoint.healthy()
        return _json(200 if healthy else 503, {"status": "Healthy" if healthy else "Unhealthy"})

    async def metrics(request: Request) -> Response:
        raw = request.query_params.get("since")
        try:
            since = float(raw) if raw is not None else None
        except ValueError:
            return _error(400, f"since={raw!r} is not an epoch time in seconds")
        if shared is None:
            return _json(200, endpoint.metrics(since))
        try:
            merged = await run_in_threadpool(shared, "metrics", {"since": since})
        except AdminError as exc:
            return _error(exc.status, str(exc))
        return _json(200, merged)

    async def invocations(request: Request) -> Response:
        try:
            body = await read_body(request, limit)
        except BodyRefused as exc:
            endpoint.refused(exc.status)
            return _error(exc.status, str(exc), {"connection": "close"})
        headers = request.headers
        try:
            answer = await endpoint.invoke(
                body, headers.get("content-type"), headers.get("accept"),
                headers.get(TARGET_VARIANT_HEADER), headers.get(INFERENCE_ID_HEADER),
                capture=HEALTH_CHECK_HEADER not in headers)
        except RoutingError as exc:  # refused before any variant was chosen
            endpoint.refused(exc.status)
            return _error(exc.status, str(exc))
        return Response(answer.body, answer.status, {"content-type": answer.content_type,
                                                     INVOKED_VARIANT_HEADER: answer.variant})

    async def runtime_invocations(request: Request) -> Response:
        request_id = str(uuid.uuid4())

        def refuse(problem: runtime_api.ApiError) -> Response:
            return Response(problem.body, problem.status, problem.headers(request_id))

        name = request.path_params["name"]
        if name != endpoint.name:
            return refuse(runtime_api.endpoint_not_found(name, account))
        headers = request.headers
        target = headers.get(TARGET_VARIANT_HEADER)
        inference_id = headers.get(INFERENCE_ID_HEADER)
        problem = runtime_api.check_headers(
            inference_id, headers.get(runtime_api.CUSTOM_ATTRIBUTES_HEADER), target)
        if problem is not None:
            return refuse(problem)
        try:
            body = await read_body(request, limit)
        except BodyRefused as exc:
            endpoint.refused(exc.status)
            if exc.status == 413:
                return refuse(runtime_api.oversize_body(request_id, exc.size, limit))
            return refuse(runtime_api.error(runtime_api.VALIDATION_ERROR, str(exc)))
        try:
            answer = await endpoint.invoke(body, headers.get("content-type"), headers.get("accept"),
                                     target, inference_id,
                                     capture=HEALTH_CHECK_HEADER not in headers)
        except RoutingError as exc:
            endpoint.refused(exc.status)
            code = (runtime_api.SERVICE_UNAVAILABLE if exc.status == 503
                    else runtime_api.VALIDATION_ERROR)
            return refuse(runtime_api.error(code, str(exc)))
        if answer.status != 200:  # the model's failure names the variant that failed
            failed = runtime_api.model_error(answer.status, answer.body, log_location)
            return Response(failed.body, failed.status, {**failed.headers(request_id),
                                                         INVOKED_VARIANT_HEADER: answer.variant})
        return Response(answer.body, 200, {
            "content-type": answer.content_type, INVOKED_VARIANT_HEADER: answer.variant,
            runtime_api.REQUEST_ID_HEADER: request_id})

    Action = Callable[[dict[str, Any], dict[str, Any]], tuple[int, Any]]

    def admin(action: Action, body_required: bool = True) -> Callable[[Request], Any]:
        """An admin route: loopback only, JSON in and out, ``action(path, payload)`` run in a
        worker thread (loading a model takes seconds; the loop keeps serving meanwhile)."""

        async def handle(request: Request) -> Response:
            if not _is_loopback(request) and not _has_admin_token(request, admin_token):
                return _error(403, "the admin API answers loopback clients, or others that send "
                                   f"the serving.admin_token in {ADMIN_TOKEN_HEADER}")
            payload: Any = {}
            if body_required or "content-length" in request.headers:
                try:
                    raw = await read_body(request, limit)
                except BodyRefused as exc:
                    return _error(exc.status, str(exc), {"connection": "close"})
                try:
                    payload = json.loads(raw) if raw else {}
                except json.JSONDecodeError as exc:
                    return _error(400, f"admin request is not valid JSON: {exc}")
                if not isinstance(payload, dict):
                    return _error(400, "the admin API takes a JSON object")
            try:
                status, result = await run_in_threadpool(action, dict(request.path_params),
                                                         payload)
            except AdminError as exc:
                return _error(exc.status, str(exc))
            return _json(status, result)

        return handle

    def run(op: str, args: dict[str, Any]) -> Any:
        return apply_admin(endpoint, op, args) if shared is None else shared(op, args)

    def add_variant(_path: dict[str, Any], req: dict[str, Any]) -> tuple[int, Any]:
        return 201, run("add_variant", {k: req[k] for k in (
            "variant_name", "artifact_path", "model_name", "model_version", "run_id")
            if k in req})

    def set_weights(_path: dict[str, Any], req: dict[str, Any]) -> tuple[int, Any]:
        weights = req.get("weights")
        if not isinstance(weights, dict):
            raise AdminError('set weights with {"weights": {"<variant>": <number>, ...}}')
        return 200, run("set_weights", {"weights": weights})

    def remove_variant(path: dict[str, Any], _req: dict[str, Any]) -> tuple[int, Any]:
        return 200, run("remove_variant", {"name": path["name"]})

    def describe(_path: dict[str, Any], _req: dict[str, Any]) -> tuple[int, Any]:
        return 200, run("describe", {})

    def shutdown(_path: dict[str, Any], _req: dict[str, Any]) -> tuple[int, Any]:
        on_shutdown()
        return 202, {"status": "ShuttingDown"}

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status == 405:
            allowed = (getattr(exc, "headers", None) or {}).get("Allow", "")
            return _error(405, f"use {allowed} {request.url.path}", {"allow": allowed})
        return _error(status, f"no route {request.method} {request.url.path}")

    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/endpoints/{name}/invocations", runtime_invocations, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/admin/endpoint", admin(describe, body_required=False), methods=["GET"]),
        Route("/admin/variants", admin(add_variant), methods=["POST"]),
        Route("/admin/variants/{name}", admin(remove_variant, body_required=False),
              methods=["DELETE"]),
        Route("/admin/weights", admin(set_weights), methods=["PUT"]),
        Route("/admin/shutdown", admin(shutdown, body_required=False), methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found,
                                                        Exception: crashed})
