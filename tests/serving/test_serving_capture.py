"""Model Monitor data capture: format, sampling, and overload that drops instead of failing."""

from __future__ import annotations

import json
import threading
import time

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


def _wait_written(writer, n: int, timeout: float = 10.0) -> int:
    """How many records ``writer`` has written, once it reaches ``n`` or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while writer.snapshot()["capture_written"] < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return writer.snapshot()["capture_written"]


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


def test_writer_builds_records_off_the_request_path_in_the_same_format(tmp_path):
    """The request path hands the writer a builder; the line written is the record built by
    ``capture_record``, serialised as before, one JSON line per record."""
    import datetime as dt_
    import functools

    from airsage.serving.capture import CaptureWriter, capture_record

    lake = LocalLake(root=tmp_path / "lake")
    writer = CaptureWriter(lake, "ep", CaptureConfig(flush_seconds=0.05)).start()
    when = dt_.datetime(2026, 11, 26, 17, 5, 9, 123456, tzinfo=dt_.UTC)
    arguments = dict(request_body=b'{"instances": [{"review_text": "nice"}]}',
                     request_content_type="application/json", response_body=b"1\n",
                     response_content_type="text/csv", inference_time=when,
                     event_id="e-1", inference_id="i-1")
    built = []

    def build() -> dict:
        built.append(threading.current_thread().name)
        return capture_record(**arguments)

    def broken() -> dict:
        raise ValueError("not serialisable")

    assert writer.enqueue("blue", when, functools.partial(build))
    assert writer.enqueue("blue", when, broken)
    assert writer.enqueue("blue", when, capture_record(**arguments))  # a ready record too
    writer.close()
    keys = list(lake.list("capture/ep/"))
    assert len(keys) == 1 and keys[0].startswith("capture/ep/blue/2026/11/26/17/05-09-123-")
    expected = json.dumps(capture_record(**arguments), separators=(",", ":")) + "\n"
    assert lake.read_bytes(keys[0]).decode() == expected * 2
    assert built == ["capture-ep"]  # built on the writer thread, not the caller's
    assert writer.snapshot()["capture_written"] == 2
    assert writer.snapshot()["capture_write_errors"] == 1


def test_writer_wakes_for_a_full_file_before_its_flush_interval(tmp_path):
    """``max_records_per_file`` records waiting are written at once, not after
    ``flush_seconds``; each file holds at most that many."""
    import datetime as dt_

    from airsage.serving.capture import CaptureWriter

    lake = LocalLake(root=tmp_path / "lake")
    writer = CaptureWriter(lake, "ep", CaptureConfig(flush_seconds=60,
                                                     max_records_per_file=5)).start()
    when = dt_.datetime.now(dt_.UTC)
    for i in range(12):
        writer.enqueue("blue", when, {"n": i})
    assert _wait_written(writer, 10) >= 10  # long before the 60 s interval
    writer.close()
    lines = [json.loads(line)["n"] for key in sorted(lake.list("capture/ep/"))
             for line in lake.read_bytes(key).decode().splitlines()]
    assert sorted(lines) == list(range(12))
    assert all(len(lake.read_bytes(key).decode().splitlines()) <= 5
               for key in lake.list("capture/ep/"))


def test_flush_seconds_zero_writes_each_record_at_once(tmp_path):
    """``flush_seconds: 0`` (write at once) and ``max_records_per_file: 0`` neither spin nor
    stall the writer: every record reaches the lake promptly, one file each at most."""
    import datetime as dt_

    from airsage.serving.capture import CaptureWriter

    lake = LocalLake(root=tmp_path / "lake")
    writer = CaptureWriter(lake, "ep", CaptureConfig(flush_seconds=0,
                                                     max_records_per_file=0)).start()
    when = dt_.datetime.now(dt_.UTC)
    for i in range(3):
        writer.enqueue("blue", when, {"n": i})
    assert _wait_written(writer, 3) == 3
    writer.close()
    assert [len(lake.read_bytes(key).splitlines()) for key in lake.list("capture/ep/")] == [1] * 3
