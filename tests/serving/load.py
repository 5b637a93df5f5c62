"""A load generator run as a separate process by the deployer tests.

Usage: python load.py URL MIN_REQUESTS UNTIL_VARIANT MAX_REQUESTS TEXT
Sends JSON invocations (5 ms apart) until MIN_REQUESTS were sent and UNTIL_VARIANT answered
at least 20 of them (or MAX_REQUESTS bounds it); prints {"statuses": {...}, "variants": {...}}.
"""

from __future__ import annotations

import collections
import json
import sys
import time
import urllib.error
import urllib.request


def main() -> None:
    url, until, text = sys.argv[1], sys.argv[3], sys.argv[5]
    minimum, maximum = int(sys.argv[2]), int(sys.argv[4])
    statuses: collections.Counter[str] = collections.Counter()
    variants: collections.Counter[str] = collections.Counter()
    body = json.dumps({"instances": [{"review_text": text}]}).encode()
    for sent in range(1, maximum + 1):
        request = urllib.request.Request(url + "/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                statuses[str(response.status)] += 1
                variants[response.headers.get("X-Amzn-Invoked-Production-Variant", "")] += 1
        except urllib.error.HTTPError as exc:
            statuses[str(exc.code)] += 1
            variants[exc.headers.get("X-Amzn-Invoked-Production-Variant", "")] += 1
        except OSError as exc:
            statuses[f"connection:{type(exc).__name__}"] += 1
        if sent >= minimum and variants[until] >= 20:
            break
        time.sleep(0.005)
    print(json.dumps({"statuses": statuses, "variants": variants}))


if __name__ == "__main__":
    main()
