"""The model server over real HTTP on 127.0.0.1: ping, routing, bad inputs, metrics, admin."""

from __future__ import annotations

import json
import socket

import pytest

from airsage.serving.base import INVOKED_VARIANT_HEADER, TARGET_VARIANT_HEADER, ServingConfig

JSON_HEADERS = {"Content-Type": "application/json"}
GOOD = json.dumps({"instances": [{"review_id": 7, "review_text": "love this dress"}]})


@pytest.fixture
def live(start_server, models):
    running = start_server(ServingConfig(port=0, max_body_bytes=2048))
    added = running.server.add_variant("blue", models.v1, model_name="m", model_version="1")
    assert added["status"] == "InService"
    running.server.set_weights({"blue": 1})
    return running


def test_ping_needs_a_weighted_variant_in_service(start_server, models, call):
    running = start_server()
    assert call("GET", running.url + "/ping")[0] == 503
    running.server.add_variant("blue", models.v1)
    assert call("GET", running.url + "/ping")[0] == 503  # loaded, but no traffic weight yet
    running.server.set_weights({"blue": 1})
    assert call("GET", running.url + "/ping")[0] == 200


@pytest.mark.parametrize(
    ("content_type", "body", "accept", "check"),
    [
        ("application/json", GOOD, None,
         lambda b: json.loads(b)["predictions"][0]["label"] in (-1, 0, 1)),
        ("application/jsonlines", '{"review_text": "great"}\n{"review_text": "bad"}\n', None,
         lambda b: len(b.decode().splitlines()) == 2),
        ("text/csv", 'great\n"bad, awful"\n', None,
         lambda b: all(int(x) in (-1, 0, 1) for x in b.decode().splitlines())),
        ("text/csv", "great\n", "application/json",
         lambda b: len(json.loads(b)["predictions"]) == 1),
    ],
)
def test_each_content_type(live, call, content_type, body, accept, check):
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    status, response_headers, payload = call("POST", live.url + "/invocations", body, headers)
    assert status == 200, payload
    assert response_headers[INVOKED_VARIANT_HEADER] == "blue"
    assert response_headers["Content-Type"] == (accept or content_type)
    assert check(payload)


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        ('{"instances": [', JSON_HEADERS, 400, "not valid JSON"),
        ("", JSON_HEADERS, 400, "empty"),
        ('"open quote', {"Content-Type": "text/csv"}, 400, "not valid CSV"),
        ("hello", {"Content-Type": "text/plain"}, 415, "unsupported content type"),
        ('{"instances": [{"review_text": "x", "shoe_size": 9}]}', JSON_HEADERS, 400, "shoe_size"),
        ("x" * 5000, JSON_HEADERS, 413, "max_body_bytes"),
        (GOOD, {**JSON_HEADERS, "Accept": "image/png"}, 406, "image/png"),
        (GOOD, {**JSON_HEADERS, TARGET_VARIANT_HEADER: "nope"}, 400, "'nope' does not exist"),
    ],
)
def test_bad_inputs_answer_4xx_json(live, call, body, headers, status, fragment):
    got, _headers, payload = call("POST", live.url + "/invocations", body, headers)
    assert got == status
    error = json.loads(payload)
    assert fragment in error["message"]
    assert call("POST", live.url + "/invocations", GOOD, JSON_HEADERS)[0] == 200  # still serving


def test_missing_content_length_and_unknown_routes(live, call):
    with socket.create_connection((live.server.host, live.server.port), timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n")
        assert b" 411 " in sock.recv(4096).split(b"\r\n", 1)[0] + b" "
    assert call("GET", live.url + "/nowhere")[0] == 404
    assert call("GET", live.url + "/invocations")[0] == 405


def test_weights_route_traffic_and_target_header_overrides(live, models, call):
    live.server.add_variant("green", models.v2, model_name="m", model_version="2")
    seen = {call("POST", live.url + "/invocations", GOOD, JSON_HEADERS)[1][INVOKED_VARIANT_HEADER]
            for _ in range(10)}
    assert seen == {"blue"}  # green has weight 0
    status, headers, _ = call("POST", live.url + "/invocations", GOOD,
                              {**JSON_HEADERS, TARGET_VARIANT_HEADER: "green"})
    assert (status, headers[INVOKED_VARIANT_HEADER]) == (200, "green")
    live.server.set_weights({"blue": 0, "green": 1})
    seen = {call("POST", live.url + "/invocations", GOOD, JSON_HEADERS)[1][INVOKED_VARIANT_HEADER]
            for _ in range(10)}
    assert seen == {"green"}
    live.server.set_weights({"blue": 1, "green": 1})
    seen = [call("POST", live.url + "/invocations", GOOD, JSON_HEADERS)[1][INVOKED_VARIANT_HEADER]
            for _ in range(60)]
    assert set(seen) == {"blue", "green"}  # each has a 1/2 chance per request


def test_failed_variant_never_gets_traffic(live, models, call):
    described = live.server.add_variant("bad", models.broken_load)
    assert described["status"] == "Failed"
    assert "no_such_family" in described["error"]
    status, _h, payload = call("PUT", live.url + "/admin/weights",
                               json.dumps({"weights": {"bad": 1}}), JSON_HEADERS)
    assert status == 409 and "Failed" in json.loads(payload)["message"]
    status, _h, payload = call("POST", live.url + "/invocations", GOOD,
                               {**JSON_HEADERS, TARGET_VARIANT_HEADER: "bad"})
    assert status == 400 and "Failed" in json.loads(payload)["message"]


def test_model_error_is_a_counted_500_and_the_server_survives(live, models, call):
    live.server.add_variant("flaky", models.broken_predict)
    target = {**JSON_HEADERS, TARGET_VARIANT_HEADER: "flaky"}
    assert call("POST", live.url + "/invocations", GOOD, target)[0] == 200
    status, _h, payload = call("POST", live.url + "/invocations",
                               json.dumps({"instances": [{"review_text": "{oops}"}]}), target)
    assert status == 500 and json.loads(payload)["error"] == "ModelError"
    call("POST", live.url + "/invocations", "{", target)
    metrics = json.loads(call("GET", live.url + "/metrics")[2])["variants"]["flaky"]
    assert (metrics["invocations"], metrics["errors_4xx"], metrics["errors_5xx"]) == (3, 1, 1)
    assert metrics["latency_ms"]["p50"] > 0 and metrics["latency_ms"]["samples"] == 3
    assert call("GET", live.url + "/ping")[0] == 200


def test_metrics_since_and_refusals(live, call):
    call("POST", live.url + "/invocations", GOOD, JSON_HEADERS)
    call("POST", live.url + "/invocations", "x" * 5000, JSON_HEADERS)
    metrics = json.loads(call("GET", live.url + "/metrics")[2])
    assert metrics["variants"]["blue"]["invocations"] == 1
    assert metrics["refused"] == {"413": 1}
    later = json.loads(call("GET", live.url + f"/metrics?since={metrics['time'] + 1}")[2])
    assert later["variants"]["blue"]["invocations"] == 0
    assert call("GET", live.url + "/metrics?since=yesterday")[0] == 400


def test_admin_api_add_describe_remove(live, models, call):
    status, _h, payload = call("POST", live.url + "/admin/variants", json.dumps(
        {"variant_name": "green", "artifact_path": str(models.v2), "model_name": "m",
         "model_version": "2"}), JSON_HEADERS)
    assert status == 201 and json.loads(payload)["status"] == "InService"
    assert call("POST", live.url + "/admin/variants", json.dumps(
        {"variant_name": "green", "artifact_path": str(models.v2)}), JSON_HEADERS)[0] == 409
    described = json.loads(call("GET", live.url + "/admin/endpoint")[2])
    assert {v["variant_name"] for v in described["variants"]} == {"blue", "green"}
    assert call("DELETE", live.url + "/admin/variants/green")[0] == 200
    assert call("DELETE", live.url + "/admin/variants/green")[0] == 404
    assert call("PUT", live.url + "/admin/weights", "not json", JSON_HEADERS)[0] == 400


def _chunked(live, body: bytes) -> bytes:
    with socket.create_connection((live.server.host, live.server.port), timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_chunked_bodies_are_read_up_to_the_limit(live):
    answer = _chunked(live, GOOD.encode())
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"predictions"' in answer
    answer = _chunked(live, b"x" * 5000)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"max_body_bytes" in answer


def test_a_server_process_keeps_its_models_out_of_full_collections(start_server, models):
    """In its own process (``serve``) the server freezes what an admin change loaded, so the
    collector's full scans never walk it; embedded (``start``), it leaves the collector be."""
    import gc

    running = start_server(endpoint="frozen")
    gc.unfreeze()
    running.server.add_variant("embedded", models.v1)
    assert gc.get_freeze_count() == 0
    running.server._owns_process = True  # as serve() marks it
    try:
        running.server.add_variant("owned", models.v2)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
