"""``serving.workers`` > 1: N model-server processes on one port, kept alike by a supervisor.

One Python process answers on one core (inference runs on its event loop, under the GIL), so
on the local target more throughput means more processes. ``airsage serve`` then becomes a
**supervisor**: it holds the port and starts ``workers`` processes (``spawn``); once a
worker serves the endpoint's variants it listens on the port with a socket of its own
(``SO_REUSEPORT``: the kernel spreads new connections over the listening workers, where with
one shared socket whichever worker wakes first takes them), serving the same ASGI app
(``app.build_app``) over its own
:class:`~airsage.serving.endpoint.Endpoint`. Every worker must serve the same variants with
the same weights, so no worker changes its endpoint on its own:

- an admin request (and ``GET /metrics``) reaching any worker goes to the supervisor over a
  pipe (``control``); the supervisor runs one change at a time and tells every worker
  (:func:`~airsage.serving.endpoint.apply_admin`), loading a new variant in all of them at
  once, and answers after all did. Weights are checked on every worker before any changes
  them (``check_weights``), so a refusal leaves all as they were;
- ``/metrics`` merges the workers' counters and recomputes the percentiles from their
  latencies (:func:`merge_metrics`): the deployer's bake alarms see all the traffic;
- ``describe`` names the supervisor's pid (the one in the state file, which only the
  supervisor writes) and the workers' pids;
- each worker captures to its own files (``CaptureWriter(file_tag="w<i>")``), in the same
  ``capture/<endpoint>/<variant>/<hour>/`` prefixes;
- a worker that dies is replaced by one that loads the others' variants and weights before
  the next admin change (the restart is under the same lock as a change); workers that keep
  dying stop the server (state ``running: false``), and the next deploy starts it again.
  The requests the dead worker held, and connections reaching it as it dies, are reset
  (Linux hands a closing listener's queue to the others only with
  ``net.ipv4.tcp_migrate_req=1``).

This is scale-out on one machine, not autoscaling: the number of processes is fixed by the
setting (the aws target scales instances with Application Auto Scaling, ``serving/aws.py``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from airsage.serving.endpoint import AdminError, percentile

log = logging.getLogger(__name__)
STOP = "stop"
SERVE = "serve"
# How long a worker may take to import and answer its first command (models load later).
WORKER_START_SECONDS = 120.0
POLL_SECONDS = 0.2
MAX_RESTARTS = 5  # worker deaths within a minute before the server gives up


def merge_metrics(parts: Sequence[dict[str, Any]], *, pid: int) -> dict[str, Any]:
    """One endpoint's ``/metrics`` from its workers' (each with ``latencies_ms`` per
    variant): counters summed, error rate and percentiles recomputed over all requests."""
    if not parts:
        raise AdminError("no worker answered for metrics", status=503)
    variants: dict[str, dict[str, Any]] = {}
    latencies: dict[str, list[float]] = {}
    refused: Counter[str] = Counter()
    batches: Counter[str] = Counter()
    capture: Counter[str] = Counter()
    for part in parts:
        for name, variant in part["variants"].items():
            merged = variants.setdefault(name, {"weight": variant["weight"],
                                                "status": variant["status"], "invocations": 0,
                                                "errors_4xx": 0, "errors_5xx": 0})
            for key in ("invocations", "errors_4xx", "errors_5xx"):
                merged[key] += int(variant[key])
            latencies.setdefault(name, []).extend(variant.get("latencies_ms") or [])
        refused.update({k: int(v) for k, v in (part.get("refused") or {}).items()})
        batches.update({k: int(v) for k, v in (part.get("batches") or {}).items()})
        capture.update({k: int(v) for k, v in part.items()
                        if k.startswith("capture_") and isinstance(v, int)})
    for name, merged in variants.items():
        ordered = sorted(latencies[name])
        merged["error_rate"] = (merged["errors_5xx"] / merged["invocations"]
                                if merged["invocations"] else 0.0)
        merged["latency_ms"] = {"p50": percentile(ordered, 0.50),
                                "p99": percentile(ordered, 0.99), "samples": len(ordered)}
    return {"endpoint": parts[0]["endpoint"], "time": time.time(), "since": parts[0]["since"],
            "pid": pid, "workers": len(parts), "variants": variants, "refused": dict(refused),
            "batches": dict(batches), **dict(capture)}


# -- a worker (runs in its own process) -----------------------------------------------------------


def worker_main(index: int, address: tuple[str, int], commands: Connection,
                requests: Connection, config_file: str | None, endpoint_name: str, url: str,
                log_location: str) -> None:
    """Serve ``endpoint_name`` on ``address`` (a socket of its own, ``SO_REUSEPORT``) until
    told to stop (``commands``); admin requests and metrics go to the supervisor through
    ``requests``."""
    import uvicorn

    from airsage.config import load_settings
    from airsage.serving.app import build_app
    from airsage.serving.base import ServingConfig
    from airsage.serving.capture import CaptureWriter
    from airsage.serving.contract import INPUT_FIELDS_ENV
    from airsage.serving.endpoint import Endpoint, apply_admin, endpoints_dir
    from airsage.serving.server import BACKLOG, KEEP_ALIVE_SECONDS, bind
    from airsage.targets import Engines


    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s %(levelname)s w{index} %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops the workers
    settings = load_settings(config_file)
    config = ServingConfig.from_settings(settings)
    os.environ[INPUT_FIELDS_ENV] = ",".join(settings.dataset(config.dataset).columns)
    lake = Engines(settings).lake
    writer = (CaptureWriter(lake, endpoint_name, config.capture, file_tag=f"w{index}")
              if config.capture.enabled else None)
    endpoint = Endpoint(config, lake, name=endpoint_name, capture_writer=writer,
                        work_dir=endpoints_dir(settings) / endpoint_name / f"worker-{index}")
    endpoint.url = url
    asking = threading.Lock()

    def control(op: str, args: dict[str, Any]) -> Any:
        with asking:
            requests.send((op, args))
            reply = requests.recv()
        if reply[0] == "error":
            raise AdminError(reply[2], reply[1])
        return reply[1]

    app = build_app(endpoint, on_shutdown=lambda: control("shutdown", {}), control=control,
                    log_location=log_location)
    server = uvicorn.Server(uvicorn.Config(
        app, loop="uvloop", http="httptools", lifespan="off", access_log=False, log_config=None,
        log_level="warning", server_header=False, backlog=BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_SECONDS))

    go = threading.Event()  # "serve": the variants are loaded, take connections now

    def listen() -> None:
        while True:
            try:
                op, args = commands.recv()
            except (EOFError, OSError):  # the supervisor is gone
                server.should_exit = True
                go.set()
                return
            if op == STOP:
                server.should_exit = True
                go.set()
                commands.send(("ok", None))
                return
            if op == SERVE:
                go.set()
                commands.send(("ok", None))
                continue
            try:
                commands.send(("ok", apply_admin(endpoint, op, args)))
            except AdminError as exc:
                commands.send(("error", exc.status, str(exc)))
            except Exception as exc:
                log.exception("worker %d: admin %s failed", index, op)
                commands.send(("error", 500, f"worker {index}: {type(exc).__name__}: {exc}"))
            if op in ("add_variant", "restore"):
                gc.freeze()  # the loaded model lives as long as the process (server._changed)

    threading.Thread(target=listen, name=f"airsage-worker-{index}-commands", daemon=True).start()
    gc.collect()
    gc.freeze()
    try:
        go.wait()
        if not server.should_exit:
            # a socket of its own on the shared port, only now: the kernel sends connections
            # to every listening worker, so none may listen before it serves the variants
            server.run(sockets=[bind(*address, reuse_port=True)])
    finally:
        endpoint.close()


# -- the supervisor ------------------------------------------------------------------------------


class _Worker:
    def __init__(self, index: int, process: Any, commands: Connection, requests: Connection) -> None:
        self.index = index
        self.process = process
        self.commands = commands
        self.requests = requests


class Supervisor:
    """``workers`` server processes on ``sock``; the admin API's one writer (module doc)."""

    def __init__(self, sock: socket.socket, *, workers: int, endpoint: str, url: str,
                 config_file: str | None, log_location: str) -> None:
        if workers < 2:
            raise ValueError(f"a supervisor runs 2 or more workers, not {workers}")
        self.socket = sock
        self.endpoint = endpoint
        self.url = url
        self.stopping = threading.Event()
        self._changing = threading.Lock()
        self._on_change: list[Any] = []
        self._variants: list[dict[str, Any]] = []  # what every worker serves (last known)
        self._restarts: list[float] = []
        self._context = multiprocessing.get_context("spawn")
        self._worker_args = (sock.getsockname()[:2], config_file, endpoint, url, log_location)
        self.workers: list[_Worker] = [self._spawn(index) for index in range(workers)]

    def _spawn(self, index: int) -> _Worker:
        address, config_file, endpoint, url, log_location = self._worker_args
        commands, their_commands = self._context.Pipe()
        requests, their_requests = self._context.Pipe()
        process = self._context.Process(
            target=worker_main, name=f"airsage-serve-{endpoint}-w{index}",
            args=(index, address, their_commands, their_requests, config_file, endpoint, url,
                  log_location))
        process.start()
        their_commands.close()
        their_requests.close()
        return _Worker(index, process, commands, requests)

    @property
    def pids(self) -> list[int]:
        return [int(w.process.pid or 0) for w in self.workers]

    def on_change(self, callback: Any) -> None:
        """Call ``callback(variants)`` after every change (the server writes its state file)."""
        self._on_change.append(callback)

    # -- telling the workers ----------------------------------------------------------------
    def _broadcast(self, op: str, args: dict[str, Any], timeout: float = WORKER_START_SECONDS,
                   workers: list[_Worker] | None = None) -> list[tuple[Any, ...]]:
        """Send ``op`` to every worker (or ``workers``), then collect every answer (they work
        in parallel). A worker that died answers an error; the supervisor replaces it with
        one restored from the others (:meth:`wait`)."""
        targets = self.workers if workers is None else workers
        sent = []
        for worker in targets:
            try:
                worker.commands.send((op, args))
                sent.append(True)
            except OSError:
                sent.append(False)
        replies: list[tuple[Any, ...]] = []
        for worker, delivered in zip(targets, sent, strict=True):
            gone = ("error", 503, f"worker {worker.index} (pid {worker.process.pid}) is gone")
            if not delivered:
                replies.append(gone)
                continue
            try:
                answered = worker.commands.poll(timeout)
                if answered:
                    replies.append(worker.commands.recv())
                    continue
            except (EOFError, OSError):
                replies.append(gone)
                continue
            # its late answer would be taken for the next command's: stop the server
            self.stopping.set()
            raise AdminError(f"worker {worker.index} (pid {worker.process.pid}) did not answer "
                             f"{op} within {timeout:g} s; the server stops (the next deploy "
                             "starts it again)", status=503)
        return replies

    @staticmethod
    def _first_error(replies: list[tuple[Any, ...]]) -> AdminError | None:
        for reply in replies:
            if reply[0] == "error":
                return AdminError(reply[2], reply[1])
        return None

    def handle(self, op: str, args: dict[str, Any]) -> Any:
        """Run one admin operation on every worker (one at a time) and answer for all."""
        if op == "shutdown":
            self.stopping.set()
            return {"status": "ShuttingDown"}
        with self._changing:
            if op == "metrics":
                replies = self._broadcast("metrics", {**args, "raw": True})
                error = self._first_error(replies)
                if error is not None:
                    raise error
                return merge_metrics([r[1] for r in replies], pid=os.getpid())
            if op == "set_weights":
                error = self._first_error(self._broadcast("check_weights", args))
                if error is not None:
                    raise error
            replies = self._broadcast(op, args)
            answers = [r[1] for r in replies if r[0] == "ok"]
            if not answers:  # refused everywhere: nothing changed
                error = self._first_error(replies)
                raise error if error is not None else AdminError(f"{op}: no answer", 503)
            if len(answers) < len(replies):
                log.error("admin %s succeeded on %d of %d workers: %s", op, len(answers),
                          len(replies), self._first_error(replies))
            answer = answers[0]
            if op == "add_variant":  # a variant Failed anywhere is reported Failed
                answer = next((a for a in answers if a.get("status") != "InService"), answer)
            if op != "describe":
                described = [r[1] for r in self._broadcast("describe", {}) if r[0] == "ok"]
                self._variants = described[0]["variants"] if described else self._variants
                for callback in self._on_change:
                    callback(self._variants)
            if isinstance(answer, dict) and "pid" in answer:
                answer = {**answer, "pid": os.getpid(), "workers": self.pids}
            return answer

    def _serve_requests(self, worker: _Worker) -> None:
        """Answer one worker's admin requests until it goes away."""
        while True:
            try:
                op, args = worker.requests.recv()
            except (EOFError, OSError):
                return
            try:
                reply: tuple[Any, ...] = ("ok", self.handle(op, args))
            except AdminError as exc:
                reply = ("error", exc.status, str(exc))
            except Exception as exc:
                log.exception("admin %s failed", op)
                reply = ("error", 500, f"{type(exc).__name__}: {exc}")
            try:
                worker.requests.send(reply)
            except (BrokenPipeError, OSError):
                return

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, restore: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Wait for every worker to answer, reload ``restore`` in all; the variants."""
        for worker in self.workers:
            threading.Thread(target=self._serve_requests, args=(worker,), daemon=True,
                             name=f"airsage-supervisor-w{worker.index}").start()
        with self._changing:
            error = self._first_error(self._broadcast("describe", {}))
            if error is not None:
                raise error
            if restore:
                self._broadcast("restore", {"variants": restore})
            self._variants = self._broadcast("describe", {})[0][1]["variants"]
            error = self._first_error(self._broadcast(SERVE, {}))
            if error is not None:
                raise error
        return self._variants

    def replace(self, dead: _Worker) -> _Worker:
        """Start a worker in a dead one's place, serving what the others serve (their
        variants and weights, loaded before its first admin change can happen)."""
        with self._changing:
            fresh = self._spawn(dead.index)
            self.workers[self.workers.index(dead)] = fresh
            threading.Thread(target=self._serve_requests, args=(fresh,), daemon=True,
                             name=f"airsage-supervisor-w{fresh.index}").start()
            replies = self._broadcast("restore", {"variants": self._variants}, workers=[fresh])
            replies += self._broadcast(SERVE, {}, workers=[fresh])
            error = self._first_error(replies)
            if error is not None:
                raise error
            for callback in self._on_change:  # the state file names the new pid
                callback(self._variants)
        return fresh

    def wait(self) -> None:
        """Until SIGTERM/SIGINT or ``POST /admin/shutdown``; a worker that dies is replaced
        (:meth:`replace`), unless workers keep dying (``MAX_RESTARTS`` within a minute):
        then the server stops, and the next deploy starts it again."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        while not self.stopping.wait(POLL_SECONDS):
            for dead in [w for w in self.workers if not w.process.is_alive()]:
                now = time.monotonic()
                self._restarts = [t for t in self._restarts if now - t < 60.0] + [now]
                if len(self._restarts) > MAX_RESTARTS:
                    log.error("workers died %d times within a minute (last: worker %d, exit "
                              "code %s): stopping the server", len(self._restarts), dead.index,
                              dead.process.exitcode)
                    return
                log.error("worker %d (pid %s) exited with code %s: starting another with "
                          "the same variants", dead.index, dead.process.pid,
                          dead.process.exitcode)
                try:
                    fresh = self.replace(dead)
                except AdminError as exc:
                    log.error("the replacement of worker %d failed: %s; stopping the server",
                              dead.index, exc)
                    return
                log.info("worker %d replaced by pid %s", fresh.index, fresh.process.pid)

    def stop(self, timeout: float = 15.0) -> None:
        """Tell every worker to stop (they write their queued capture), then reap them."""
        for worker in self.workers:
            with contextlib.suppress(OSError):  # a worker already gone
                worker.commands.send((STOP, {}))
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.process.join(max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.warning("worker %d did not stop within %g s: terminating it",
                            worker.index, timeout)
                worker.process.terminate()
                worker.process.join(5)
        self.socket.close()

