"""``serving.workers``: a supervisor and N server processes on one port, kept alike.

Real processes: the local deployer starts ``airsage serve`` detached with ``workers: 2``;
the tests send traffic through the shared port and read what each worker did.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from airsage.errors import ConfigurationError
from airsage.lake.local import LocalLake
from airsage.serving.endpoint import AdminError, state_file_for
from airsage.serving.workers import merge_metrics

TEXT = json.dumps({"instances": [{"review_text": "lovely soft dress"}]})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not serving
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_two_workers_serve_the_same_variants_and_swap_blue_green_under_load(
        deployer_factory, start_load, models, version, call) -> None:
    deployer = deployer_factory(workers=2, traffic_shift="canary", canary_percent=50,
                                bake_seconds=0.5)
    lake = LocalLake(deployer.settings)
    first = deployer.deploy(lake, version("1", models.v1))
    state = json.loads(state_file_for(deployer.settings, first.endpoint).read_text())
    supervisor, workers = state["pid"], state["workers"]
    assert len(workers) == 2 and supervisor not in workers
    assert all(_alive(pid) for pid in [supervisor, *workers])
    described = call("GET", first.url + "/admin/endpoint")[2]
    assert json.loads(described)["pid"] == supervisor  # whichever worker answered

    load = start_load(first.url, until_variant="reviews-sentiment-v2")
    second = deployer.deploy(lake, version("2", models.v2))
    result = json.loads(load.communicate(timeout=120)[0])
    assert second.action == "updated"
    assert set(result["statuses"]) == {"200"}, result  # no worker answered without the variant
    assert result["variants"].get("reviews-sentiment-v2", 0) >= 20

    # every worker has the same variants and weights: 40 requests, none to the old variant
    for _ in range(40):
        status, headers, _body = call("POST", first.url + "/invocations", TEXT,
                                      {"Content-Type": "application/json"})
        assert (status, headers["X-Amzn-Invoked-Production-Variant"]) == \
            (200, "reviews-sentiment-v2")
    metrics = json.loads(call("GET", first.url + "/metrics")[2])
    assert metrics["workers"] == 2 and metrics["pid"] == supervisor
    assert list(metrics["variants"]) == ["reviews-sentiment-v2"]
    served = metrics["variants"]["reviews-sentiment-v2"]
    assert served["invocations"] >= 40 and served["latency_ms"]["samples"] == served["invocations"]

    assert deployer.stop() is True
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in [supervisor, *workers]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in [supervisor, *workers])
    # both workers captured, each to files of its own
    captured = sorted(p.name for p in Path(lake.root, "capture", first.endpoint).rglob("*.jsonl"))
    tags = {name.split("-")[3] for name in captured}
    assert tags == {"w0", "w1"}, captured
    state = json.loads(state_file_for(deployer.settings, first.endpoint).read_text())
    assert state["pid"] is None and state["workers"] == []
    assert [v["variant_name"] for v in state["variants"]] == ["reviews-sentiment-v2"]


def test_a_weight_refused_by_the_workers_changes_none_of_them(
        deployer_factory, models, version, call) -> None:
    deployer = deployer_factory(workers=2)
    first = deployer.deploy(LocalLake(deployer.settings), version("1", models.v1))
    status, _h, body = call("PUT", first.url + "/admin/weights",
                            json.dumps({"weights": {"reviews-sentiment-v1": 0.0, "nope": 1.0}}),
                            {"Content-Type": "application/json"})
    assert status == 404 and b"no variant 'nope'" in body
    for _ in range(10):  # every worker still serves v1 at full weight
        assert call("GET", first.url + "/ping")[0] == 200


def test_a_worker_that_dies_is_replaced_by_one_serving_the_same_variants(
        deployer_factory, models, version, call) -> None:
    deployer = deployer_factory(workers=2)
    first = deployer.deploy(LocalLake(deployer.settings), version("1", models.v1))
    state_file = state_file_for(deployer.settings, first.endpoint)
    killed, survivor = json.loads(state_file.read_text())["workers"]
    os.kill(killed, signal.SIGKILL)
    while _alive(killed):
        time.sleep(0.01)
    # Connections that reach a worker as it dies are reset (Linux does not hand a closing
    # SO_REUSEPORT listener's queue to the others: net.ipv4.tcp_migrate_req is 0 here, the
    # default); measured, a request sent ~20 ms after the exit was reset once in 4 runs, so
    # the test starts asserting a moment later. The survivor answers everything after that.
    time.sleep(0.5)
    answers: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the survivor answers while the replacement loads
        answers.append(call("POST", first.url + "/invocations", TEXT,
                            {"Content-Type": "application/json"})[0])
        workers = json.loads(state_file.read_text())["workers"]
        if killed not in workers:
            break
        time.sleep(0.05)
    assert survivor in workers and killed not in workers and len(workers) == 2, workers
    assert set(answers) == {200}, answers
    # describe answers with worker 0's endpoint: the replacement, loaded like the survivor
    described = json.loads(call("GET", first.url + "/admin/endpoint")[2])
    assert [(v["variant_name"], v["weight"], v["status"]) for v in described["variants"]] == \
        [("reviews-sentiment-v1", 100.0, "InService")]
    assert described["workers"] == workers
    for _ in range(20):
        assert call("POST", first.url + "/invocations", TEXT,
                    {"Content-Type": "application/json"})[0] == 200


def test_merged_metrics_sum_counts_and_recompute_percentiles() -> None:
    def part(latencies: list[float], errors: int) -> dict[str, Any]:
        return {"endpoint": "e", "since": None, "refused": {"413": 1},
                "batches": {"batches": 2, "batched_requests": 5}, "capture_written": 3,
                "variants": {"v": {"weight": 1.0, "status": "InService",
                                   "invocations": len(latencies), "errors_4xx": 0,
                                   "errors_5xx": errors, "latencies_ms": sorted(latencies)}}}

    merged = merge_metrics([part([1.0] * 99, 0), part([100.0], 1)], pid=7)
    variant = merged["variants"]["v"]
    assert (variant["invocations"], variant["errors_5xx"]) == (100, 1)
    assert variant["error_rate"] == pytest.approx(0.01)
    assert variant["latency_ms"] == {"p50": 1.0, "p99": 1.0, "samples": 100}
    merged = merge_metrics([part([1.0] * 98, 0), part([100.0, 100.0], 0)], pid=7)
    assert merged["variants"]["v"]["latency_ms"]["p99"] == 100.0  # not either worker's alone
    assert (merged["refused"], merged["capture_written"], merged["workers"]) == ({"413": 2}, 6, 2)
    with pytest.raises(AdminError, match="no worker answered"):
        merge_metrics([], pid=7)


def test_workers_out_of_range_is_refused(settings_factory) -> None:
    from airsage.serving.base import ServingConfig

    with pytest.raises(ConfigurationError, match=r"workers 65 must be a whole number in \[1, 64\]"):
        ServingConfig.from_settings(settings_factory(workers=65))
