"""``airsage endpoint invoke``: the CLI calls the deployed endpoint through boto3."""

from __future__ import annotations

import json

from airsage import cli
from airsage.lake.local import LocalLake


def test_endpoint_invoke_through_the_runtime_api(deployer_factory, models, version, monkeypatch,
                                                 capsys):
    deployer = deployer_factory()
    deployed = deployer.deploy(LocalLake(deployer.settings), version("1", models.v1))
    monkeypatch.setenv("AIRSAGE_HOME", str(deployer.settings.home))
    code = cli.main(["endpoint", "invoke", "--text", "love this dress", "--text", "awful",
                     "--inference-id", "cli-1"])
    out = capsys.readouterr()
    assert code == 0, out.err
    answer = json.loads(out.out)
    assert answer["variant"] == deployed.variant_name
    assert len(answer["predictions"]) == 2
    code = cli.main(["endpoint", "invoke", "--text", "x", "--variant", "nope"])
    out = capsys.readouterr()
    assert code == 1
    assert out.err.startswith("airsage: ValidationError: target variant 'nope' does not exist")
