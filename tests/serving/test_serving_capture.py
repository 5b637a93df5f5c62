"""Model Monitor data capture: format, sampling, and overload that drops instead of failing."""

from __future__ import annotations

import json
import threading

from airsage.lake.local import LocalLake
from airsage.serving.base import CaptureConfig, ServingConfig

JSON_HEADERS = {"Content-Type": "application/json"}


def _body(i: int) -> str:
    return json.dumps({"instances": [{"review_id": i, "review_text": f"lovely dress number {i}"}]})


def _serve(start_server, models, capture: CaptureConfig, lake=None):
    running = start_server(ServingConfig(port=0, capture=capture), lake=lake, endpoint="ep")
    running.server.add_variant("blue", models.v1)
    running.server.set_weights({"blue": 1})
    return running


def _records(lake: LocalLake) -> list[tuple[str, dict]]:
    out = []
    for key in lake.list("capture/ep/"):
        for line in lake.read_bytes(key).decode().splitlines():
            out.append((key, json.loads(line)))
    return out


def test_capture_lines_are_model_monitor_records(start_server, models, call):
    running = _serve(start_server, models, CaptureConfig(sampling_percent=100, flush_seconds=0.05))
    for i in range(5):
        assert call("POST", running.url + "/invocations", _body(i), JSON_HEADERS)[0] == 200
    call("POST", running.url + "/invocations", "bad,\"csv", {"Content-Type": "text/csv"})
    assert call("POST", running.url + "/invocations", "nice\n", {
        "Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": "abc-1"})[0] == 200
    running.server.stop()  # flushes the queue
    records = _records(running.lake)
    assert len(records) == 6  # failed requests are not captured
    for key, record in records:
        assert key.startswith("capture/ep/blue/") and key.endswith(".jsonl")
        parts = key.split("/")
        assert len(parts) == 8 and len(parts[3]) == 4 and len(parts[6]) == 2  # yyyy/mm/dd/hh
        assert record["eventVersion"] == "0"
        assert set(record["captureData"]) == {"endpointInput", "endpointOutput"}
        assert record["captureData"]["endpointInput"]["mode"] == "INPUT"
        assert record["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
        assert record["eventMetadata"]["eventId"]
        assert record["eventMetadata"]["inferenceTime"].endswith("Z")
    by_type = {r["captureData"]["endpointInput"]["observedContentType"]: r for _k, r in records}
    json_record = by_type["application/json"]["captureData"]
    assert json_record["endpointInput"]["encoding"] == "JSON"
    assert json.loads(json_record["endpointInput"]["data"])["instances"][0]["review_id"] in range(5)
    assert "predictions" in json.loads(json_record["endpointOutput"]["data"])
    csv_record = by_type["text/csv"]
    assert csv_record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv", "mode": "INPUT", "data": "nice\n", "encoding": "CSV"}
    assert csv_record["eventMetadata"]["inferenceId"] == "abc-1"


def test_sampling_percentage(start_server, models, call):
    none = _serve(start_server, models, CaptureConfig(sampling_percent=0, flush_seconds=0.05))
    half = _serve(start_server, models, CaptureConfig(sampling_percent=50, flush_seconds=0.05),
                  lake=LocalLake(root=none.lake.root + "-half"))
    for i in range(200):
        call("POST", none.url + "/invocations", _body(i), JSON_HEADERS)
        call("POST", half.url + "/invocations", _body(i), JSON_HEADERS)
    none.server.stop()
    half.server.stop()
    assert _records(none.lake) == []
    # 200 draws at 50 %: outside 40..160 has a probability below 1e-17.
    assert 40 < len(_records(half.lake)) < 160


class BlockingLake(LocalLake):
    """A lake whose writes wait for a signal, like a stalled disk or bucket."""

    def __init__(self, root) -> None:
        super().__init__(root=root)
        self.release = threading.Event()

    def write_bytes(self, key: str, data: bytes) -> str:
        self.release.wait(30)
        return super().write_bytes(key, data)


def test_capture_overload_drops_and_counts_never_fails(start_server, models, call, tmp_path):
    lake = BlockingLake(tmp_path / "slow-lake")
    running = _serve(start_server, models, CaptureConfig(sampling_percent=100, buffer_size=3,
                                                          flush_seconds=0.01), lake=lake)
    statuses = [call("POST", running.url + "/invocations", _body(i), JSON_HEADERS)[0]
                for i in range(40)]
    assert statuses == [200] * 40
    metrics = json.loads(call("GET", running.url + "/metrics")[2])
    assert metrics["capture_dropped"] > 0
    assert metrics["capture_sampled"] == 40
    lake.release.set()
    running.server.stop()
    written = len(_records(lake))
    assert written + metrics["capture_dropped"] == 40


def test_deployer_health_checks_are_answered_but_not_captured(start_server, models, call):
    """The monitor must judge client traffic only, not the deployer's smoke invocations."""
    running = _serve(start_server, models, CaptureConfig(sampling_percent=100, flush_seconds=0.05))
    health = {**JSON_HEADERS, "X-Airsage-Health-Check": "smoke"}
    status, _headers, body = call("POST", running.url + "/invocations", _body(1), health)
    assert status == 200 and json.loads(body)["predictions"]
    assert call("POST", running.url + "/invocations", _body(2), JSON_HEADERS)[0] == 200
    running.server.stop()
    records = _records(running.lake)
    assert [json.loads(r["captureData"]["endpointInput"]["data"])["instances"][0]["review_id"]
            for _k, r in records] == [2]
