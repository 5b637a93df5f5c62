"""A small client for an airsage endpoint: what an application (or the demo) sends."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

INSTANCE_FIELDS = ("review_id", "review_text", "age", "division_name", "department_name", "class_name")


def invoke(url: str, instances: list[dict[str, Any]], *, timeout: float = 30.0) -> dict[str, Any]:
    """POST /invocations with a JSON body; return the decoded predictions."""
    body = json.dumps({"instances": instances}).encode()
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def generated_instances(*, rows: int, seed: int, day: str, drift: float = 0.0) -> list[dict[str, Any]]:
    """Request instances built from generated reviews (the fields a client would send)."""
    import pandas as pd

    from airsage.data.generator import GeneratorConfig, generate_batch

    frame = generate_batch(GeneratorConfig(rows=rows, seed=seed, day=day, drift=drift))
    instances = []
    for row in frame[list(INSTANCE_FIELDS)].to_dict(orient="records"):
        instances.append(
            {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        )
    return instances


def send_reviews(url: str, *, rows: int, seed: int, day: str, drift: float = 0.0,
                 per_request: int = 10) -> int:
    """Send ``rows`` generated reviews in requests of ``per_request``; return requests sent."""
    instances = generated_instances(rows=rows, seed=seed, day=day, drift=drift)
    sent = 0
    for start in range(0, len(instances), per_request):
        chunk = instances[start : start + per_request]
        answer = invoke(url, chunk)
        if len(answer.get("predictions", [])) != len(chunk):
            raise RuntimeError(f"{url} answered {len(answer.get('predictions', []))} predictions "
                               f"for {len(chunk)} instances")
        sent += 1
    return sent
