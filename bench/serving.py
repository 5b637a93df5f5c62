"""Benchmark the model server open-loop at fixed request rates, against a constant server.

Three servers run as their own processes on 127.0.0.1, all on the same stack (Starlette under
uvicorn with uvloop + httptools):

- ``model+capture``: ``airsage serve`` with the default model family (tfidf_linear, trained on
  the 1k-row sample of the public data set when present, else a small synthetic corpus) and
  Model Monitor data capture at 100 %;
- ``model``: the same without capture;
- ``constant``: an app that answers every invocation with the same bytes (the stack's floor).

Each is driven at fixed rates by an open-loop generator in this process (asyncio + uvloop,
keep-alive connections opened as needed): request *i* is due at ``start + i / rate`` whether
or not earlier ones have answered, and its latency is measured from that scheduled time, so
a server that falls behind is charged for the queue it builds (no coordinated omission).
Requests are SageMaker Runtime API invocations (``POST /endpoints/{name}/invocations``, one
JSON instance each). The rates are interleaved (each rate: every server in turn), so the three
see the same machine; each rate is run ``--repeats`` times per server and the median p99
decides. A server's sweep stops once that median exceeds 50 ms (or a request failed); the
crossing is then narrowed by bisection. Every run is bounded: ``--seconds`` (at most
``MAX_REQUESTS_PER_POINT`` requests) and a deadline.

``--before-rev REV`` adds a fourth server: the model server of git revision REV (its
``plugins/`` and ``include/`` exported to a temporary directory), capture on, driven in the same
interleaved sweep, so a change is measured against its predecessor on the same machine at the
same moment.

Writes bench/results/serving.json (the previous http.server numbers are kept as
``before_closed_loop``; an ``optimisation`` note written by hand is kept across runs).

Usage: .venv/bin/python bench/serving.py [--seconds 4] [--rates 100,250,500,...] [--before-rev REV]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import math
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from airsage.config import load_settings  # noqa: E402
from airsage.training.model import TfidfLinearModel, pack_model, save_model  # noqa: E402

SAMPLE = Path("/work/shared/data/womens_clothing_reviews_1k.csv")
ENDPOINT = "bench-endpoint"
HOST = "127.0.0.1"  # the generator targets loopback only
RATES = (100, 250, 500, 750, 1000, 1500, 2000)
P99_LIMIT_MS = 50.0
MAX_REQUESTS_PER_POINT = 12000
MAX_CONNECTIONS = 256
REQUEST_TIMEOUT_S = 10.0
RESULTS = ROOT / "bench" / "results" / "serving.json"
BEFORE = "before+capture"


def corpus() -> tuple[list[str], list[int], str]:
    if SAMPLE.exists():
        with SAMPLE.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if (r.get("Review Text") or "").strip()]
        texts = [r["Review Text"] for r in rows]
        labels = [-1 if int(r["Rating"]) <= 2 else 0 if int(r["Rating"]) == 3 else 1 for r in rows]
        return texts, labels, str(SAMPLE)
    base = ["love this dress", "awful fabric", "it is okay", "great fit", "cheap and bad", "fine"]
    return base * 50, [1, -1, 0, 1, -1, 0] * 50, "synthetic"


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- servers ------------------------------------------------------------------------------
def constant_server() -> None:
    """``--constant-server``: the same stack answering fixed bytes; prints its URL."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answer = json.dumps({"predictions": [{"label": 1, "probabilities": {
        "-1": 0.1, "0": 0.2, "1": 0.7}}]}).encode()

    async def invocations(request: Request) -> Response:
        await request.body()
        return Response(answer, 200, {"content-type": "application/json",
                                      "x-amzn-invoked-production-variant": "AllTraffic"})

    app = Starlette(routes=[Route("/endpoints/{name}/invocations", invocations, methods=["POST"])])
    from airsage.serving.server import bind

    sock = bind(HOST, 0)
    print(f"constant server listening on http://{HOST}:{sock.getsockname()[1]} (pid {os.getpid()})",
          flush=True)
    uvicorn.Server(uvicorn.Config(app, loop="uvloop", http="httptools", lifespan="off",
                                  access_log=False, log_config=None, log_level="warning",
                                  server_header=False, backlog=1024)).run(sockets=[sock])


def start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # "... listening on http://127.0.0.1:PORT (pid N)"
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"server {command} did not start: {line!r}")
    url = line.split("listening on ")[1].split()[0]
    return process, int(url.rsplit(":", 1)[1])


def model_server(home: Path, artifact: Path, capture: bool,
                 env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    config = home / "airsage.yaml"
    raw = dict(load_settings(environ={}).raw)
    raw["home"] = str(home)
    raw["lake"] = {"root": str(home / "lake")}
    raw["serving"] = {**raw["serving"], "port": 0, "host": HOST,
                      "capture": {**raw["serving"]["capture"], "enabled": capture,
                                  "sampling_percent": 100}}
    config.write_text(json.dumps(raw))
    return start([sys.executable, "-m", "airsage.serving.server", "--config", str(config),
                  "--endpoint", ENDPOINT, "--no-restore", "--artifact", str(artifact)], env)


def export_tree(revision: str, destination: Path) -> Path:
    """``plugins/`` and ``include/`` of a git revision (the package and its inference entry
    point), so an older model server runs beside this one in the same run."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "plugins", "include"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    return destination


def cpu_pressure() -> str | None:
    """Linux PSI: the share of time some runnable task waited for a CPU (10 s, 60 s, 300 s)."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- open-loop generator ------------------------------------------------------------------
class InFlightCap(Exception):
    """The generator's own bound on concurrent requests was reached (counted as a failure)."""


class Pool:
    """Keep-alive connections to one server; a request takes an idle one or opens another."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def request(self, payload: bytes) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            if self.opened >= MAX_CONNECTIONS:
                raise InFlightCap(f"more than {MAX_CONNECTIONS} requests in flight")
            reader, writer = await asyncio.open_connection(HOST, self.port)
            self.opened += 1
        try:
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.opened -= 1
            raise
        self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _reader, writer in self.idle:
            writer.close()
        self.idle.clear()


async def drive(port: int, payloads: list[bytes], rate: float, seconds: float) -> dict[str, Any]:
    """Send ``rate`` requests/s for ``seconds``; latency from each request's scheduled time."""
    loop = asyncio.get_running_loop()
    pool = Pool(port)
    total = min(MAX_REQUESTS_PER_POINT, int(rate * seconds))
    latencies: list[float] = []
    lags: list[float] = []
    failures: dict[str, int] = {}

    clock = time.perf_counter  # uvloop's loop.time() only has millisecond resolution

    async def one(index: int, due: float) -> None:
        lags.append(clock() - due)
        try:
            status = await asyncio.wait_for(pool.request(payloads[index % len(payloads)]),
                                            REQUEST_TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, InFlightCap) as exc:
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            return
        if status != 200:
            failures[str(status)] = failures.get(str(status), 0) + 1
            return
        latencies.append((clock() - due) * 1000.0)

    tasks = []
    begin = clock() + 0.05
    sent = 0
    while sent < total:
        now = clock()
        while sent < total and begin + sent / rate <= now:
            tasks.append(loop.create_task(one(sent, begin + sent / rate)))
            sent += 1
        if sent < total:
            await asyncio.sleep(max(0.0, begin + sent / rate - clock()))
    deadline = seconds + 2 * REQUEST_TIMEOUT_S
    _done, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    elapsed = clock() - begin
    pool.close()
    latencies.sort()
    lags.sort()
    failed = sum(failures.values()) + len(pending)
    return {
        "rate": rate, "requests": total, "ok": len(latencies), "failed": failed,
        "failures": failures,
        "p50_ms": round(percentile(latencies, 0.50), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 2) if latencies else None,
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "achieved_per_second": round(len(latencies) / elapsed, 1),
        "generator_send_lag_p99_ms": round(percentile(lags, 0.99) * 1000.0, 2) if lags else None,
        "connections": pool.opened,
    }


def run_point(name: str, process: subprocess.Popen[str], port: int, payloads: list[bytes],
              rate: float, seconds: float) -> dict[str, Any]:
    cpu_before = cpu_seconds(process.pid)
    since = time.time()
    row = uvloop.run(drive(port, payloads, rate, seconds))
    row["server_cpu_ms_per_request"] = round(
        (cpu_seconds(process.pid) - cpu_before) * 1000.0 / max(1, row["requests"]), 3)
    if name.startswith("model"):  # the server's own view: input_fn .. output_fn, batch wait included
        variant = server_metrics(port, since)["variants"]["AllTraffic"]
        row["server_side_p99_ms"] = variant["latency_ms"]["p99"] and round(
            variant["latency_ms"]["p99"], 2)
    p99 = row["p99_ms"]
    row["over_limit"] = p99 is None or p99 > P99_LIMIT_MS or row["failed"] > 0
    print(json.dumps({"server": name, **row}), flush=True)
    time.sleep(0.5)  # let the server drain before the next point
    return row


def summarize(rate: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One rate of one server: medians over its runs, and every run as measured."""
    p99s = sorted(math.inf if r["p99_ms"] is None else r["p99_ms"] for r in runs)
    p50s = sorted(math.inf if r["p50_ms"] is None else r["p50_ms"] for r in runs)
    failed = sum(r["failed"] for r in runs)
    median_p99 = p99s[len(p99s) // 2]
    return {
        "rate": rate,
        "p50_ms_median": p50s[len(p50s) // 2],
        "p99_ms_median": median_p99,
        "p99_ms_runs": [r["p99_ms"] for r in runs],
        "failed": failed,
        "server_cpu_ms_per_request": sorted(r["server_cpu_ms_per_request"] for r in runs)[
            len(runs) // 2],
        "server_side_p99_ms_runs": [r.get("server_side_p99_ms") for r in runs],
        "over_limit": median_p99 > P99_LIMIT_MS or failed > 0,
        "runs": runs,
    }


def crossing(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest rate whose median p99 is <= 50 ms (no failure), and the lowest above."""
    ok = [r["rate"] for r in rows if not r["over_limit"]]
    over = [r["rate"] for r in rows if r["over_limit"]]
    return {"highest_rate_p99_under_50ms": max(ok) if ok else None,
            "lowest_rate_over_limit": min(over) if over else None}


def server_metrics(port: int, since: float | None = None) -> dict[str, Any]:
    """``GET /metrics`` of a model server (``?since=`` restricts latencies to a run)."""
    import urllib.request

    query = f"?since={since}" if since is not None else ""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics{query}", timeout=10) as response:
        return json.loads(response.read())


def batches(port: int) -> dict[str, Any]:
    """The model server's own count of shared predict_fn calls."""
    metrics = server_metrics(port)
    invocations = sum(v["invocations"] for v in metrics["variants"].values())
    return {**metrics["batches"], "invocations": invocations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each run")
    parser.add_argument("--rates", default=",".join(str(r) for r in RATES),
                        help="comma-separated requests/s")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per rate and server (the median p99 decides)")
    parser.add_argument("--bisect", type=int, default=2,
                        help="bisection steps narrowing each server's 50 ms crossing")
    parser.add_argument("--before-rev", help="also run the model server of this git revision "
                        "(its plugins/ and include/; capture on), e.g. the one before a change")
    parser.add_argument("--constant-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.constant_server:
        constant_server()
        return
    rates = [float(r) for r in args.rates.split(",")]
    texts, labels, source = corpus()
    hyperparameters = dict(load_settings(environ={}).section("training")["hyperparameters"])
    runtime_path, container_path = f"/endpoints/{ENDPOINT}/invocations", "/invocations"
    payloads: dict[str, list[bytes]] = {runtime_path: [], container_path: []}
    for i, text in enumerate(texts[:200]):
        body = json.dumps({"instances": [{"review_id": i, "review_text": text}]}).encode()
        for path, requests in payloads.items():
            requests.append(
                f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                f"Content-Type: application/json\r\nAccept: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRSAGE")}
    env["PYTHONPATH"] = str(ROOT / "plugins")
    rows: dict[str, list[dict[str, Any]]] = {"constant": [], "model": [], "model+capture": []}
    if args.before_rev:
        rows[BEFORE] = []
    paths = {name: runtime_path for name in rows}
    captured = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = TfidfLinearModel.fit(texts, labels, hyperparameters)
        artifact = pack_model(save_model(model, root / "model"), root / "model.tar.gz")
        servers: dict[str, tuple[subprocess.Popen[str], int]] = {}
        try:
            servers["constant"] = start([sys.executable, __file__, "--constant-server"], env)
            for name, capture in (("model", False), ("model+capture", True)):
                home = root / f"home-{name.replace('+', '-')}"
                home.mkdir()
                servers[name] = model_server(home, artifact, capture, env)
            if args.before_rev:
                tree = export_tree(args.before_rev, root / "before-tree")
                if not (tree / "plugins" / "airsage" / "serving" / "runtime_api.py").exists():
                    paths[BEFORE] = container_path  # the http.server one: container path only
                home = root / "home-before"
                home.mkdir()
                servers[BEFORE] = model_server(home, artifact, True,
                                               {**env, "PYTHONPATH": str(tree / "plugins")})
            for name, (_process, port) in servers.items():  # warm-up, not recorded
                uvloop.run(drive(port, payloads[paths[name]], 200, 1.0))
            load_before = os.getloadavg()
            pressure_before = cpu_pressure()

            def sweep(rate: float, names: list[str]) -> None:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
                for _ in range(args.repeats):  # interleaved: the servers share the machine's moods
                    for name in names:
                        process, port = servers[name]
                        runs[name].append(run_point(name, process, port, payloads[paths[name]], rate,
                                                    args.seconds))
                for name in names:
                    rows[name].append(summarize(rate, runs[name]))

            for rate in rates:
                active = [name for name in servers if not (rows[name] and rows[name][-1]["over_limit"])]
                if not active:
                    break  # every server is past its crossing: higher rates only queue more
                sweep(rate, active)
            for _ in range(args.bisect):
                for name in servers:
                    bounds = crossing(rows[name])
                    low, high = (bounds["highest_rate_p99_under_50ms"],
                                 bounds["lowest_rate_over_limit"])
                    if low is not None and high is not None and abs(high - low) > 50:
                        sweep(float(round((low + high) / 2)), [name])
            batching = {name: batches(port) for name, (_process, port) in servers.items()
                        if name.startswith("model")}
        finally:
            for process, _port in servers.values():
                process.terminate()
            for process, _port in servers.values():
                process.wait(30)
        captured = sum(len(p.read_text().splitlines())
                       for p in (root / "home-model-capture" / "lake").rglob("*.jsonl"))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    before = previous.get("before_closed_loop") or {
        "server": "http.server ThreadingHTTPServer (hand-written handler)",
        "method": previous.get("request", "") + "; closed loop, latency per request",
        "results": previous.get("results", []),
    }
    output = {
        "benchmark": "serving",
        "server": "Starlette under uvicorn (uvloop, httptools), one process",
        "servers": {
            "constant": "fixed bytes for every invocation, same stack (the floor)",
            "model": "airsage serve, capture off",
            "model+capture": "airsage serve, Model Monitor capture of 100 % of requests",
            **({BEFORE: f"the model server of git revision {args.before_rev} (its plugins/ and "
                        "include/, capture on), in the same run"}
               if args.before_rev else {}),
        },
        "method": ("open loop at fixed rates; latency from each request's scheduled send time; "
                   f"{args.seconds:g} s per run (at most {MAX_REQUESTS_PER_POINT} requests), "
                   f"{args.repeats} runs per rate and server, interleaved; medians reported; "
                   "SageMaker Runtime API invocations, one JSON instance each, keep-alive "
                   "connections; generator (asyncio + uvloop) and servers are separate processes "
                   "on 127.0.0.1"),
        "model": {"family": "tfidf_linear", "hyperparameters": hyperparameters,
                  "trained_on": source, "rows": len(texts)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_before": load_before, "load_average_at_end": os.getloadavg(),
                    "cpu_pressure_before": pressure_before, "cpu_pressure_at_end": cpu_pressure(),
                    "note": ("shared 2-core machine: other agents' builds and tests ran at the "
                             "same time, and the load generator shares the two cores with the "
                             "server, so these are upper bounds on latency")},
        "results": {name: sorted(points, key=lambda r: r["rate"]) for name, points in rows.items()},
        "p99_crosses_50ms": {name: crossing(points) for name, points in rows.items()},
        "captured_records": captured,
        "batching": batching,
        "before_closed_loop": before,
    }
    if "optimisation" in previous:  # the hand-written account of a change, kept across runs
        output["optimisation"] = previous["optimisation"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(output, indent=2))
    print(json.dumps(output["p99_crosses_50ms"]))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
