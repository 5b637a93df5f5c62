"""Read Model Monitor data-capture and ground-truth JSON lines into per-instance records.

A capture line is one request/response pair (``captureData.endpointInput`` and
``endpointOutput``, each with ``observedContentType``, ``data`` and ``encoding`` JSON, CSV or
BASE64). The body follows airsage's serving contract: JSON ``{"instances": [...]}``, JSON
lines (one instance per line) or CSV (one review text per row, no header); the response is
JSON ``{"predictions": [{"label", "probabilities"}]}``, JSON lines, or CSV (one label per
line). One request may carry several instances; they pair with the predictions by position.

A line that cannot be read this way is *counted* (with the first few reasons kept), never
fatal: one broken client must not blind the monitor to everyone else's traffic.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_ERRORS_KEPT = 20
JSON_TYPES = ("application/json",)
JSONLINES_TYPES = ("application/jsonlines", "application/x-jsonlines", "application/jsonl")
CSV_TYPES = ("text/csv",)


class MalformedCapture(ValueError):
    """One capture or ground-truth line does not follow the contract."""


@dataclass(frozen=True)
class CaptureRecord:
    """One inference instance: its input, the model's answer and the event it came in."""

    event_id: str
    inference_id: str | None
    position: int
    text: Any
    features: dict[str, Any] | None  # None for a text-only (CSV) request
    label: int | None
    confidence: float | None


@dataclass
class ParsedCaptures:
    records: list[CaptureRecord] = field(default_factory=list)
    events: int = 0
    malformed: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, where: str, reason: str) -> None:
        self.malformed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(f"{where}: {reason}")


def _content_type(block: Mapping[str, Any]) -> str:
    return str(block.get("observedContentType") or "").split(";")[0].strip().lower()


def decode_data(block: Mapping[str, Any]) -> str:
    """The body text of an endpointInput/endpointOutput block."""
    if not isinstance(block, Mapping) or "data" not in block:
        raise MalformedCapture("the block has no 'data'")
    data = block["data"]
    encoding = str(block.get("encoding") or "JSON").upper()
    if encoding == "BASE64":
        try:
            return base64.b64decode(str(data), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise MalformedCapture(f"BASE64 data does not decode to UTF-8 text: {exc}") from exc
    if encoding not in ("JSON", "CSV"):
        raise MalformedCapture(f"unknown encoding {encoding!r} (JSON, CSV or BASE64)")
    if isinstance(data, str):
        return data
    return json.dumps(data)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedCapture(f"{what} is not valid JSON: {exc.msg}") from exc


def parse_instances(body: str, content_type: str) -> list[Any]:
    """Instances of a request body: dicts (structured) or strings (text only)."""
    if content_type in CSV_TYPES:
        rows = [row for row in csv.reader(io.StringIO(body)) if row]
        return [",".join(row) for row in rows]
    if content_type in JSONLINES_TYPES:
        items = [_json(line, "a JSON lines request line") for line in body.splitlines()
                 if line.strip()]
    elif content_type in JSON_TYPES or not content_type:
        payload = _json(body, "the JSON request body")
        if isinstance(payload, Mapping) and "instances" in payload:
            items = payload["instances"]
        elif isinstance(payload, Mapping):
            items = [payload]
        else:
            items = payload
        if not isinstance(items, list):
            raise MalformedCapture("'instances' is not a list")
    else:
        raise MalformedCapture(f"unsupported request content type {content_type!r}")
    for item in items:
        if not isinstance(item, Mapping | str):
            raise MalformedCapture(f"an instance is a {type(item).__name__}, not an object")
    return [dict(item) if isinstance(item, Mapping) else item for item in items]


def _prediction(item: Any) -> tuple[int, float | None]:
    if isinstance(item, Mapping):
        if "label" not in item:
            raise MalformedCapture("a prediction has no 'label'")
        label = _label(item["label"])
        probabilities = item.get("probabilities")
        confidence = None
        if isinstance(probabilities, Mapping) and probabilities:
            try:
                confidence = max(float(value) for value in probabilities.values())
            except (TypeError, ValueError) as exc:
                raise MalformedCapture("a prediction's probabilities are not numbers") from exc
        return label, confidence
    return _label(item), None


def _label(value: Any) -> int:
    try:
        number = float(str(value).strip())
    except ValueError as exc:
        raise MalformedCapture(f"label {value!r} is not a number") from exc
    if not number.is_integer():
        raise MalformedCapture(f"label {value!r} is not an integer class")
    return int(number)


def parse_predictions(body: str, content_type: str) -> list[tuple[int, float | None]]:
    """(label, confidence) per instance of a response body."""
    if content_type in CSV_TYPES:
        return [_prediction(line.strip()) for line in body.splitlines() if line.strip()]
    if content_type in JSONLINES_TYPES:
        return [_prediction(_json(line, "a JSON lines response line"))
                for line in body.splitlines() if line.strip()]
    if content_type in JSON_TYPES or not content_type:
        payload = _json(body, "the JSON response body")
        items = payload.get("predictions") if isinstance(payload, Mapping) else payload
        if not isinstance(items, list):
            raise MalformedCapture("the response has no 'predictions' list")
        return [_prediction(item) for item in items]
    raise MalformedCapture(f"unsupported response content type {content_type!r}")


def parse_capture_line(line: str | bytes) -> list[CaptureRecord]:
    """The instances of one capture line; raises :class:`MalformedCapture`."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedCapture("the line is not UTF-8") from exc
    event = _json(line, "the capture line")
    if not isinstance(event, Mapping):
        raise MalformedCapture("the capture line is not a JSON object")
    capture = event.get("captureData")
    metadata = event.get("eventMetadata") or {}
    if not isinstance(capture, Mapping) or not isinstance(metadata, Mapping):
        raise MalformedCapture("captureData or eventMetadata is missing")
    event_id = str(metadata.get("eventId") or "")
    if not event_id:
        raise MalformedCapture("eventMetadata.eventId is missing")
    inference_id = metadata.get("inferenceId")
    request = capture.get("endpointInput")
    if not isinstance(request, Mapping):
        raise MalformedCapture("captureData.endpointInput is missing")
    instances = parse_instances(decode_data(request), _content_type(request))
    response = capture.get("endpointOutput")
    predictions: list[tuple[int, float | None]] | None = None
    if isinstance(response, Mapping):
        predictions = parse_predictions(decode_data(response), _content_type(response))
        if len(predictions) != len(instances):
            raise MalformedCapture(
                f"{len(instances)} instance(s) but {len(predictions)} prediction(s)"
            )
    records = []
    for position, instance in enumerate(instances):
        label, confidence = predictions[position] if predictions is not None else (None, None)
        if isinstance(instance, dict):
            text, features = instance.get("review_text"), instance
        else:
            text, features = instance, None
        records.append(CaptureRecord(
            event_id=event_id,
            inference_id=None if inference_id is None else str(inference_id),
            position=position, text=text, features=features, label=label, confidence=confidence,
        ))
    return records


def parse_captures(lines: Iterable[tuple[str, str | bytes]]) -> ParsedCaptures:
    """Records of every readable line; ``lines`` yields ``(where, line)`` pairs."""
    parsed = ParsedCaptures()
    for where, line in lines:
        if not line.strip():
            continue
        parsed.events += 1
        try:
            parsed.records.extend(parse_capture_line(line))
        except MalformedCapture as exc:
            parsed.fail(where, str(exc))
    return parsed


# -- ground truth ---------------------------------------------------------------------------
@dataclass
class ParsedGroundTruth:
    labels: dict[str, list[int]] = field(default_factory=dict)
    lines: int = 0
    malformed: int = 0
    errors: list[str] = field(default_factory=list)


def _labels_from(value: Any) -> list[int]:
    if isinstance(value, Mapping):
        if "labels" in value:
            return _labels_from(value["labels"])
        if "label" in value:
            return [_label(value["label"])]
        raise MalformedCapture("ground truth object has no 'label' or 'labels'")
    if isinstance(value, list):
        return [_label(item) for item in value]
    return [_label(value)]


def parse_ground_truth_line(line: str | bytes) -> tuple[str, list[int]]:
    """``(eventId, labels)`` of a Model Monitor ground-truth line.

    ``groundTruthData.data`` holds one label (``"1"``), or for a multi-instance request one
    label per instance (CSV lines or commas, or a JSON list), in request order.
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    record = _json(line, "the ground-truth line")
    if not isinstance(record, Mapping):
        raise MalformedCapture("the ground-truth line is not a JSON object")
    data_block = record.get("groundTruthData")
    event_id = str((record.get("eventMetadata") or {}).get("eventId") or "")
    if not isinstance(data_block, Mapping) or not event_id:
        raise MalformedCapture("groundTruthData or eventMetadata.eventId is missing")
    text = decode_data(data_block)
    encoding = str(data_block.get("encoding") or "JSON").upper()
    if encoding == "CSV":
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row if cell.strip()]
        labels = [_label(cell) for cell in cells]
    else:
        try:
            labels = _labels_from(json.loads(text))
        except json.JSONDecodeError:
            labels = [_label(cell) for cell in text.replace("\n", ",").split(",") if cell.strip()]
    if not labels:
        raise MalformedCapture("groundTruthData has no label")
    return event_id, labels


def parse_ground_truth(lines: Iterable[tuple[str, str | bytes]]) -> ParsedGroundTruth:
    parsed = ParsedGroundTruth()
    for where, line in lines:
        if not line.strip():
            continue
        parsed.lines += 1
        try:
            event_id, labels = parse_ground_truth_line(line)
        except MalformedCapture as exc:
            parsed.malformed += 1
            if len(parsed.errors) < MAX_ERRORS_KEPT:
                parsed.errors.append(f"{where}: {exc}")
            continue
        parsed.labels[event_id] = labels
    return parsed
