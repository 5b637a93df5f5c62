"""SageMaker Batch Transform's record handling, as plain functions over text.

What a transform job does between its S3 input and its S3 output, for the settings airsage
uses (``SplitType: Line``, ``AssembleWith: Line``, JSON Lines content):

- the input file is split into records at line ends (blank lines carry no record);
- ``DataProcessing.InputFilter`` (a JSONPath) selects what of each record the model sees;
- records go to the model in mini-batches: ``BatchStrategy: MultiRecord`` packs as many
  lines as fit in ``MaxPayloadInMB``, ``SingleRecord`` sends one; the model must answer one
  output line per record it was sent;
- ``JoinSource: Input`` joins each output with its *whole* input record (a JSON object gets
  the output under ``SageMakerOutput``; anything else becomes ``{"SageMakerInput": record,
  "SageMakerOutput": output}``), then ``OutputFilter`` selects what is kept;
- the results are written, one line per input record and in input order, to ``<file>.out``.

JSONPath: the operators SageMaker documents for these filters (``$``, ``.name``,
``['a','b']``, ``[0,2]``, ``[1:3]``), with Jayway JsonPath's reading of the bracket: one
name selects its value (as ``.name``), several names an object of those members (the
documented ``$['id','SageMakerOutput']``); anything else is refused by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from airsage.errors import ConfigurationError, InputDataError

JOIN_KEY = "SageMakerOutput"
INPUT_KEY = "SageMakerInput"
JOIN_SOURCES = ("None", "Input")
BATCH_STRATEGIES = ("MultiRecord", "SingleRecord")
OUTPUT_SUFFIX = ".out"
MEGABYTE = 1024 * 1024
_SEGMENT = re.compile(
    r"\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\[(?P<names>\s*'[^']*'\s*(?:,\s*'[^']*'\s*)*)\]"
    r"|\[(?P<indexes>\s*-?\d+\s*(?:,\s*-?\d+\s*)*)\]"
    r"|\[(?P<start>-?\d*):(?P<end>-?\d*)\]")

# model(records' body) -> the model's answer body; the handlers of include/jobs/inference.py
Invoke = Callable[[str], str]


def parse_path(expression: str) -> list[tuple[str, Any]]:
    """The steps of a JSONPath filter; a syntax SageMaker's filters do not take is refused."""
    text = (expression or "$").strip()
    if not text.startswith("$"):
        raise ConfigurationError(f"JSONPath {expression!r} must start with '$'")
    steps: list[tuple[str, Any]] = []
    position = 1
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            raise ConfigurationError(
                f"JSONPath {expression!r}: cannot read {text[position:]!r}; use $, .name, "
                "['a','b'], [0,2] or [1:3]")
        if match.group("name") is not None:
            steps.append(("key", match.group("name")))
        elif match.group("names") is not None:
            steps.append(("keys", re.findall(r"'([^']*)'", match.group("names"))))
        elif match.group("indexes") is not None:
            steps.append(("indexes", [int(i) for i in match.group("indexes").split(",")]))
        else:
            start, end = match.group("start"), match.group("end")
            steps.append(("slice", (int(start) if start else None, int(end) if end else None)))
        position = match.end()
    return steps


def select(value: Any, expression: str, *, where: str) -> Any:
    """``value`` filtered by the JSONPath ``expression``; a path the record lacks is bad input."""
    for kind, argument in parse_path(expression):
        try:
            if kind == "key":
                value = value[argument] if isinstance(value, dict) else _missing(argument)
            elif kind == "keys":
                if not isinstance(value, dict):
                    _missing(argument)
                absent = [name for name in argument if name not in value]
                if absent:
                    _missing(absent)
                value = (value[argument[0]] if len(argument) == 1
                         else {name: value[name] for name in argument})
            elif kind == "indexes":
                value = [value[i] for i in argument] if isinstance(value, list) else _missing(argument)
            else:
                value = value[slice(*argument)] if isinstance(value, list) else _missing(argument)
        except (KeyError, IndexError) as exc:
            raise InputDataError(
                f"{where}: the record has no {exc.args[0]!r} for JSONPath {expression!r}") from None
    return value


def _missing(what: Any) -> Any:
    raise KeyError(what)


def records(text: str) -> list[str]:
    """``SplitType: Line``: one record per non-blank line."""
    return [line for line in text.splitlines() if line.strip()]


def mini_batches(lines: Sequence[str], strategy: str, max_payload_mb: float) -> Iterator[list[int]]:
    """The record indexes of each request to the model (``BatchStrategy``)."""
    if strategy not in BATCH_STRATEGIES:
        raise ConfigurationError(f"BatchStrategy {strategy!r} is not one of {BATCH_STRATEGIES}")
    limit = max_payload_mb * MEGABYTE
    batch: list[int] = []
    size = 0
    for index, line in enumerate(lines):
        length = len(line.encode("utf-8")) + 1
        if length > limit:
            raise InputDataError(
                f"record {index + 1} is {length} bytes, above MaxPayloadInMB {max_payload_mb:g}")
        if batch and (strategy == "SingleRecord" or size + length > limit):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += length
    if batch:
        yield batch


def joined(record: Any, output: Any, join_source: str) -> Any:
    """``JoinSource``: the output alone (None), or joined with its input record (Input)."""
    if join_source == "None":
        return output
    if join_source != "Input":
        raise ConfigurationError(f"JoinSource {join_source!r} is not one of {JOIN_SOURCES}")
    if isinstance(record, dict):
        return {**record, JOIN_KEY: output}
    return {INPUT_KEY: record, JOIN_KEY: output}


def transform_text(
    text: str, invoke: Invoke, *, input_filter: str = "$", join_source: str = "None",
    output_filter: str = "$", batch_strategy: str = "MultiRecord", max_payload_mb: float = 6.0,
    source: str = "input",
) -> str:
    """One input file's ``.out`` text: every record through the model, joined and filtered."""
    lines = records(text)
    parsed = []
    for number, line in enumerate(lines, start=1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputDataError(f"{source} line {number} is not JSON: {exc}") from exc
    sent = [json.dumps(select(record, input_filter, where=f"{source} line {i + 1}"))
            for i, record in enumerate(parsed)]
    results: list[str] = [""] * len(lines)
    for batch in mini_batches(sent, batch_strategy, max_payload_mb):
        answer = records(invoke("\n".join(sent[i] for i in batch) + "\n"))
        if len(answer) != len(batch):
            raise InputDataError(
                f"{source}: the model answered {len(answer)} record(s) for the {len(batch)} "
                f"sent (lines {batch[0] + 1}-{batch[-1] + 1}); with SplitType Line it must "
                "answer one line per record")
        for index, line in zip(batch, answer, strict=True):
            output = json.loads(line)
            kept = select(joined(parsed[index], output, join_source), output_filter,
                          where=f"{source} line {index + 1}, joined")
            results[index] = json.dumps(kept)
    return "".join(line + "\n" for line in results)
