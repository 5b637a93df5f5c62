"""Model Monitor data capture, written off the request path.

A sampled request/response pair becomes one JSON line in Model Monitor's capture format
(``captureData.endpointInput`` / ``endpointOutput``, ``eventMetadata``, ``eventVersion``).
The request path only appends to a bounded buffer (no lock handed to another thread, no
wake-up per record): when the buffer is full the record is dropped and counted, so capture
can never fail or slow an invocation. A writer thread wakes every ``flush_seconds`` (or when
a file's worth of records waits), builds the records (``capture_record``: event id, encodings,
JSON) in small chunks that give the GIL back between them, and writes one new
``<MM-SS-mmm>-[<worker>-]<uuid>.jsonl`` file per variant and hour under ``LakeLayout.capture_hour`` per
flush (the lake has no append; SageMaker also writes many files per hour), so a file always
belongs to one variant and one hour.
"""

from __future__ import annotations

import base64
import datetime as dt_
import json
import logging
import random
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout
from airsage.serving.base import CaptureConfig
from airsage.serving.contract import CSV, JSON, JSONLINES, media_type

log = logging.getLogger(__name__)
EVENT_VERSION = "0"
# The writer builds this many records, then sleeps briefly so the event loop, which needs the
# GIL to answer requests, waits at most about one chunk (~0.5 ms) for it, never a whole flush.
CHUNK_RECORDS = 16
CHUNK_PAUSE_SECONDS = 0.0005
Record = dict[str, Any]
RecordSource = Record | Callable[[], Record]


def _encoded(data: bytes | str, content_type: str) -> tuple[str, str]:
    """``(data, encoding)`` as Model Monitor writes it: JSON/CSV text when it is text."""
    kind = media_type(content_type)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if kind in (JSON, JSONLINES, CSV):
        try:
            return raw.decode("utf-8"), "CSV" if kind == CSV else "JSON"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), "BASE64"


def capture_record(
    *,
    request_body: bytes | str,
    request_content_type: str,
    response_body: bytes | str,
    response_content_type: str,
    inference_time: dt_.datetime,
    event_id: str | None = None,
    inference_id: str | None = None,
) -> dict[str, Any]:
    """One capture line; field names and encodings as SageMaker Model Monitor writes them."""
    in_data, in_encoding = _encoded(request_body, request_content_type)
    out_data, out_encoding = _encoded(response_body, response_content_type)
    metadata: dict[str, Any] = {
        "eventId": event_id or str(uuid.uuid4()),
        "inferenceTime": inference_time.astimezone(dt_.UTC).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": request_content_type,
                "mode": "INPUT",
                "data": in_data,
                "encoding": in_encoding,
            },
            "endpointOutput": {
                "observedContentType": response_content_type,
                "mode": "OUTPUT",
                "data": out_data,
                "encoding": out_encoding,
            },
        },
        "eventMetadata": metadata,
        "eventVersion": EVENT_VERSION,
    }


@dataclass
class CaptureStats:
    sampled: int = 0
    written: int = 0
    dropped: int = 0
    write_errors: int = 0
    files: int = 0


class CaptureWriter:
    """Sample, buffer without blocking, and write capture files from one background thread."""

    def __init__(
        self, lake: Lake, endpoint: str, config: CaptureConfig, *, rng: random.Random | None = None,
        file_tag: str = "",
    ) -> None:
        self.lake = lake
        # names this writer's files apart from another process's (``w1``: worker 1)
        self.file_tag = f"{file_tag}-" if file_tag else ""
        self.endpoint = endpoint
        self.config = config
        self.stats = CaptureStats()
        self._rng = rng or random.Random()
        self._pending: deque[tuple[str, dt_.datetime, RecordSource]] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # flush_seconds <= 0 means "write every record at once": each one wakes the writer
        self._interval = config.flush_seconds if config.flush_seconds > 0 else None
        self._per_file = max(1, config.max_records_per_file)

    def start(self) -> CaptureWriter:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=f"capture-{self.endpoint}",
                                            daemon=True)
            self._thread.start()
        return self

    def sample(self) -> bool:
        """Whether to capture the current request (drawn before a record is built)."""
        return self.config.enabled and self._rng.random() * 100.0 < self.config.sampling_percent

    def enqueue(self, variant: str, when: dt_.datetime, record: RecordSource) -> bool:
        """Buffer a sampled record without blocking; a full buffer drops and counts it.

        ``record`` is the record, or a function that builds it (``capture_record`` with its
        arguments bound): the writer thread then calls it, off the request path.
        """
        pending = self._pending
        if len(pending) >= self.config.buffer_size:
            with self._lock:
                self.stats.sampled += 1
                self.stats.dropped += 1
            return False
        pending.append((variant, when, record))
        with self._lock:
            self.stats.sampled += 1
        if self._interval is None or len(pending) >= self._per_file:  # write it now
            self._wake.set()
        return True

    def offer(self, variant: str, when: dt_.datetime, record: RecordSource) -> bool:
        """Sample, then enqueue; False when not sampled or dropped."""
        return self.sample() and self.enqueue(variant, when, record)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "capture_sampled": self.stats.sampled,
                "capture_written": self.stats.written,
                "capture_dropped": self.stats.dropped,
                "capture_write_errors": self.stats.write_errors,
                "capture_files": self.stats.files,
                "capture_queued": len(self._pending),
            }

    def close(self, timeout: float = 30.0) -> None:
        """Write what is buffered, then stop the thread."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stopping
            waiting = len(self._pending)  # what arrived until now; later records wait a turn
            while waiting > 0:
                size = min(waiting, self._per_file)
                self._flush([self._pending.popleft() for _ in range(size)])
                waiting -= size
            if stopping:
                return

    def _flush(self, batch: list[tuple[str, dt_.datetime, RecordSource]]) -> None:
        groups: dict[tuple[str, str], list[tuple[dt_.datetime, str]]] = defaultdict(list)
        for number, (variant, when, source) in enumerate(batch, start=1):
            try:
                record = source() if callable(source) else source
                line = json.dumps(record, separators=(",", ":"))
            except Exception:  # one unserialisable record must not stop the writer
                log.exception("capture: building a record of variant %s failed", variant)
                with self._lock:
                    self.stats.write_errors += 1
                continue
            hour = when.astimezone(dt_.UTC)
            prefix = LakeLayout.capture_hour(self.endpoint, variant, hour)
            groups[(variant, prefix)].append((hour, line))
            if number % CHUNK_RECORDS == 0:
                time.sleep(CHUNK_PAUSE_SECONDS)
        for (_variant, prefix), items in groups.items():
            first = items[0][0]
            key = (f"{prefix}{first:%M-%S}-{first.microsecond // 1000:03d}-{self.file_tag}"
                   f"{uuid.uuid4()}.jsonl")
            data = "".join(line + "\n" for _, line in items)
            try:
                self.lake.write_bytes(key, data.encode("utf-8"))
            except Exception:  # a lake failure must never reach the request path
                log.exception("capture: writing %d record(s) to %s failed", len(items), key)
                with self._lock:
                    self.stats.write_errors += len(items)
                continue
            with self._lock:
                self.stats.written += len(items)
                self.stats.files += 1
