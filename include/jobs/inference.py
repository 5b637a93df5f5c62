"""SageMaker inference handlers for airsage's sentiment models.

A SageMaker framework container (and airsage's local model server) imports this file as the
entry point and calls ``model_fn`` once, then ``input_fn`` → ``predict_fn`` → ``output_fn``
per request. The request/response formats live in ``airsage.serving.contract`` (shipped beside
this script); a request that breaks them raises ``RequestError`` with a 4xx ``status``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from airsage.serving import contract
    from airsage.training.model import load_model
except ModuleNotFoundError as exc:  # run from a source checkout: the package is in plugins/
    if exc.name != "airsage":
        raise
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))
    from airsage.serving import contract
    from airsage.training.model import load_model

RequestError = contract.RequestError


def model_fn(model_dir: str | Path) -> Any:
    """Load the model extracted from ``model.tar.gz`` (any family registered in airsage)."""
    return load_model(Path(model_dir))


def input_fn(request_body: bytes | str, request_content_type: str | None) -> list[dict[str, Any]]:
    """The request's instances; raises ``RequestError`` (400/413/415) for a bad body."""
    return contract.parse_request(request_body, request_content_type)


def predict_fn(input_data: list[dict[str, Any]], model: Any) -> list[dict[str, Any]]:
    """Label and class probabilities of each instance."""
    return contract.predictions(model, input_data)


def output_fn(prediction: list[dict[str, Any]], accept: str | None) -> str:
    """Serialise predictions as ``accept`` asks (JSON by default, as SageMaker defaults)."""
    return contract.format_response(prediction, accept or contract.JSON)
