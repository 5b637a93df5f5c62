"""Traffic for the e2e tests: the package's client, plus waiting for capture to flush."""

from __future__ import annotations

import time
from typing import Any

from airsage.serving.client import invoke, send_reviews

__all__ = ["invoke", "send_reviews", "wait_for_capture"]


def wait_for_capture(lake: Any, endpoint: str, minimum_files: int = 1, timeout: float = 20.0) -> int:
    """Capture is written off the request path; wait until the writer has flushed."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = sum(1 for _ in lake.list(f"capture/{endpoint}/"))
        if count >= minimum_files:
            return count
        time.sleep(0.25)
    return count
