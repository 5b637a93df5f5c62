"""The SageMaker Runtime API's side of an invocation: header checks and error shapes.

An application calls a SageMaker endpoint through the runtime API,
``POST /endpoints/{EndpointName}/invocations`` (``boto3.client("sagemaker-runtime")
.invoke_endpoint``), not the container's ``/invocations``. The runtime checks its own headers,
forwards the request to the model container, and wraps what the container says into its
rest-json protocol. These functions build exactly what botocore parses (``x-amzn-ErrorType``
names the error, the JSON body carries ``Message`` and the modelled fields), so the local
endpoint raises the same exceptions as AWS:

- ``ValidationError`` (400): an unknown endpoint, a bad runtime header, an oversize body, a
  target variant that is not in service;
- ``ModelError`` (424): the container answered 4xx/5xx; ``OriginalStatusCode`` and
  ``OriginalMessage`` carry its status and body;
- ``ServiceUnavailable`` (503): no variant of the endpoint is in service.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

ERROR_TYPE_HEADER = "x-amzn-ErrorType"
REQUEST_ID_HEADER = "x-amzn-RequestId"
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
VALIDATION_ERROR = "ValidationError"
MODEL_ERROR = "ModelError"
SERVICE_UNAVAILABLE = "ServiceUnavailable"
# The local target has no AWS account; this one stands in where AWS's messages name it.
LOCAL_ACCOUNT_ID = "000000000000"

# Constraints of the runtime's request headers (botocore's service model for InvokeEndpoint).
_INFERENCE_ID = re.compile(r"^\S[\x20-\x7e]*$")
_VARIANT = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_ASCII = re.compile(r"^[\x00-\x7f]*$")


@dataclass(frozen=True)
class ApiError:
    """One runtime API error response: status, error name, and body."""

    status: int
    code: str
    body: bytes

    def headers(self, request_id: str) -> dict[str, str]:
        return {"content-type": "application/json", ERROR_TYPE_HEADER: self.code,
                REQUEST_ID_HEADER: request_id}


def error(code: str, message: str, **fields: object) -> ApiError:
    """An error of the runtime API; ``fields`` are the error shape's modelled members."""
    status = {VALIDATION_ERROR: 400, MODEL_ERROR: 424, SERVICE_UNAVAILABLE: 503}[code]
    return ApiError(status, code, json.dumps({"Message": message, **fields}).encode("utf-8"))


def endpoint_not_found(name: str, account: str = LOCAL_ACCOUNT_ID) -> ApiError:
    """AWS's answer for an endpoint name the account does not have."""
    return error(VALIDATION_ERROR, f"Endpoint {name} of account {account} not found.")


def _constraint(value: str, member: str, constraint: str) -> str:
    return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must {constraint}")


def check_headers(inference_id: str | None, custom_attributes: str | None,
                  target_variant: str | None) -> ApiError | None:
    """The runtime's own header validation, in AWS's wording; ``None`` when all are valid."""
    if inference_id is not None:
        if not 1 <= len(inference_id) <= 64:
            return error(VALIDATION_ERROR, _constraint(
                inference_id, "inferenceId", "have length between 1 and 64"))
        if not _INFERENCE_ID.match(inference_id):
            return error(VALIDATION_ERROR, _constraint(
                inference_id, "inferenceId", r"satisfy regular expression pattern: \A\S[\p{Print}]*\z"))
    if custom_attributes is not None and (len(custom_attributes) > 1024
                                          or not _ASCII.match(custom_attributes)):
        return error(VALIDATION_ERROR, _constraint(
            custom_attributes[:64], "customAttributes",
            "have length less than or equal to 1024 and be US-ASCII"))
    if target_variant is not None and (len(target_variant) > 63
                                       or not _VARIANT.match(target_variant)):
        return error(VALIDATION_ERROR, _constraint(
            target_variant, "targetVariant",
            "satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"))
    return None


def oversize_body(request_id: str, size: int | None, limit: int) -> ApiError:
    """AWS's oversize-body message, with the local limit that applies."""
    got = f"{size} bytes" if size is not None else "more bytes"
    return error(VALIDATION_ERROR, f"Request {request_id} has oversize body. ({got}; the local "
                                   f"endpoint accepts at most {limit} bytes: serving.max_body_bytes)")


def model_error(status: int, container_body: bytes, log_location: str) -> ApiError:
    """The container answered ``status``: AWS's ``ModelError`` wrapping of its answer."""
    original = container_body.decode("utf-8", "replace")
    side = "client" if 400 <= status < 500 else "server"
    return error(
        MODEL_ERROR,
        f'Received {side} error ({status}) from primary with message "{original}". '
        f"See {log_location} for more information.",
        OriginalStatusCode=status, OriginalMessage=original)
