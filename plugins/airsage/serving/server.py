"""The model server process: one endpoint's ASGI app under uvicorn, and ``airsage serve``.

``ModelServer`` binds the port first (so port 0 resolves before anything is served), runs
``app.build_app`` on uvicorn (uvloop + httptools) in the foreground or in a background thread,
and keeps ``<home>/endpoints/<endpoint>.json`` current: the URL and pid the deployer looks
for, and the variants a restart reloads. ``python -m airsage.serving.server`` is what the
deployer starts detached (``serving/local.py``); ``airsage serve`` is the same entry.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn

from airsage.config import load_settings
from airsage.lake.base import Lake
from airsage.serving.app import build_app
from airsage.serving.base import IN_SERVICE, ServingConfig
from airsage.serving.capture import CaptureWriter
from airsage.serving.contract import INPUT_FIELDS_ENV
from airsage.serving.endpoint import (
    INFERENCE_SCRIPT,
    Endpoint,
    endpoints_dir,
    log_file_for,
    state_file_for,
)

log = logging.getLogger(__name__)
# Connections a burst of clients may open before the server accepts them.
BACKLOG = 1024
# Longer than a client pool's idle time, so a pooled connection is not closed under it.
KEEP_ALIVE_SECONDS = 75


def bind(host: str, port: int, *, reuse_port: bool = False, listen: bool = True
         ) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port), with a clear error.

    ``reuse_port``: other processes may bind the same port (``SO_REUSEPORT``; the kernel then
    spreads new connections over the listening ones: the workers of ``serving/workers.py``);
    ``listen=False`` only holds the port (the workers' supervisor, which accepts nothing).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"model server: cannot listen on {host}:{port}: {exc.strerror}. "
                                 "Another process holds the port; set serving.port (0 = any "
                                 "free port) or stop it") from exc
    if listen:
        sock.listen(BACKLOG)  # connections queue from now on, even before uvicorn runs
    sock.set_inheritable(True)
    return sock


class ModelServer:
    """An :class:`Endpoint` served over HTTP on ``host:port``, with its state file."""

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
        log_location: str | None = None,
    ) -> None:
        self.config = config
        self.state_file = state_file
        self.endpoint = Endpoint(config, lake, name=endpoint, work_dir=work_dir,
                                 inference_script=inference_script,
                                 capture_writer=capture_writer, on_change=self._changed)
        self._socket = bind(host or config.host, config.port if port is None else port)
        self.endpoint.url = self.url
        self.app = build_app(self.endpoint, on_shutdown=self.request_shutdown,
                             log_location=log_location or "the model server's log")
        self._uvicorn = uvicorn.Server(uvicorn.Config(
            self.app, loop="uvloop", http="httptools", lifespan="off", access_log=False,
            log_config=None, log_level="warning", server_header=False, backlog=BACKLOG,
            timeout_keep_alive=KEEP_ALIVE_SECONDS))
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._owns_process = False

    # -- where it listens -----------------------------------------------------------------
    @property
    def host(self) -> str:
        return str(self._socket.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    # -- admin, as the app and ``airsage serve`` use it -----------------------------------
    def add_variant(self, name: str, artifact_path: str | Path, **kwargs: Any) -> dict[str, Any]:
        return self.endpoint.add_variant(name, artifact_path, **kwargs)

    def set_weights(self, weights: dict[str, float]) -> list[dict[str, Any]]:
        return self.endpoint.set_weights(weights)

    def remove_variant(self, name: str) -> list[dict[str, Any]]:
        return self.endpoint.remove_variant(name)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> ModelServer:
        """Serve from a background thread (tests, embedding); ``stop()`` ends it."""
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self._socket]},
                                        name=f"airsage-serve-{self.endpoint.name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"model server for {self.endpoint.name} did not start "
                                   f"within {timeout:g} s")
            time.sleep(0.01)
        self.write_state()
        return self

    def serve(self) -> None:
        """Serve in the foreground until SIGTERM/SIGINT or ``POST /admin/shutdown``.

        The process is the server's own, so it may tune the collector: see :meth:`_changed`.
        """
        self._owns_process = True
        self.write_state()
        gc.collect()  # no traffic yet: the one full collection this process needs
        gc.freeze()
        self._uvicorn.run(sockets=[self._socket])

    def _changed(self) -> None:
        """After an admin change: rewrite the state file, and freeze what the change loaded.

        ``gc.freeze`` moves every object alive now (imports, loaded models) out of the
        collector's reach. A full collection of this heap (scikit-learn, numpy, airsage:
        ~150k tracked objects) stalls the event loop for tens of milliseconds, and at hundreds
        of requests per second such a stall is the p99; these objects live as long as the
        process. Only in a process that is the server's own (``serve``): the freeze is
        process-wide. No ``gc.collect()`` here: traffic is being served.
        """
        self.write_state()
        if self._owns_process:
            gc.freeze()

    def request_shutdown(self) -> None:
        self._uvicorn.should_exit = True

    def stop(self) -> None:
        """Stop accepting requests, write queued capture records, release the port."""
        if self._stopped:
            return
        self._stopped = True
        self.request_shutdown()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        self._socket.close()
        self.endpoint.close()
        self.write_state(running=False)

    def write_state(self, running: bool = True) -> None:
        """The endpoint's state file: what the deployer and ``airsage serve`` restart read."""
        if self.state_file is None:
            return
        write_state_file(self.state_file, endpoint=self.endpoint.name, sock=self._socket,
                         started_at=self.endpoint.started_at,
                         variants=self.endpoint.variants(), running=running)


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://{host if ':' not in host else f'[{host}]'}:{port}"


def write_state_file(path: Path, *, endpoint: str, sock: socket.socket, started_at: float,
                     variants: list[dict[str, Any]], running: bool = True,
                     workers: list[int] | None = None) -> None:
    """Atomically write an endpoint's state: the pid, address and variants the deployer and
    a restart read (the pid is the process to stop: the server, or its supervisor)."""
    host, port = sock.getsockname()[:2] if running else (None, None)
    state: dict[str, Any] = {
        "endpoint": endpoint,
        "pid": os.getpid() if running else None,
        "host": host,
        "port": port,
        "url": url_of(sock) if running else None,
        "started_at": started_at,
        "updated_at": time.time(),
        "variants": variants,
    }
    if workers is not None:
        state["workers"] = workers if running else []
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def serve_with_workers(args: argparse.Namespace, settings: Any, config: ServingConfig,
                       endpoint: str, state_file: Path, previous: list[dict[str, Any]],
                       workers: int) -> int:
    """``airsage serve`` with ``workers`` processes (``serving/workers.py``): this process
    is their supervisor and the pid in the state file."""
    from airsage.serving.workers import Supervisor

    # holds the port; each worker listens on it with a socket of its own (SO_REUSEPORT)
    sock = bind(args.host or config.host, config.port if args.port is None else args.port,
                reuse_port=True, listen=False)
    started_at = time.time()
    known: list[list[dict[str, Any]]] = [[]]
    supervisor = Supervisor(sock, workers=workers, endpoint=endpoint, url=url_of(sock),
                            config_file=args.config,
                            log_location=str(log_file_for(settings, endpoint)))

    def write(variants: list[dict[str, Any]], running: bool = True) -> None:
        known[0] = variants
        write_state_file(state_file, endpoint=endpoint, sock=sock, started_at=started_at,
                         variants=variants, running=running, workers=supervisor.pids)

    try:
        write(supervisor.start(previous))
        supervisor.on_change(write)
        if args.artifact:
            loaded = supervisor.handle("add_variant", {
                "variant_name": "AllTraffic", "artifact_path": args.artifact,
                "model_name": "cli", "model_version": Path(args.artifact).name})
            if loaded["status"] != IN_SERVICE:
                print(f"airsage serve: {args.artifact} failed to load: {loaded['error']}",
                      file=sys.stderr)
                return 1
            if supervisor.handle("describe", {})["status"] != IN_SERVICE:
                supervisor.handle("set_weights", {"weights": {"AllTraffic": 1.0}})
        print(f"airsage serve: endpoint {endpoint} listening on {url_of(sock)} with {workers} "
              f"workers (supervisor pid {os.getpid()}, workers {supervisor.pids})", flush=True)
        supervisor.wait()
    finally:
        supervisor.stop()
        write_state_file(state_file, endpoint=endpoint, sock=sock, started_at=started_at,
                         variants=known[0], running=False, workers=[])
    return 0


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
    parser.add_argument("--workers", type=int,
                        help="server processes sharing the port (default: serving.workers)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    settings = load_settings(args.config)
    config = ServingConfig.from_settings(settings)
    endpoint = args.endpoint or config.endpoint
    os.environ[INPUT_FIELDS_ENV] = ",".join(settings.dataset(config.dataset).columns)
    from airsage.targets import Engines

    lake = Engines(settings).lake  # main is this process's composition root; ModelServer takes it
    state_file = state_file_for(settings, endpoint)
    previous: dict[str, Any] = {}
    if state_file.exists() and not args.no_restore:
        try:
            previous = json.loads(state_file.read_text())
        except json.JSONDecodeError:
            log.warning("ignoring unreadable endpoint state %s", state_file)
    workers = config.workers if args.workers is None else args.workers
    if workers != config.workers:
        config = replace(config, workers=workers)
        config.validate("airsage serve --workers")
    if workers > 1:
        return serve_with_workers(args, settings, config, endpoint, state_file,
                                  previous.get("variants") or [], workers)
    server = ModelServer(config, lake, endpoint=endpoint, host=args.host, port=args.port,
                         state_file=state_file, work_dir=endpoints_dir(settings) / endpoint,
                         log_location=str(log_file_for(settings, endpoint)))
    try:
        server.endpoint.restore(previous.get("variants") or [])
        if args.artifact:
            loaded = server.add_variant("AllTraffic", args.artifact, model_name="cli",
                                        model_version=Path(args.artifact).name)
            if loaded["status"] != IN_SERVICE:
                print(f"airsage serve: {args.artifact} failed to load: {loaded['error']}",
                      file=sys.stderr)
                return 1
            if not server.endpoint.healthy():
                server.set_weights({"AllTraffic": 1.0})
        print(f"airsage serve: endpoint {endpoint} listening on {server.url} (pid {os.getpid()})",
              flush=True)
        server.serve()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
