"""airsage's endpoint client: boto3's ``sagemaker-runtime`` on both targets.

An application calls a SageMaker endpoint with ``invoke_endpoint``; the local model server
answers the same runtime API, so the only difference between the targets is
``endpoint_url`` (the local server's URL; ``None`` on AWS, where boto3 resolves the regional
runtime endpoint and signs with the usual credentials). Locally the requests go unsigned: the
server listens on loopback and needs no AWS credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airsage.serving.base import ServingConfig

INSTANCE_FIELDS = ("review_id", "review_text", "age", "division_name", "department_name", "class_name")
DEFAULT_ENDPOINT = ServingConfig.endpoint
DEFAULT_REGION = "us-east-1"
JSON = "application/json"


def runtime_client(endpoint_url: str | None = None, *, region: str | None = None,
                   timeout: float = 30.0, attempts: int | None = None) -> Any:
    """A boto3 ``sagemaker-runtime`` client; ``endpoint_url`` points it at a local server.

    ``attempts`` bounds botocore's tries per call (1: no retry, so a load test sees every
    failure); ``None`` keeps botocore's retry policy."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    options: dict[str, Any] = {"read_timeout": timeout, "connect_timeout": min(timeout, 10.0)}
    if endpoint_url:
        options["signature_version"] = UNSIGNED
    if attempts is not None:
        options["retries"] = {"mode": "standard", "total_max_attempts": attempts}
    return boto3.client("sagemaker-runtime", endpoint_url=endpoint_url,
                        region_name=region or DEFAULT_REGION, config=Config(**options))


@dataclass(frozen=True)
class Prediction:
    """An answer of the endpoint: the decoded predictions and the variant that made them."""

    predictions: list[dict[str, Any]]
    variant: str


class EndpointClient:
    """Invoke one endpoint by name, locally (``endpoint_url``) or on AWS (``None``)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, endpoint_url: str | None = None,
                 region: str | None = None, timeout: float = 30.0, client: Any = None) -> None:
        self.endpoint = endpoint
        self.client = client or runtime_client(endpoint_url, region=region, timeout=timeout)

    def invoke(self, instances: list[dict[str, Any]], *, target_variant: str | None = None,
               inference_id: str | None = None) -> Prediction:
        """``invoke_endpoint`` with a JSON body; botocore raises the runtime's errors."""
        kwargs: dict[str, Any] = {"EndpointName": self.endpoint, "ContentType": JSON,
                                  "Accept": JSON,
                                  "Body": json.dumps({"instances": instances}).encode("utf-8")}
        if target_variant:
            kwargs["TargetVariant"] = target_variant
        if inference_id:
            kwargs["InferenceId"] = inference_id
        response = self.client.invoke_endpoint(**kwargs)
        answer = json.loads(response["Body"].read())
        predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(instances):
            raise ValueError(f"endpoint {self.endpoint} answered {answer!r} for "
                             f"{len(instances)} instance(s); expected one prediction each")
        return Prediction(predictions, response.get("InvokedProductionVariant", ""))


def invoke(url: str | None, instances: list[dict[str, Any]], *,
           endpoint: str = DEFAULT_ENDPOINT, timeout: float = 30.0) -> dict[str, Any]:
    """One invocation of ``endpoint`` (local at ``url``, or on AWS when ``url`` is None)."""
    answer = EndpointClient(endpoint, endpoint_url=url, timeout=timeout).invoke(instances)
    return {"predictions": answer.predictions}


def generated_instances(*, rows: int, seed: int, day: str, drift: float = 0.0) -> list[dict[str, Any]]:
    """Request instances built from generated reviews (the fields a client would send)."""
    import pandas as pd

    from airsage.data.generator import GeneratorConfig, generate_batch

    frame = generate_batch(GeneratorConfig(rows=rows, seed=seed, day=day, drift=drift))
    instances: list[dict[str, Any]] = []
    for row in frame[list(INSTANCE_FIELDS)].to_dict(orient="records"):
        instances.append(
            {str(k): (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
             for k, v in row.items()}
        )
    return instances


def send_reviews(url: str | None, *, rows: int, seed: int, day: str, drift: float = 0.0,
                 per_request: int = 10, endpoint: str = DEFAULT_ENDPOINT) -> int:
    """Send ``rows`` generated reviews in requests of ``per_request``; return requests sent."""
    instances = generated_instances(rows=rows, seed=seed, day=day, drift=drift)
    client = EndpointClient(endpoint, endpoint_url=url)
    sent = 0
    for start in range(0, len(instances), per_request):
        client.invoke(instances[start : start + per_request])
        sent += 1
    return sent
