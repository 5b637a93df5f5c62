"""Reading capture and ground-truth lines: every body format, and malformed lines counted."""

from __future__ import annotations

import datetime as dt_
import json

import numpy as np
import pytest
from monitoring_helpers import capture_line, ground_truth_line, parsed

from airsage.monitoring.capture import parse_ground_truth

PROBS = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
INSTANCES = [
    {"review_id": 1, "review_text": "Love it, truly", "age": 33, "division_name": "General",
     "department_name": "Tops", "class_name": "Knits"},
    {"review_id": 2, "review_text": 'Too "tight"', "age": 51, "division_name": "General",
     "department_name": "Dresses", "class_name": "Dresses"},
]


@pytest.mark.parametrize("content_type", ["application/json", "application/jsonlines"])
@pytest.mark.parametrize("encoding", ["JSON", "BASE64"])
def test_structured_bodies(content_type, encoding):
    result = parsed([capture_line("ev", INSTANCES, PROBS, content_type=content_type,
                                  encoding=encoding)])
    assert result.malformed == 0 and result.events == 1
    first, second = result.records
    assert (first.label, second.label) == (1, -1)
    assert first.confidence == pytest.approx(0.7)
    assert first.features["age"] == 33 and second.text == 'Too "tight"'
    assert (first.event_id, first.inference_id, second.position) == ("ev", "inf-ev", 1)


def test_csv_bodies_carry_text_only():
    result = parsed([capture_line("ev", INSTANCES, PROBS, content_type="text/csv")])
    assert result.malformed == 0
    assert [r.text for r in result.records] == ["Love it, truly", 'Too "tight"']
    assert all(r.features is None for r in result.records)
    assert [r.label for r in result.records] == [1, -1]
    assert result.records[0].confidence is None


def test_malformed_lines_are_counted_not_fatal():
    good = capture_line("ok", INSTANCES[:1], PROBS[:1])
    event = json.loads(good)
    mismatch = json.loads(capture_line("mm", INSTANCES, PROBS))
    mismatch["captureData"]["endpointOutput"]["data"] = json.dumps({"predictions": []})
    no_event = json.loads(good)
    del no_event["eventMetadata"]["eventId"]
    bad_b64 = json.loads(good)
    bad_b64["captureData"]["endpointInput"].update(encoding="BASE64", data="%%%")
    bad_type = json.loads(good)
    bad_type["captureData"]["endpointInput"]["observedContentType"] = "image/png"
    lines = [good, "{not json", json.dumps([1, 2]), json.dumps(mismatch), json.dumps(no_event),
             json.dumps(bad_b64), json.dumps(bad_type), "", json.dumps(event)]
    result = parsed(lines)
    assert len(result.records) == 2
    assert result.events == 8  # the blank line is not an event
    assert result.malformed == 6
    assert any("prediction" in error for error in result.errors)


def test_ground_truth_formats():
    lines = [
        ("a", ground_truth_line("e1", [1])),
        ("b", ground_truth_line("e2", [1, -1, 0])),
        ("c", json.dumps({"groundTruthData": {"data": "[0, 1]", "encoding": "JSON"},
                          "eventMetadata": {"eventId": "e3"}, "eventVersion": "0"})),
        ("d", json.dumps({"groundTruthData": {"data": '{"label": -1}', "encoding": "JSON"},
                          "eventMetadata": {"eventId": "e4"}, "eventVersion": "0"})),
        ("e", json.dumps({"groundTruthData": {"data": "x", "encoding": "CSV"},
                          "eventMetadata": {"eventId": "e5"}})),
        ("f", "nope"),
    ]
    truth = parse_ground_truth(lines)
    assert truth.labels == {"e1": [1], "e2": [1, -1, 0], "e3": [0, 1], "e4": [-1]}
    assert truth.lines == 6 and truth.malformed == 2


def test_reads_what_the_serving_capture_writer_writes(model):
    """The serving engineer's writer and this reader agree on the capture contract."""
    capture = pytest.importorskip("airsage.serving.capture")
    contract = pytest.importorskip("airsage.serving.contract")
    texts = [{"review_text": "Love it"}, {"review_text": "Returned, cheap fabric"}]
    lines = []
    for i, (request, content_type) in enumerate([
        (json.dumps({"instances": texts}), contract.JSON),
        ("\n".join(json.dumps(t) for t in texts), contract.JSONLINES),
        ('"Love it"\n"Returned, cheap fabric"', contract.CSV),
    ]):
        instances = contract.parse_request(request, content_type)
        response = contract.format_response(contract.predictions(model, instances), content_type)
        record = capture.capture_record(
            request_body=request, request_content_type=content_type, response_body=response,
            response_content_type=content_type, inference_time=dt_.datetime.now(dt_.UTC),
            event_id=f"ev{i}",
        )
        lines.append(json.dumps(record))
    result = parsed(lines)
    assert result.malformed == 0
    assert len(result.records) == 6
    assert [r.text for r in result.records[4:]] == ["Love it", "Returned, cheap fabric"]
    expected = [int(label) for label in model.predict(["Love it", "Returned, cheap fabric"])]
    assert [r.label for r in result.records[:2]] == expected
    assert [r.label for r in result.records[4:]] == expected
