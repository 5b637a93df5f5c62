"""Blue/green deployment to the local model server, with bake alarms and automatic rollback.

``run`` carries out a :class:`~airsage.serving.request.DeploymentRequest` (``deploy`` builds
one from a model version and this deployer's settings). It mirrors a SageMaker endpoint
update with a deployment configuration: the new model becomes a variant at weight 0 beside
the one serving (blue), is health-checked (loaded, ``/ping``, a smoke invocation addressed to
it), then takes traffic in the request's steps (``all_at_once``, ``canary``, ``linear``).
After each step it bakes for the request's bake time while its error rate and p99 latency
are watched against the request's alarms; an alarm restores the previous weights, removes
the new variant and raises ``StepFailed`` naming the alarm. Blue keeps serving until green
is healthy and is removed only after the last step succeeded. The request's instance
settings, autoscaling and data capture are what the aws target sends; locally
``serving.workers`` server processes (one by default; ``serving/workers.py``) serve and capture
as ``serving.capture`` (the section the request is built from) says, and nothing autoscales.

The server runs detached (its own session) so it outlives the Airflow task that deployed it;
``<home>/endpoints/<endpoint>.json`` (written by the server) says where it is. With
``serving.url`` set, the server is a service of its own (docker-compose's ``model-server``):
``deploy`` on any worker updates it through its admin API (with ``serving.admin_token``) and
hands it lake keys to load, ``describe`` and ``monitor`` find it by that URL, and nothing
is started or read from one worker's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from airsage.config import PROJECT_ROOT, Settings
from airsage.errors import InputDataError, StepFailed
from airsage.lake.base import Lake
from airsage.serving.base import (
    ADMIN_TOKEN_HEADER,
    HEALTH_CHECK_HEADER,
    IN_SERVICE,
    TARGET_VARIANT_HEADER,
    DeploymentResult,
    EndpointDescription,
    KeepServing,
    ModelVersionLike,
    ServingConfig,
)
from airsage.serving.endpoint import endpoints_dir, lake_key, state_file_for
from airsage.serving.request import DeploymentRequest, deployment_request, version_dict

STEP = "deploy"
DEPLOY_LOCK_PREFIX = "deploy-"  # the lake lock of an endpoint's deployments: deploy-<endpoint>
SMOKE_REQUEST = {"instances": [{"review_id": 0, "review_text": "Lovely dress, fits well."}]}


class EndpointClient:
    """JSON over HTTP to one local endpoint (stdlib only: the server is on 127.0.0.1)."""

    def __init__(self, url: str, timeout: float = 30.0, *, admin_token: str = "") -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.admin_token = admin_token

    def request(self, method: str, path: str, payload: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        token = {ADMIN_TOKEN_HEADER: self.admin_token} if self.admin_token else {}
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json",
                                                  **token, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        try:
            return status, json.loads(body) if body else None
        except json.JSONDecodeError:
            return status, body.decode("utf-8", "replace")

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        status, body = self.request(method, path, payload)
        if status >= 300:
            message = body.get("message") if isinstance(body, dict) else body
            raise StepFailed(f"{STEP}: {method} {self.url}{path} answered {status}: {message}")
        return body


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        reaped, _status = os.waitpid(pid, os.WNOHANG)  # our own child: reap a zombie
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalEndpointDeployer:
    """Create or update a local endpoint blue/green; describe it; stop it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = ServingConfig.from_settings(settings)

    # -- public API -----------------------------------------------------------------------
    def deploy(self, lake: Lake, model_version: ModelVersionLike, *,
               endpoint: str | None = None,
               keep_serving: KeepServing | None = None) -> DeploymentResult:
        """Serve ``model_version`` on the endpoint (the request built from this deployer's
        settings, :func:`deployment_request`); see :meth:`run`."""
        request = deployment_request(self.settings, version_dict(model_version), endpoint=endpoint)
        return self.run(lake, request, keep_serving=keep_serving)

    def run(self, lake: Lake, request: DeploymentRequest, *,
            keep_serving: KeepServing | None = None) -> DeploymentResult:
        """Serve the request's model version as its variant; roll back and raise on a failed
        check (the request's traffic steps, bake time and alarms).

        ``keep_serving`` is asked, under the endpoint's lock, about the variants serving now:
        a reason it returns keeps them (action ``kept``), so two runs deploying at once
        cannot let an older model replace a newer one.
        """
        endpoint = request.endpoint
        started = time.monotonic()
        name, version = request.model_name, request.model_version
        with self._lock(lake, endpoint):
            client = self._ensure_running(endpoint)
            described = client.call("GET", "/admin/endpoint")
            variants = described["variants"]
            serving = [v for v in variants if v["weight"] > 0 and v["status"] == IN_SERVICE]
            reason = keep_serving(serving) if keep_serving is not None and serving else None
            if reason:
                return DeploymentResult(endpoint, client.url, "kept", name, version, "",
                                        duration_seconds=round(time.monotonic() - started, 3),
                                        reason=reason)
            if (len(serving) == 1 and serving[0]["model_name"] == name
                    and serving[0]["model_version"] == version):
                return DeploymentResult(endpoint, client.url, "noop", name, version,
                                        serving[0]["variant_name"],
                                        duration_seconds=time.monotonic() - started)
            artifact = self._artifact_path(lake, request)
            new = request.variant_name
            for stale in variants:  # a leftover copy of this version, or failed variants
                if stale["variant_name"] == new or (stale["status"] != IN_SERVICE
                                                    and stale["weight"] == 0):
                    if stale["weight"] > 0:
                        client.call("PUT", "/admin/weights", {"weights": {stale["variant_name"]: 0}})
                    client.call("DELETE", f"/admin/variants/{stale['variant_name']}")
            described = client.call("GET", "/admin/endpoint")
            before = {v["variant_name"]: v["weight"] for v in described["variants"]}
            blue = [n for n, w in before.items() if w > 0]
            steps = list(request.deployment.traffic_steps)
            self._create_variant(client, request, artifact)
            try:
                self._smoke(client, endpoint, new)
                for percent in steps:
                    client.call("PUT", "/admin/weights", {"weights": self._weights(before, new, percent)})
                    status, _ = client.request("GET", "/ping")
                    if status != 200:
                        raise _Alarm("ping", status, 200, percent)
                    self._bake(client, request, percent)
            except _Alarm as alarm:
                self._rollback(client, before, new)
                raise StepFailed(
                    f"{STEP}: endpoint {endpoint}: {name} v{version} (variant {new}) was rolled "
                    f"back at {alarm.percent:g}% traffic: alarm {alarm.alarm} measured "
                    f"{alarm.measured}, threshold {alarm.threshold}. "
                    + (f"Variant(s) {blue} serve again; " if blue else "The endpoint has no "
                       "serving variant; ")
                    + "fix the model and deploy again (server log: "
                    f"{self._log_file(endpoint)})"
                ) from None
            except BaseException:
                self._rollback(client, before, new)
                raise
            for old in before:
                client.call("DELETE", f"/admin/variants/{old}")
            return DeploymentResult(
                endpoint, client.url, "updated" if blue else "created", name, version, new,
                traffic_steps=tuple(steps), replaced_variants=tuple(before),
                duration_seconds=round(time.monotonic() - started, 3))

    def describe(self, endpoint: str | None = None) -> EndpointDescription:
        endpoint = endpoint or self.config.endpoint
        if self.config.url:
            with contextlib.suppress(OSError, StepFailed):
                live = self._client(self.config.url, timeout=5).call("GET", "/admin/endpoint")
                return EndpointDescription(endpoint, self.config.url, live["status"],
                                           tuple(live["variants"]), live.get("pid"))
            return EndpointDescription(endpoint, None, "OutOfService", (), None)
        state = self._state(endpoint)
        url = state.get("url")
        if url and _alive(state.get("pid")):
            try:
                live = EndpointClient(url, timeout=5).call("GET", "/admin/endpoint")
                return EndpointDescription(endpoint, url, live["status"],
                                           tuple(live["variants"]), live.get("pid"))
            except (OSError, StepFailed):
                pass
        return EndpointDescription(endpoint, None, "OutOfService",
                                   tuple(state.get("variants") or ()), None)

    def stop(self, endpoint: str | None = None, timeout: float = 20.0) -> bool:
        """Stop the endpoint's server; True if one was running. Its variants stay in the state.

        A server at ``serving.url`` is asked to shut down (its service manager decides whether
        it comes back); True if it accepted."""
        endpoint = endpoint or self.config.endpoint
        if self.config.url:
            try:
                self._client(self.config.url, timeout=5).call("POST", "/admin/shutdown", {})
            except (OSError, StepFailed):
                return False
            return True
        state = self._state(endpoint)
        pid = state.get("pid")
        if pid is None or not _alive(pid):
            return False
        with contextlib.suppress(OSError, StepFailed):
            EndpointClient(state["url"], timeout=5).call("POST", "/admin/shutdown", {})
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid) and time.monotonic() < deadline + 5:
                time.sleep(0.1)
        return True

    # -- steps ----------------------------------------------------------------------------
    def _create_variant(self, client: EndpointClient, request: DeploymentRequest,
                        artifact: Path | str) -> None:
        new = request.variant_name
        created = client.call("POST", "/admin/variants", {
            "variant_name": new, "artifact_path": str(artifact),
            "model_name": request.model_name, "model_version": request.model_version,
            "run_id": request.run_id})
        if created["status"] != IN_SERVICE:
            client.call("DELETE", f"/admin/variants/{new}")
            raise StepFailed(
                f"{STEP}: endpoint {request.endpoint}: {request.model_name} "
                f"v{request.model_version} failed to load from {artifact}: {created['error']}. "
                "It got no traffic; the serving variant is unchanged. Check the model artifact "
                "and deploy again."
            )

    def _smoke(self, client: EndpointClient, endpoint: str, new: str) -> None:
        status, body = client.request("POST", "/invocations", SMOKE_REQUEST,
                                      headers={TARGET_VARIANT_HEADER: new, HEALTH_CHECK_HEADER: "smoke"})
        ok = (status == 200 and isinstance(body, dict)
              and len(body.get("predictions") or []) == len(SMOKE_REQUEST["instances"]))
        if not ok:
            raise _Alarm("smoke_invocation", f"{status} {body}", "200 with one prediction", 0.0)

    def _weights(self, before: dict[str, float], new: str, percent: float) -> dict[str, float]:
        blue_total = sum(w for w in before.values() if w > 0)
        if blue_total <= 0 or percent >= 100:
            return {**{name: 0.0 for name in before}, new: 100.0}
        share = (100.0 - percent) / blue_total
        return {**{name: w * share for name, w in before.items()}, new: percent}

    def _bake(self, client: EndpointClient, request: DeploymentRequest, percent: float) -> None:
        new, config = request.variant_name, request.deployment
        since = time.time()
        deadline = time.monotonic() + config.bake_seconds
        while True:
            time.sleep(max(0.0, min(0.25, deadline - time.monotonic())))
            metrics = client.call("GET", f"/metrics?since={since}")
            stats = metrics["variants"].get(new)
            if stats is None or stats["status"] != IN_SERVICE:
                raise _Alarm("variant_status", stats and stats["status"], IN_SERVICE, percent)
            if stats["invocations"] and stats["error_rate"] > config.max_error_rate:
                raise _Alarm("error_rate", round(stats["error_rate"], 4),
                             config.max_error_rate, percent)
            p99 = stats["latency_ms"]["p99"]
            if p99 is not None and p99 > config.max_p99_latency_ms:
                raise _Alarm("p99_latency_ms", round(p99, 1), config.max_p99_latency_ms, percent)
            if time.monotonic() >= deadline:
                return

    def _rollback(self, client: EndpointClient, before: dict[str, float], new: str) -> None:
        """Weights back first (blue serves again), then the new variant goes."""
        restore = {name: weight for name, weight in before.items()}
        with contextlib.suppress(StepFailed, OSError):
            client.call("PUT", "/admin/weights", {"weights": {**restore, new: 0.0}})
        with contextlib.suppress(StepFailed, OSError):
            client.call("DELETE", f"/admin/variants/{new}")

    # -- helpers --------------------------------------------------------------------------
    def _artifact_path(self, lake: Lake, request: DeploymentRequest) -> Path | str:
        """The registry's copy when this worker can read it, else the lake key (the
        artifact URI when it is one, then the version's lineage key). A model server run as a
        service (``serving.url``) is handed the lake key (or a file it shares) to load itself."""
        uri = request.artifact_uri
        # A version registered on a tracking server keeps its copy where only the server
        # reads it; its lineage names the model.tar.gz in the lake, which deploy reads.
        lineage_key = request.model_artifact_key
        if lineage_key and lake.exists(lineage_key) and not _readable_here(uri):
            uri = lineage_key
        if self.config.url:  # the server loads it itself: a lake key, or a file it shares
            key = lake_key(lake, uri)
            if key is not None and lake.exists(key):
                return key
            if _readable_here(uri):
                return str(Path(uri.removeprefix("file://")).resolve())
            raise InputDataError(
                f"{STEP}: artifact {uri!r} of {request.model_name} v{request.model_version} is "
                f"not in the lake {lake.root}; the model server at {self.config.url} "
                "(serving.url) loads models from the lake"
            )
        path = Path(uri.removeprefix("file://"))
        if uri and "://" not in uri.removeprefix("file://") and path.exists():
            return path.resolve()
        as_key = uri if "://" not in uri and not uri.startswith("/") else ""  # a path is no key
        keys = [key for key in (as_key, request.model_artifact_key) if key]
        for key in keys:
            if lake.exists(key):
                destination = (endpoints_dir(self.settings) / "artifacts" / request.variant_name
                               / "model.tar.gz")
                return lake.download(key, destination)
        raise InputDataError(
            f"{STEP}: artifact {uri!r} of {request.model_name} v{request.model_version} is "
            f"neither a local file nor a key of the lake (lineage key "
            f"{request.model_artifact_key or 'none'}); the local target serves model.tar.gz "
            "files it can read"
        )

    def _state(self, endpoint: str) -> dict[str, Any]:
        path = state_file_for(self.settings, endpoint)
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _log_file(self, endpoint: str) -> Path:
        return endpoints_dir(self.settings) / f"{endpoint}.log"

    @contextlib.contextmanager
    def _lock(self, lake: Lake, endpoint: str) -> Iterator[None]:
        """One deployment per endpoint at a time (two DAG runs must not interleave shifts),
        across workers and hosts: the lake lock ``deploy-<endpoint>``, renewed during a long
        bake; waiting longer than ``lake.lock.timeout_seconds`` names the deploying task."""
        with lake.lock(f"{DEPLOY_LOCK_PREFIX}{endpoint}"):
            yield

    def _client(self, url: str, timeout: float = 30.0) -> EndpointClient:
        return EndpointClient(url, timeout, admin_token=self.config.admin_token)

    def _ensure_running(self, endpoint: str) -> EndpointClient:
        if self.config.url:
            client = self._client(self.config.url)
            try:
                client.call("GET", "/admin/endpoint")
            except (OSError, StepFailed) as exc:
                raise StepFailed(
                    f"{STEP}: the model server of endpoint {endpoint} at {self.config.url} "
                    f"(serving.url) does not answer its admin API: {exc}; start that service "
                    "(docker compose up -d model-server) or clear serving.url to let deploy "
                    "start a server on this machine"
                ) from exc
            return client
        state = self._state(endpoint)
        if state.get("url") and _alive(state.get("pid")):
            client = EndpointClient(state["url"])
            with contextlib.suppress(OSError, StepFailed):
                if client.call("GET", "/admin/endpoint").get("pid") == state["pid"]:
                    return client
        return self._start(endpoint)

    def _start(self, endpoint: str) -> EndpointClient:
        """Start ``airsage serve`` detached; wait until its state file names it and it answers."""
        directory = endpoints_dir(self.settings)
        directory.mkdir(parents=True, exist_ok=True)
        config_file = directory / f"{endpoint}.config.yaml"
        # The child reads exactly these settings: drop AIRSAGE_* variables that would override.
        config_file.write_text(yaml.safe_dump(json.loads(json.dumps(dict(self.settings.raw)))))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRSAGE")}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PROJECT_ROOT / "plugins"), *filter(None, [os.environ.get("PYTHONPATH")])])
        log_file = self._log_file(endpoint)
        command = [sys.executable, "-m", "airsage.serving.server", "--config", str(config_file),
                   "--endpoint", endpoint]
        with log_file.open("ab") as log:
            process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.config.startup_timeout_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StepFailed(
                    f"{STEP}: the model server for endpoint {endpoint} exited with code "
                    f"{process.returncode} while starting; last log lines:\n{_tail(log_file)}"
                )
            state = self._state(endpoint)
            if state.get("pid") == process.pid and state.get("url"):
                client = EndpointClient(state["url"])
                with contextlib.suppress(OSError, StepFailed):
                    client.call("GET", "/admin/endpoint")
                    return client
            time.sleep(0.1)
        process.kill()
        raise StepFailed(
            f"{STEP}: the model server for endpoint {endpoint} did not answer within "
            f"{self.config.startup_timeout_seconds:g} s (serving.startup_timeout_seconds); "
            f"log {log_file}:\n{_tail(log_file)}"
        )


def _readable_here(uri: str) -> bool:
    local = uri.removeprefix("file://")
    return bool(uri) and "://" not in local and Path(local).exists()


class _Alarm(Exception):
    def __init__(self, alarm: str, measured: Any, threshold: Any, percent: float) -> None:
        super().__init__(alarm)
        self.alarm, self.measured, self.threshold, self.percent = alarm, measured, threshold, percent


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
