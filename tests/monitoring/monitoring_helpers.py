"""Test helpers for the monitor: a small review generator with a drift knob, and writers
for capture and ground-truth files that follow the data-capture contract (the serving
engineer owns the real capture writer)."""

from __future__ import annotations

import base64
import datetime as dt_
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from airsage.lake.layout import LakeLayout
from airsage.lake.local import LocalLake
from airsage.monitoring.capture import parse_captures

LABELS = (-1, 0, 1)
POSITIVE = ["love", "perfect", "beautiful", "comfortable", "flattering", "great", "soft",
            "gorgeous", "happy", "cute", "favorite", "recommend"]
NEGATIVE = ["returned", "cheap", "disappointed", "itchy", "unflattering", "poor", "awful",
            "ripped", "boxy", "scratchy", "tight", "refund"]
NEUTRAL = ["okay", "fine", "average", "decent", "sizing", "maybe", "expected", "alright"]
COMMON = [f"word{i}" for i in range(400)]
NOVEL = [f"novel{i}" for i in range(400)]  # never in the baseline vocabulary
DEPARTMENTS = {
    "Tops": ["Knits", "Blouses", "Fine gauge"],
    "Dresses": ["Dresses"],
    "Bottoms": ["Pants", "Jeans", "Skirts", "Shorts"],
    "Intimate": ["Intimates", "Lounge", "Sleep"],
    "Jackets": ["Jackets", "Outerwear"],
    "Trend": ["Trend"],
}
DEPARTMENT_P0 = np.array([0.44, 0.27, 0.16, 0.08, 0.04, 0.01])
DEPARTMENT_P1 = np.array([0.05, 0.05, 0.10, 0.10, 0.40, 0.30])
SENTIMENT_P0 = np.array([0.10, 0.12, 0.78])
SENTIMENT_P1 = np.array([0.50, 0.30, 0.20])


def make_reviews(rows: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
    """Reviews shaped like the features contract; ``drift`` in [0, 1] moves every feature.

    Drift shifts age up, the department mix toward Jackets/Trend, sentiment toward
    negative, texts longer and a share of their words out of the training vocabulary.
    """
    rng = np.random.default_rng(seed)
    departments = list(DEPARTMENTS)
    dept_p = (1 - drift) * DEPARTMENT_P0 + drift * DEPARTMENT_P1
    sent_p = (1 - drift) * SENTIMENT_P0 + drift * SENTIMENT_P1
    zipf = 1.0 / np.arange(1, len(COMMON) + 1)
    zipf /= zipf.sum()
    records = []
    for i in range(rows):
        sentiment = int(rng.choice(LABELS, p=sent_p))
        department = departments[int(rng.choice(len(departments), p=dept_p))]
        words = {-1: NEGATIVE, 0: NEUTRAL, 1: POSITIVE}[sentiment]
        length = int(rng.poisson(25 + 20 * drift)) + 3
        tokens = []
        for _ in range(length):
            roll = rng.random()
            if roll < 0.25:
                tokens.append(str(rng.choice(words)))
            elif roll < 0.28:  # the long tail of rare words every real corpus has
                tokens.append(f"rare{int(rng.integers(1_000_000))}")
            elif roll < 0.28 + 0.5 * drift:
                tokens.append(str(rng.choice(NOVEL)))
            else:
                tokens.append(COMMON[int(rng.choice(len(COMMON), p=zipf))])
        age = int(np.clip(rng.normal(43 + 15 * drift, 12), 18, 99))
        records.append({
            "review_id": seed * 100000 + i,
            "review_text": " ".join(tokens).capitalize() + ".",
            "sentiment": sentiment,
            "rating": {-1: 1, 0: 3, 1: 5}[sentiment],
            "age": age,
            "division_name": "Initmates" if department == "Intimate" else "General",
            "department_name": department,
            "class_name": str(rng.choice(DEPARTMENTS[department])),
        })
    return pd.DataFrame.from_records(records)


# -- capture contract -------------------------------------------------------------------------
def instance(row: Any) -> dict[str, Any]:
    return {"review_id": int(row["review_id"]), "review_text": row["review_text"],
            "age": int(row["age"]), "division_name": row["division_name"],
            "department_name": row["department_name"], "class_name": row["class_name"]}


def capture_line(
    event_id: str, instances: Sequence[Any], probabilities: np.ndarray,
    labels: Sequence[int] = LABELS, *, content_type: str = "application/json",
    encoding: str = "JSON", when: dt_.datetime | None = None,
) -> str:
    """One capture line as the serving contract and Model Monitor's capture format define."""
    predictions = [
        {"label": int(labels[int(np.argmax(row))]),
         "probabilities": {str(label): float(p) for label, p in zip(labels, row, strict=True)}}
        for row in probabilities
    ]
    if content_type == "text/csv":
        body_in = "\n".join(
            '"' + str(item.get("review_text", "")).replace('"', '""') + '"' for item in instances
        )
        body_out = "\n".join(str(p["label"]) for p in predictions)
    elif content_type == "application/jsonlines":
        body_in = "\n".join(json.dumps(item) for item in instances)
        body_out = "\n".join(json.dumps(p) for p in predictions)
    else:
        body_in = json.dumps({"instances": list(instances)})
        body_out = json.dumps({"predictions": predictions})
    if encoding == "BASE64":
        body_in = base64.b64encode(body_in.encode()).decode()
        body_out = base64.b64encode(body_out.encode()).decode()
    elif content_type == "text/csv":
        encoding = "CSV"
    when = when or dt_.datetime(2024, 5, 1, 10, tzinfo=dt_.UTC)
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT",
                              "data": body_in, "encoding": encoding},
            "endpointOutput": {"observedContentType": content_type, "mode": "OUTPUT",
                               "data": body_out, "encoding": encoding},
        },
        "eventMetadata": {"eventId": event_id, "inferenceId": f"inf-{event_id}",
                          "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "eventVersion": "0",
    })


def capture_lines(frame: pd.DataFrame, model: Any, *, prefix: str = "e", batch: int = 1,
                  **kwargs: Any) -> list[str]:
    probabilities = model.predict_proba(frame["review_text"].tolist())
    rows = [instance(row) for _, row in frame.iterrows()]
    return [
        capture_line(f"{prefix}-{start}", rows[start:start + batch],
                     probabilities[start:start + batch], model.labels, **kwargs)
        for start in range(0, len(rows), batch)
    ]


def ground_truth_line(event_id: str, labels: Sequence[int]) -> str:
    data = ",".join(str(label) for label in labels)
    return json.dumps({"groundTruthData": {"data": data, "encoding": "CSV"},
                       "eventMetadata": {"eventId": event_id}, "eventVersion": "0"})


def parsed(lines: Sequence[str]) -> Any:
    return parse_captures((f"line{i}", line) for i, line in enumerate(lines))


def write_capture_file(lake: LocalLake, endpoint: str, variant: str, when: dt_.datetime,
                       lines: Sequence[str], name: str = "capture.jsonl") -> str:
    key = LakeLayout.capture_hour(endpoint, variant, when) + name
    lake.write_bytes(key, ("\n".join(lines) + "\n").encode())
    return key


def write_ground_truth(lake: LocalLake, endpoint: str, when: dt_.datetime,
                       lines: Sequence[str]) -> str:
    key = LakeLayout.ground_truth_hour(endpoint, when) + "labels.jsonl"
    lake.write_bytes(key, ("\n".join(lines) + "\n").encode())
    return key
