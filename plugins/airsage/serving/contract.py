"""The inference request/response contract, shared by the SageMaker entry point and the server.

Requests (one of):

- ``application/json``: ``{"instances": [{"review_id": 1, "review_text": "...", ...}]}``
- ``application/jsonlines``: one instance object per line
- ``text/csv``: one review text per row, no header (quote a text that holds a comma)

Responses: ``application/json`` ``{"predictions": [{"label": 1, "probabilities": {"-1": p,
"0": p, "1": p}}]}``, ``application/jsonlines`` one prediction per line, ``text/csv`` one
label per line. An instance may hold only the dataset's columns (``AIRSAGE_INPUT_FIELDS``, a
comma-separated list, overrides the default: the reviews dataset's columns); it must hold
``review_text``. A request that breaks the contract raises :class:`RequestError`, whose
``status`` is the HTTP status a server answers (4xx): bad input never becomes a 500.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from typing import Any

from airsage.errors import InputDataError

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
CONTENT_TYPES = (JSON, JSONLINES, CSV)
# Spellings clients use for the same formats.
_ALIASES = {
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-ndjson": JSONLINES,
    "application/csv": CSV,
}
TEXT_FIELD = "review_text"
INPUT_FIELDS_ENV = "AIRSAGE_INPUT_FIELDS"
# The reviews dataset's columns (include/config/airsage.yaml, datasets.reviews.columns): a
# SageMaker container has no airsage config, so the default is spelled out here and the
# server passes the configured dataset's columns through AIRSAGE_INPUT_FIELDS.
DEFAULT_INPUT_FIELDS: tuple[str, ...] = (
    "review_id", "clothing_id", "age", "title", "review_text", "rating", "recommended_ind",
    "positive_feedback_count", "division_name", "department_name", "class_name",
)


class RequestError(InputDataError):
    """A request the contract refuses; ``status`` is the 4xx a server answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def media_type(header: str | None) -> str:
    """``application/json`` from ``Application/JSON; charset=utf-8`` (aliases resolved)."""
    value = (header or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(value, value)


def negotiate_accept(accept: str | None, content_type: str) -> str:
    """The response type: the first supported type in ``Accept``, else the request's type."""
    if not accept:
        return content_type
    for part in accept.split(","):
        candidate = media_type(part)
        if candidate in CONTENT_TYPES:
            return candidate
        if candidate in ("*/*", ""):
            return content_type
        if candidate == "application/*":
            return content_type if content_type.startswith("application/") else JSON
    raise RequestError(
        f"cannot answer in any of the accepted types {accept!r}; "
        f"supported: {', '.join(CONTENT_TYPES)}",
        status=406,
    )


def allowed_fields() -> tuple[str, ...]:
    raw = os.environ.get(INPUT_FIELDS_ENV, "").strip()
    return tuple(f.strip() for f in raw.split(",") if f.strip()) if raw else DEFAULT_INPUT_FIELDS


def _decode(body: bytes | str) -> str:
    if isinstance(body, str):
        text = body
    else:
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(f"request body is not UTF-8 text: {exc}") from exc
    if not text.strip():
        raise RequestError("request body is empty; send at least one instance")
    return text


def _check_instance(instance: Any, where: str, fields: Sequence[str]) -> dict[str, Any]:
    if not isinstance(instance, dict):
        raise RequestError(
            f"{where} must be a JSON object like {{\"review_text\": \"...\"}}, "
            f"got {type(instance).__name__}"
        )
    unknown = sorted(set(instance) - set(fields))
    if unknown:
        raise RequestError(
            f"{where} has unknown field(s) {unknown}; allowed fields: {list(fields)}"
        )
    if TEXT_FIELD not in instance:
        raise RequestError(f"{where} lacks the required field {TEXT_FIELD!r}")
    text = instance[TEXT_FIELD]
    if text is not None and not isinstance(text, str):
        raise RequestError(
            f"{where}: {TEXT_FIELD!r} must be a string or null, got {type(text).__name__}"
        )
    return instance


def parse_request(body: bytes | str, content_type: str | None) -> list[dict[str, Any]]:
    """The instances of a request body; :class:`RequestError` for anything else."""
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise RequestError(
            f"unsupported content type {content_type!r}; send one of {', '.join(CONTENT_TYPES)}",
            status=415,
        )
    text = _decode(body)
    fields = allowed_fields()
    if kind == JSON:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RequestError(f"request body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict) or "instances" not in payload:
            raise RequestError('a JSON request must be an object {"instances": [...]}')
        extra = sorted(set(payload) - {"instances"})
        if extra:
            raise RequestError(f"unknown top-level field(s) {extra}; only 'instances' is allowed")
        instances = payload["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError("'instances' must be a non-empty list of objects")
        return [_check_instance(item, f"instance {i}", fields) for i, item in enumerate(instances)]
    if kind == JSONLINES:
        result = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RequestError(f"line {number} is not valid JSON: {exc}") from exc
            result.append(_check_instance(item, f"line {number}", fields))
        return result
    try:
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise RequestError(f"request body is not valid CSV: {exc}") from exc
    result = []
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) != 1:
            raise RequestError(
                f"CSV row {number} has {len(row)} columns; send one review text per row and "
                "quote a text that contains a comma"
            )
        result.append({TEXT_FIELD: row[0]})
    if not result:
        raise RequestError("request body is empty; send at least one instance")
    return result


def predictions(model: Any, instances: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label and per-label probabilities of each instance (labels as strings, as JSON keys)."""
    texts = [instance.get(TEXT_FIELD) or "" for instance in instances]
    probabilities = model.predict_proba(texts)
    labels = list(model.labels)
    result = []
    for row in probabilities:
        values = [float(p) for p in row]
        best = max(range(len(values)), key=values.__getitem__)
        result.append(
            {
                "label": int(labels[best]),
                "probabilities": {
                    str(label): round(p, 6) for label, p in zip(labels, values, strict=True)
                },
            }
        )
    return result


def format_response(prediction: Sequence[dict[str, Any]], accept: str) -> str:
    kind = media_type(accept)
    if kind == JSON:
        return json.dumps({"predictions": list(prediction)})
    if kind == JSONLINES:
        return "".join(json.dumps(item) + "\n" for item in prediction)
    if kind == CSV:
        return "".join(f"{item['label']}\n" for item in prediction)
    raise RequestError(
        f"cannot answer in {accept!r}; supported: {', '.join(CONTENT_TYPES)}", status=406
    )
