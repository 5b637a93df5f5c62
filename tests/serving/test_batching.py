"""Requests of one event-loop turn share a predict_fn call; a bad one fails only itself."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from airsage.serving.endpoint import Batcher, Variant

JSON_HEADERS = {"Content-Type": "application/json"}


class Recorder:
    """A predict_fn over instance lists: label = text length; raises on "boom"."""

    def __init__(self) -> None:
        self.calls: list[list[dict]] = []

    def __call__(self, rows: list[dict], model: object) -> list[int]:
        self.calls.append(list(rows))
        if any(row["review_text"] == "boom" for row in rows):
            raise ValueError("boom")
        return [len(row["review_text"]) for row in rows]


def _gather(batcher: Batcher, requests: list[list[dict]]) -> list[object]:
    variant = Variant("blue", "m", "1", "")

    async def run() -> list[object]:
        futures = [batcher.predict(variant, rows) for rows in requests]
        return await asyncio.gather(*futures, return_exceptions=True)

    return asyncio.run(run())


def test_one_turn_is_one_call_split_back_per_request():
    recorder = Recorder()
    batcher = Batcher(recorder)
    answers = _gather(batcher, [[{"review_text": "a"}], [{"review_text": "bb"},
                                {"review_text": "ccc"}], [{"review_text": "dddd"}]])
    assert answers == [[1], [2, 3], [4]]
    assert len(recorder.calls) == 1 and len(recorder.calls[0]) == 4
    assert (batcher.batches, batcher.batched_requests) == (1, 3)


def test_a_request_that_breaks_the_batch_fails_alone():
    recorder = Recorder()
    answers = _gather(Batcher(recorder), [[{"review_text": "ok"}], [{"review_text": "boom"}],
                                          [{"review_text": "fine"}]])
    assert answers[0] == [2] and answers[2] == [4]
    assert isinstance(answers[1], ValueError)
    assert len(recorder.calls) == 4  # the joined call, then each request alone


def test_a_lone_request_is_predicted_at_once():
    recorder = Recorder()
    assert _gather(Batcher(recorder), [[{"review_text": "xyz"}]]) == [[3]]
    assert recorder.calls == [[{"review_text": "xyz"}]]


@pytest.fixture
def live(start_server, models):
    running = start_server()
    running.server.add_variant("blue", models.v1)
    running.server.set_weights({"blue": 1})
    return running


def test_concurrent_requests_get_their_own_predictions(live, call):
    texts = [f"{word} dress number {i}" for i, word in
             enumerate(["lovely", "awful", "okay", "great", "cheap", "fine"] * 8)]

    def ask(text: str) -> list[dict]:
        body = json.dumps({"instances": [{"review_text": text}, {"review_text": text + "!"}]})
        status, _headers, payload = call("POST", live.url + "/invocations", body, JSON_HEADERS)
        assert status == 200
        return json.loads(payload)["predictions"]

    alone = [ask(text) for text in texts]
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(ask, texts))
    assert together == alone
