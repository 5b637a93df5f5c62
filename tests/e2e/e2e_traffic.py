"""Send generated reviews to a deployed endpoint, as a client application would."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

INSTANCE_FIELDS = ("review_id", "review_text", "age", "division_name", "department_name", "class_name")


def invoke(url: str, instances: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps({"instances": instances}).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def send_reviews(url: str, *, rows: int, seed: int, day: str, drift: float = 0.0,
                 per_request: int = 10) -> int:
    """Send ``rows`` generated reviews in requests of ``per_request``; return requests sent."""
    import pandas as pd

    from airsage.data.generator import GeneratorConfig, generate_batch

    frame = generate_batch(GeneratorConfig(rows=rows, seed=seed, day=day, drift=drift))
    records = []
    for row in frame[list(INSTANCE_FIELDS)].to_dict(orient="records"):
        records.append({k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
                        for k, v in row.items()})
    sent = 0
    for start in range(0, len(records), per_request):
        answer = invoke(url, records[start : start + per_request])
        assert len(answer["predictions"]) == len(records[start : start + per_request])
        sent += 1
    return sent


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
