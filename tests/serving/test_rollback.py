"""Automatic rollback: a version that fails to load, and one that fails live traffic."""

from __future__ import annotations

import json

import pytest

from airsage.errors import StepFailed
from airsage.lake.local import LocalLake


def _lake(deployer) -> LocalLake:
    return LocalLake(deployer.settings)


def _serving(deployer) -> dict[str, float]:
    return {v["variant_name"]: v["weight"] for v in deployer.describe().variants}


def test_a_model_that_fails_to_load_never_gets_traffic(deployer_factory, models, version, call):
    deployer = deployer_factory()
    first = deployer.deploy(_lake(deployer), version("1", models.v1))
    with pytest.raises(StepFailed, match=r"failed to load.*no_such_family"):
        deployer.deploy(_lake(deployer), version("2", models.broken_load))
    assert _serving(deployer) == {"reviews-sentiment-v1": 100.0}
    assert call("GET", first.url + "/ping")[0] == 200


def test_error_rate_alarm_rolls_back(deployer_factory, start_load, models, version, call):
    deployer = deployer_factory(traffic_shift="canary", canary_percent=50, bake_seconds=1.5)
    first = deployer.deploy(_lake(deployer), version("1", models.v1))
    # "{oops}" passes v1 but makes the broken model raise; the smoke request passes both.
    load = start_load(first.url, until_variant="none", text="{oops} nice top",
                       minimum=300, maximum=300)
    with pytest.raises(StepFailed, match=r"rolled back at 50% traffic: alarm error_rate"):
        deployer.deploy(_lake(deployer), version("2", models.broken_predict))
    out, _ = load.communicate(timeout=120)
    result = json.loads(out)
    assert result["variants"].get("reviews-sentiment-v2", 0) > 0  # it did get canary traffic
    assert _serving(deployer) == {"reviews-sentiment-v1": 100.0}
    status, _h, _body = call("POST", first.url + "/invocations",
                            json.dumps({"instances": [{"review_text": "{oops}"}]}),
                            {"Content-Type": "application/json"})
    assert status == 200
