"""A load generator run as a separate process by the deployer tests: boto3's runtime client.

Usage: python load.py URL MIN_REQUESTS UNTIL_VARIANT MAX_REQUESTS TEXT [ENDPOINT]
Invokes the endpoint (5 ms apart, no retries, so every failure counts) until MIN_REQUESTS
were sent and UNTIL_VARIANT answered at least 20 of them (or MAX_REQUESTS bounds it); prints
"ready" once the client is built, then {"statuses": {...}, "variants": {...}}.
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from botocore.exceptions import BotoCoreError, ClientError

from airsage.serving.client import runtime_client


def main() -> None:
    url, until, text = sys.argv[1], sys.argv[3], sys.argv[5]
    minimum, maximum = int(sys.argv[2]), int(sys.argv[4])
    endpoint = sys.argv[6] if len(sys.argv) > 6 else "reviews-sentiment"
    runtime = runtime_client(url, attempts=1)
    statuses: collections.Counter[str] = collections.Counter()
    variants: collections.Counter[str] = collections.Counter()
    body = json.dumps({"instances": [{"review_text": text}]}).encode()
    print("ready", flush=True)  # boto3 is loaded: the caller may start what the load watches
    for sent in range(1, maximum + 1):
        try:
            response = runtime.invoke_endpoint(EndpointName=endpoint, Body=body,
                                               ContentType="application/json")
            response["Body"].read()
            statuses["200"] += 1
            variants[response["InvokedProductionVariant"]] += 1
        except ClientError as exc:
            statuses[str(exc.response["ResponseMetadata"]["HTTPStatusCode"])] += 1
            variants[exc.response["ResponseMetadata"]["HTTPHeaders"].get(
                "x-amzn-invoked-production-variant", "")] += 1
        except BotoCoreError as exc:
            statuses[f"connection:{type(exc).__name__}"] += 1
        if sent >= minimum and variants[until] >= 20:
            break
        time.sleep(0.005)
    print(json.dumps({"statuses": statuses, "variants": variants}))


if __name__ == "__main__":
    main()
