"""Blue/green deployment to a detached local server: swap under load, rollback, no-op."""

from __future__ import annotations

import json

from airsage.lake.local import LocalLake
from airsage.serving.endpoint import state_file_for


def _lake(deployer) -> LocalLake:
    return LocalLake(deployer.settings)


def _serving(deployer) -> dict[str, float]:
    return {v["variant_name"]: v["weight"] for v in deployer.describe().variants}


def test_blue_green_swap_under_load_has_no_failed_request(
    deployer_factory, start_load, models, version, call
):
    deployer = deployer_factory(traffic_shift="canary", canary_percent=50, bake_seconds=0.5)
    first = deployer.deploy(_lake(deployer), version("1", models.v1))
    assert first.action == "created" and first.variant_name == "reviews-sentiment-v1"
    state = json.loads(state_file_for(deployer.settings, first.endpoint).read_text())
    assert state["url"] == first.url and state["pid"] > 0
    assert call("GET", first.url + "/ping")[0] == 200

    load = start_load(first.url, until_variant="reviews-sentiment-v2")
    second = deployer.deploy(_lake(deployer), version("2", models.v2))
    out, _ = load.communicate(timeout=120)
    result = json.loads(out)
    assert second.action == "updated" and second.traffic_steps == (50.0, 100.0)
    assert second.replaced_variants == ("reviews-sentiment-v1",)
    assert set(result["statuses"]) == {"200"}, result  # zero failed requests
    assert sum(result["statuses"].values()) >= 300
    assert result["variants"].get("reviews-sentiment-v1", 0) > 0
    assert result["variants"].get("reviews-sentiment-v2", 0) >= 20
    assert _serving(deployer) == {"reviews-sentiment-v2": 100.0}


def test_deploying_the_serving_version_is_a_noop(deployer_factory, models, version):
    deployer = deployer_factory()
    deployer.deploy(_lake(deployer), version("1", models.v1))
    again = deployer.deploy(_lake(deployer), version("1", models.v1))
    assert again.action == "noop" and again.variant_name == "reviews-sentiment-v1"
    described = deployer.describe()
    assert described.status == "InService"
    assert [(v["variant_name"], v["weight"]) for v in described.variants] == [
        ("reviews-sentiment-v1", 100.0)]


def test_stop_and_restart_restores_the_endpoint(deployer_factory, models, version, call):
    deployer = deployer_factory()
    first = deployer.deploy(_lake(deployer), version("1", models.v1))
    assert deployer.stop() is True
    described = deployer.describe()
    assert described.status == "OutOfService" and described.url is None
    assert [v["variant_name"] for v in described.variants] == ["reviews-sentiment-v1"]
    # The next deploy starts a server that reloads the saved variant: nothing to change.
    again = deployer.deploy(_lake(deployer), version("1", models.v1))
    assert again.action == "noop"
    assert call("GET", again.url + "/ping")[0] == 200
    assert first.endpoint == again.endpoint


def test_a_keep_serving_reason_keeps_the_serving_model(deployer_factory, models, version):
    """Asked under the endpoint's lock: an older model cannot replace a newer one, even when
    two runs deploy at once."""
    deployer = deployer_factory()
    deployer.deploy(_lake(deployer), version("2", models.v2))
    asked: list[list[str]] = []

    def keep(serving):
        asked.append([v["variant_name"] for v in serving])
        return "v2 was trained on newer data"

    kept = deployer.deploy(_lake(deployer), version("1", models.v1), keep_serving=keep)
    assert kept.action == "kept" and kept.reason == "v2 was trained on newer data"
    assert asked == [["reviews-sentiment-v2"]]
    assert _serving(deployer) == {"reviews-sentiment-v2": 100.0}
    replaced = deployer.deploy(_lake(deployer), version("3", models.v1), keep_serving=lambda s: None)
    assert replaced.action == "updated" and _serving(deployer) == {"reviews-sentiment-v3": 100.0}
