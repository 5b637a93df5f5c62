"""The inference handlers of include/jobs/inference.py, imported by path as SageMaker does."""

from __future__ import annotations

import json

import pytest

from airsage.serving import contract
from airsage.serving.endpoint import load_inference_module


@pytest.fixture(scope="module")
def handlers():
    return load_inference_module()


@pytest.fixture(scope="module")
def model(handlers, models):
    return handlers.model_fn(str(models.v1).removesuffix(".tar.gz"))


def test_json_round_trip(handlers, model):
    body = json.dumps({"instances": [{"review_id": 1, "review_text": "love it", "age": 33,
                                      "division_name": "General", "department_name": "Tops",
                                      "class_name": "Knits"}, {"review_text": None}]})
    data = handlers.input_fn(body.encode(), "application/json; charset=utf-8")
    prediction = handlers.predict_fn(data, model)
    out = json.loads(handlers.output_fn(prediction, "application/json"))
    assert len(out["predictions"]) == 2
    first = out["predictions"][0]
    assert first["label"] in (-1, 0, 1)
    assert set(first["probabilities"]) == {"-1", "0", "1"}
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_jsonlines_and_csv(handlers, model):
    lines = '{"review_text": "great"}\n\n{"review_text": "awful, bad"}\n'
    data = handlers.input_fn(lines, "application/jsonlines")
    out = handlers.output_fn(handlers.predict_fn(data, model), "application/jsonlines")
    assert [json.loads(line)["label"] in (-1, 0, 1) for line in out.splitlines()] == [True, True]
    data = handlers.input_fn('great dress\n"awful, really bad"\n', "text/csv")
    assert [d["review_text"] for d in data] == ["great dress", "awful, really bad"]
    csv_out = handlers.output_fn(handlers.predict_fn(data, model), "text/csv")
    assert [int(x) for x in csv_out.splitlines()] == model.predict([d["review_text"] for d in data]).tolist()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b'{"instances": [', "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b"   \n", "text/csv", 400, "empty"),
        (b'{"instances": []}', "application/json", 400, "non-empty"),
        (b'[{"review_text": "x"}]', "application/json", 400, "instances"),
        (b'{"instances": [{"review_text": "x", "colour": "red", "size": 2}]}', "application/json",
         400, "['colour', 'size']"),
        (b'{"instances": [{"age": 3}]}', "application/json", 400, "review_text"),
        (b'{"instances": [{"review_text": 5}]}', "application/json", 400, "string or null"),
        (b'{"instances": ["text"]}', "application/json", 400, "JSON object"),
        (b'{"review_text": "ok"}\n{oops', "application/jsonlines", 400, "line 2"),
        (b'"unterminated', "text/csv", 400, "not valid CSV"),
        (b"a,b\n", "text/csv", 400, "2 columns"),
        (b"\xff\xfe", "text/csv", 400, "UTF-8"),
        (b"hello", "text/plain", 415, "unsupported content type"),
        (b"hello", None, 415, "unsupported content type"),
    ],
)
def test_bad_requests_raise_request_error(handlers, body, content_type, status, fragment):
    with pytest.raises(contract.RequestError) as info:
        handlers.input_fn(body, content_type)
    assert info.value.status == status
    assert fragment in str(info.value)


def test_allowed_fields_follow_the_environment(handlers, monkeypatch):
    monkeypatch.setenv(contract.INPUT_FIELDS_ENV, "review_text,colour")
    assert handlers.input_fn('{"instances": [{"review_text": "x", "colour": "red"}]}',
                             "application/json")[0]["colour"] == "red"
    monkeypatch.delenv(contract.INPUT_FIELDS_ENV)
    with pytest.raises(contract.RequestError, match="colour"):
        handlers.input_fn('{"instances": [{"review_text": "x", "colour": "red"}]}',
                          "application/json")


def test_accept_negotiation():
    assert contract.negotiate_accept(None, contract.CSV) == contract.CSV
    assert contract.negotiate_accept("*/*", contract.JSONLINES) == contract.JSONLINES
    assert contract.negotiate_accept("text/html, application/json;q=0.9", contract.CSV) == contract.JSON
    with pytest.raises(contract.RequestError) as info:
        contract.negotiate_accept("text/html", contract.JSON)
    assert info.value.status == 406
