"""Batch Transform's record handling: JSONPath filters, mini-batches, the join, ``.out`` order."""

from __future__ import annotations

import json

import pytest

from airsage.batch.transform import mini_batches, select, transform_text
from airsage.errors import ConfigurationError, InputDataError

RECORD = {"review_id": 7, "review_text": "nice", "tags": ["a", "b", "c"], "meta": {"day": "x"}}


@pytest.mark.parametrize(("path", "expected"), [
    ("$", RECORD),
    ("$.review_text", "nice"),
    ("$.meta.day", "x"),
    ("$['review_id','review_text']", {"review_id": 7, "review_text": "nice"}),
    ("$['review_text']", "nice"),  # one name: its value (Jayway), not an object
    ("$.tags[1:]", ["b", "c"]),
    ("$.tags[0,2]", ["a", "c"]),
])
def test_jsonpath_operators_sagemaker_documents(path: str, expected: object) -> None:
    assert select(RECORD, path, where="t") == expected


def test_a_path_the_record_lacks_and_a_bad_path_are_named() -> None:
    with pytest.raises(InputDataError, match=r"no \['title'\]"):
        select(RECORD, "$['review_id','title']", where="line 3")
    with pytest.raises(ConfigurationError, match=r"cannot read '\.\.review_id'"):
        select(RECORD, "$..review_id", where="t")


def test_mini_batches_fill_the_payload_or_send_one_record() -> None:
    lines = ["x" * 400_000] * 5  # 400 kB each: two fit in 1 MB
    assert list(mini_batches(lines, "MultiRecord", 1)) == [[0, 1], [2, 3], [4]]
    assert list(mini_batches(lines, "SingleRecord", 1)) == [[0], [1], [2], [3], [4]]
    with pytest.raises(InputDataError, match="above MaxPayloadInMB"):
        list(mini_batches(["x" * 2_000_000], "MultiRecord", 1))


def _echo_model(sent: list[list[str]]):
    def invoke(body: str) -> str:
        lines = body.splitlines()
        sent.append(lines)
        return "".join(json.dumps({"label": len(json.loads(x)["review_text"])}) + "\n"
                       for x in lines)
    return invoke


def test_join_with_the_input_and_keep_the_id_in_input_order() -> None:
    text = "".join(json.dumps({"review_id": i, "review_text": "w" * i, "rating": 5}) + "\n"
                   for i in range(1, 6)) + "\n"  # a blank line carries no record
    sent: list[list[str]] = []
    out = transform_text(text, _echo_model(sent), input_filter="$['review_id','review_text']",
                         join_source="Input", output_filter="$['review_id','SageMakerOutput']",
                         batch_strategy="SingleRecord")
    assert [json.loads(x) for x in out.splitlines()] == [
        {"review_id": i, "SageMakerOutput": {"label": i}} for i in range(1, 6)]
    assert len(sent) == 5  # SingleRecord: one request per record, the rating filtered out
    assert json.loads(sent[0][0]) == {"review_id": 1, "review_text": "w"}


def test_a_record_that_is_not_an_object_is_joined_under_sagemaker_input() -> None:
    from airsage.batch.transform import joined

    assert joined([1, 2], {"label": 1}, "Input") == {"SageMakerInput": [1, 2],
                                                     "SageMakerOutput": {"label": 1}}
    assert joined({"a": 1}, {"label": 1}, "None") == {"label": 1}


def test_a_model_that_answers_a_different_number_of_records_fails() -> None:
    text = "".join(json.dumps({"review_text": "a"}) + "\n" for _ in range(3))
    with pytest.raises(InputDataError, match=r"answered 1 record.*for the 3 sent"):
        transform_text(text, lambda body: '{"label": 1}\n')
