"""``airsage plan``: every request a run would make, without calling AWS.

The ``request`` phase of each step is pure, so a plan is a loop over the steps' requests for
one date; each request lists its service calls (service, operation, key parameters). Only
the data plane has aws requests so far; the ML plane adds its steps here when it has them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airsage.awsconf import AwsSettings, ServiceCall
from airsage.config import Settings
from airsage.errors import ConfigurationError


@dataclass(frozen=True)
class PlannedStep:
    """One step (task or task group id) with its request and the calls it makes."""

    step: str
    request: Any
    calls: tuple[ServiceCall, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "request": self.request.to_dict(),
                "calls": [c.to_dict() for c in self.calls]}


def quality_request(settings: Settings, dataset: str, day: str) -> Any:
    """The quality gate's request for the configured engine (Glue DQ or PyDeequ)."""
    from airsage.quality.aws import deequ_job_request, glue_dq_request

    if AwsSettings.from_settings(settings).quality_engine == "pydeequ":
        return deequ_job_request(settings, dataset, day)
    return glue_dq_request(settings, dataset, day)


def data_plane(settings: Settings, dataset: str, day: str) -> list[PlannedStep]:
    """The crawl, validate and quality-gate requests of ``dataset`` for ``day``."""
    from airsage.airflow import names
    from airsage.catalog.aws import crawl_request
    from airsage.sql.aws import validate_request

    builders: list[tuple[str, Callable[[Settings, str, str], Any]]] = [
        (names.CRAWL, crawl_request),
        (names.VALIDATE_SQL, validate_request),
        (names.QUALITY_GATE, quality_request),
    ]
    steps = []
    for step, build in builders:
        request = build(settings, dataset, day)
        steps.append(PlannedStep(step, request, tuple(request.calls())))
    return steps


def plan(settings: Settings, day: str, *, dataset: str = "reviews") -> list[PlannedStep]:
    if settings.target != "aws":
        raise ConfigurationError(
            f"airsage plan lists aws requests; the configured target is {settings.target!r} "
            "(pass --target aws, or set AIRSAGE_TARGET=aws)")
    return data_plane(settings, dataset, day)


def _short(value: Any, limit: int = 90) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(steps: list[PlannedStep], day: str) -> str:
    """The plan as text: one block per step, one line per call, its key parameters below."""
    lines = [f"airsage plan — target aws, partition {day}"]
    for step in steps:
        lines.append(f"\n{step.step}")
        for call in step.calls:
            lines.append(f"  {call.service} {call.operation}")
            for key, value in call.parameters.items():
                lines.append(f"      {key}: {_short(value)}")
    role_missing = any(c.parameters.get("Role") == "" or c.parameters.get("RoleArn") == ""
                       for s in steps for c in s.calls)
    if role_missing:
        lines.append("\nnote: aws.role_arn is not set; the crawler and quality runs need it")
    return "\n".join(lines)
