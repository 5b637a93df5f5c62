"""Benchmark the local model server: latency p50/p99 and requests/s at concurrency 1, 4, 16.

The default model family (tfidf_linear, default hyperparameters from the config) is trained
on the 1k-row sample of the public data set when present (else on a small synthetic corpus),
served by ``airsage serve`` in its own process, and driven by keep-alive HTTP clients in
threads of this process, with data capture on (100 %) and off. Writes
bench/results/serving.json.

Usage: .venv/bin/python bench/serving.py [--requests 400]
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from airsage.config import load_settings  # noqa: E402
from airsage.training.model import TfidfLinearModel, pack_model, save_model  # noqa: E402

SAMPLE = Path("/work/shared/data/womens_clothing_reviews_1k.csv")


def corpus() -> tuple[list[str], list[int], str]:
    if SAMPLE.exists():
        with SAMPLE.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if (r.get("Review Text") or "").strip()]
        texts = [r["Review Text"] for r in rows]
        labels = [-1 if int(r["Rating"]) <= 2 else 0 if int(r["Rating"]) == 3 else 1 for r in rows]
        return texts, labels, str(SAMPLE)
    base = ["love this dress", "awful fabric", "it is okay", "great fit", "cheap and bad", "fine"]
    return base * 50, [1, -1, 0, 1, -1, 0] * 50, "synthetic"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def drive(host: str, port: int, bodies: list[bytes], concurrency: int, total: int) -> dict:
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    per_worker = total // concurrency

    def worker(offset: int) -> None:
        nonlocal failures
        connection = http.client.HTTPConnection(host, port, timeout=60)
        mine = []
        bad = 0
        for i in range(per_worker):
            body = bodies[(offset + i) % len(bodies)]
            started = time.perf_counter()
            connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000.0)
            bad += response.status != 200
        connection.close()
        with lock:
            latencies.extend(mine)
            failures += bad

    threads = [threading.Thread(target=worker, args=(k * 7919,)) for k in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "requests": len(latencies), "failed": failures,
            "p50_ms": round(percentile(latencies, 0.5), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
            "requests_per_second": round(len(latencies) / elapsed, 1)}


def serve(home: Path, artifact: Path, capture: bool) -> tuple[subprocess.Popen, str, int]:
    config = home / "airsage.yaml"
    raw = dict(load_settings(environ={}).raw)
    raw["home"] = str(home)
    raw["lake"] = {"root": str(home / "lake")}
    raw["serving"] = {**raw["serving"], "port": 0,
                      "capture": {**raw["serving"]["capture"], "enabled": capture,
                                  "sampling_percent": 100}}
    config.write_text(json.dumps(raw))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRSAGE")}
    env["PYTHONPATH"] = str(ROOT / "plugins")
    process = subprocess.Popen(
        [sys.executable, "-m", "airsage.serving.server", "--config", str(config), "--no-restore",
         "--artifact", str(artifact)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    line = process.stdout.readline()  # "... listening on http://127.0.0.1:PORT (pid N)"
    url = line.split("listening on ")[1].split()[0]
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return process, host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    args = parser.parse_args()
    texts, labels, source = corpus()
    hyperparameters = dict(load_settings(environ={}).section("training")["hyperparameters"])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = TfidfLinearModel.fit(texts, labels, hyperparameters)
        artifact = pack_model(save_model(model, root / "model"), root / "model.tar.gz")
        bodies = [json.dumps({"instances": [{"review_id": i, "review_text": t}]}).encode()
                  for i, t in enumerate(texts[:200])]
        for capture in (False, True):
            home = root / f"home-capture-{capture}"
            home.mkdir()
            process, host, port = serve(home, artifact, capture)
            try:
                drive(host, port, bodies, 4, 80)  # warm-up
                for concurrency in (1, 4, 16):
                    row = drive(host, port, bodies, concurrency, args.requests)
                    row["capture"] = capture
                    results.append(row)
                    print(json.dumps(row), flush=True)
            finally:
                process.terminate()
                process.wait(30)
            if capture:
                captured = sum(len(p.read_text().splitlines())
                               for p in (home / "lake").rglob("*.jsonl"))
                results.append({"capture": True, "captured_records": captured})
    output = {
        "benchmark": "serving",
        "model": {"family": "tfidf_linear", "hyperparameters": hyperparameters,
                  "trained_on": source, "rows": len(texts)},
        "request": "application/json, one instance per request, keep-alive connections",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "shared 2-core machine; other work was running"},
        "results": results,
    }
    out = ROOT / "bench" / "results" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(output, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
