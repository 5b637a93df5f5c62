"""Benchmark ``serving.workers``: the model server's throughput with 1 and with 2 processes.

``airsage serve --workers N`` (capture on, 100 %) serves the default model family trained as
in ``bench/serving.py`` (the 1k-row sample when present). A closed-loop generator in this
process keeps ``--connections`` keep-alive connections busy for ``--seconds`` (each sends its
next request when the previous answered) and counts answered requests: the throughput a
server sustains, with latency percentiles of those requests. Runs alternate between the two
servers (``--repeats`` each) so both see the same machine; medians are reported.

On the 2-core machine the generator needs CPU too, so 2 workers + the generator compete for
2 cores; the CPU seconds each side used are reported beside the throughput, with the
machine's CPU pressure (other agents share it). This measures scale-out on one machine, not
autoscaling (the local target has none).

Writes bench/results/serving_workers.json.

Usage: .venv/bin/python bench/serving_workers.py [--seconds 5] [--connections 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "plugins"))

from serving import (  # noqa: E402  (bench/serving.py: its corpus, server start and pool)
    ENDPOINT,
    HOST,
    Pool,
    corpus,
    cpu_pressure,
    cpu_seconds,
    percentile,
    start,
)

from airsage.config import load_settings  # noqa: E402
from airsage.training.model import TfidfLinearModel, pack_model, save_model  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "serving_workers.json"
MAX_SECONDS = 30.0


def server(home: Path, artifact: Path, workers: int, env: dict[str, str]) -> tuple[Any, int]:
    """``airsage serve --workers N`` on a free port, capture at 100 %."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "airsage.yaml"
    raw = dict(load_settings(environ={}).raw)
    raw["home"] = str(home)
    raw["lake"] = {"root": str(home / "lake")}
    raw["serving"] = {**raw["serving"], "port": 0, "host": HOST, "workers": workers,
                      "capture": {**raw["serving"]["capture"], "enabled": True,
                                  "sampling_percent": 100}}
    config.write_text(json.dumps(raw))
    return start([sys.executable, "-m", "airsage.serving.server", "--config", str(config),
                  "--endpoint", ENDPOINT, "--no-restore", "--artifact", str(artifact)], env)


def server_cpu(pid: int) -> float:
    """CPU seconds of a server process and its children (the workers of a supervisor)."""
    total = cpu_seconds(pid)
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            try:
                fields = (child / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                total += cpu_seconds(int(child.name))
    return total


async def closed_loop(port: int, payloads: list[bytes], connections: int,
                      seconds: float) -> dict[str, Any]:
    """``connections`` clients, each sending its next request when the last answered."""
    pool = Pool(port)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + min(seconds, MAX_SECONDS)

    async def client(offset: int) -> None:
        nonlocal failures
        i = offset
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                status = await asyncio.wait_for(pool.request(payloads[i % len(payloads)]), 10)
            except Exception:
                failures += 1
                continue
            if status != 200:
                failures += 1
            latencies.append((time.perf_counter() - sent) * 1000.0)
            i += connections

    began = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(connections)))
    elapsed = time.perf_counter() - began
    pool.close()
    ordered = sorted(latencies)
    return {"requests": len(latencies), "failures": failures, "seconds": round(elapsed, 3),
            "throughput_rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(percentile(ordered, 0.5), 2) if ordered else None,
            "p99_ms": round(percentile(ordered, 0.99), 2) if ordered else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent clients")
    parser.add_argument("--repeats", type=int, default=3, help="runs per server")
    args = parser.parse_args()
    texts, labels, source = corpus()
    hyperparameters = dict(load_settings(environ={}).section("training")["hyperparameters"])
    path = f"/endpoints/{ENDPOINT}/invocations"
    payloads = []
    for i, text in enumerate(texts[:200]):
        body = json.dumps({"instances": [{"review_id": i, "review_text": text}]}).encode()
        payloads.append(f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json"
                        f"\r\nAccept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                        .encode() + body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRSAGE")}
    env["PYTHONPATH"] = str(ROOT / "plugins")
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    pressure_before = cpu_pressure()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = TfidfLinearModel.fit(texts, labels, hyperparameters)
        artifact = pack_model(save_model(model, root / "model"), root / "model.tar.gz")
        servers = {n: server(root / f"workers-{n}", artifact, n, env) for n in runs}
        try:
            for _process, port in servers.values():  # warm up: load, first batches
                uvloop.run(closed_loop(port, payloads, args.connections, 1.0))
            for repeat in range(args.repeats):
                for n, (process, port) in servers.items():
                    cpu_server = server_cpu(process.pid)
                    cpu_self = resource.getrusage(resource.RUSAGE_SELF)
                    run = uvloop.run(closed_loop(port, payloads, args.connections, args.seconds))
                    after = resource.getrusage(resource.RUSAGE_SELF)
                    run["server_cpu_s"] = round(server_cpu(process.pid) - cpu_server, 2)
                    run["generator_cpu_s"] = round(
                        after.ru_utime + after.ru_stime - cpu_self.ru_utime - cpu_self.ru_stime, 2)
                    run["repeat"] = repeat
                    runs[n].append(run)
                    print(f"workers={n} repeat={repeat}: {run}", flush=True)
        finally:
            for process, _port in servers.values():
                process.terminate()
                process.wait(30)
        # which worker answered: each captured its requests (100 %) to files tagged w<i>
        shares: dict[str, int] = {}
        for path in (root / "workers-2" / "lake" / "capture").rglob("*.jsonl"):
            tag = path.name.split("-")[3]
            shares[tag] = shares.get(tag, 0) + sum(1 for _ in path.open())
    summary = {str(n): {"throughput_rps": statistics.median(r["throughput_rps"] for r in rs),
                        "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                        "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                        "server_cpu_s": statistics.median(r["server_cpu_s"] for r in rs),
                        "generator_cpu_s": statistics.median(r["generator_cpu_s"] for r in rs),
                        "server_cpu_ms_per_request": round(statistics.median(
                            1000.0 * r["server_cpu_s"] / max(1, r["requests"]) for r in rs), 3),
                        "failures": sum(r["failures"] for r in rs)}
               for n, rs in runs.items()}
    speedup = summary["2"]["throughput_rps"] / summary["1"]["throughput_rps"]
    result = {
        "benchmark": "serving_workers",
        "server": "airsage serve --workers N (supervisor + N uvicorn processes on one socket), "
                  "capture 100 %",
        "method": f"closed loop, {args.connections} keep-alive connections, {args.seconds:g} s "
                  f"per run, {args.repeats} runs per server interleaved, medians; SageMaker "
                  "Runtime API invocations, one JSON instance each; generator in the "
                  "benchmark process (it shares the cores)",
        "model": f"tfidf_linear trained on {source}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "cpu_pressure_before": pressure_before, "cpu_pressure_after": cpu_pressure()},
        "summary": summary,
        "speedup_2_over_1": round(speedup, 2),
        "requests_per_worker_of_2": dict(sorted(shares.items())),
        "runs": {str(n): rs for n, rs in runs.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"summary": summary, "speedup_2_over_1": round(speedup, 2),
                      "requests_per_worker_of_2": result["requests_per_worker_of_2"]}, indent=2))


if __name__ == "__main__":
    main()
