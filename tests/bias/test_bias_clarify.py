"""``bias.engine: clarify``: the bias request for SageMaker Clarify's own container (pure).

The Clarify job is the airsage job's request with Clarify's config and image: same job name,
data key and output prefix, the analysis config less airsage's additions (checked against the
SageMaker SDK's own schema of Clarify's analysis config), Clarify's processing contract.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_helpers import LAKE_ROOT, REGION, ROLE
from test_bias_gate import DATA_KEY, DAY

from airsage.bias.base import BiasSettings
from airsage.bias.gate import (
    analysis_config,
    bias_request,
    clarify_analysis_config,
    clarify_request,
)
from airsage.config import load_settings
from airsage.errors import ConfigurationError, InputDataError
from airsage.jobs.aws import (
    CLARIFY_JOB,
    CodeBundle,
    JobTarget,
    processing_job_config,
    stage,
    staged_keys,
    training_job_config,
)
from airsage.lake.local import LocalLake

REPORT_PREFIX = f"reports/bias/reviews/dt={DAY}/pre_training/"


def _settings(tmp_path: Any, target: str = "aws", **bias: Any) -> Any:
    overrides: dict[str, Any] = {"target": target, "home": str(tmp_path / "home"),
                                 "bias": {"engine": "clarify", **bias}}
    if target == "aws":
        overrides |= {"lake": {"root": LAKE_ROOT},
                      "aws": {"role_arn": ROLE, "region": REGION}}
    return load_settings(environ={}, overrides=overrides)


def _clarify_schema() -> Any:
    from sagemaker.core.clarify import ANALYSIS_CONFIG_SCHEMA_V1_0

    return ANALYSIS_CONFIG_SCHEMA_V1_0


def test_the_engine_defaults_to_airsage_and_an_unknown_one_names_the_valid_ones(settings):
    assert BiasSettings.from_settings(settings).engine == "airsage"
    assert bias_request(settings, "reviews", DAY, DATA_KEY).script == "bias.py"
    raw = dict(settings.section("bias"))
    with pytest.raises(ConfigurationError, match=r"bias.engine .* 'sagemaker'; use 'airsage' "
                                                 r".* or 'clarify'"):
        BiasSettings.from_mapping({**raw, "engine": "sagemaker"})


def test_clarify_on_the_local_target_is_refused_with_why_and_what_to_do(tmp_path):
    with pytest.raises(ConfigurationError, match=r"only as a SageMaker processing job; the "
                                                 r"'local' target cannot run it\. Use "
                                                 r"bias.engine: airsage"):
        bias_request(_settings(tmp_path, target="local"), "reviews", DAY, DATA_KEY)


def test_the_clarify_request_is_the_airsage_request_with_clarifys_config(tmp_path, settings):
    clarify_settings = _settings(tmp_path)
    request = bias_request(clarify_settings, "reviews", DAY, DATA_KEY)
    airsage = bias_request(settings, "reviews", DAY, DATA_KEY)
    assert request.script == CLARIFY_JOB
    assert (request.job_name, request.inputs, request.outputs, request.timeout_seconds) == (
        airsage.job_name, airsage.inputs, airsage.outputs, airsage.timeout_seconds)
    assert request.outputs == {"analysis": REPORT_PREFIX}  # where collect_bias reads
    assert request == clarify_request(airsage, target="aws")
    # derived from the one analysis config: same facets, label, group and methods
    full = analysis_config(BiasSettings.from_settings(clarify_settings))
    assert request.config == clarify_analysis_config(full)
    for key in ("dataset_type", "label", "label_values_or_threshold", "group_variable",
                "methods"):
        assert request.config[key] == full[key]
    assert [f["name_or_index"] for f in request.config["facet"]] == ["department_name"]
    assert "value_or_threshold" not in request.config["facet"][0]  # gate_groups: all
    assert request.config["methods"] == {"pre_training_bias": {"methods": "all"}}


def test_clarifys_schema_accepts_the_clarify_config_and_refuses_airsages_additions(tmp_path):
    from schema import SchemaError

    for bias in ({}, {"gate_groups": "configured"},
                 {"gate_groups": "configured", "facet": "age", "facet_values": None,
                  "facet_threshold": 40}):
        request = bias_request(_settings(tmp_path, **bias), "reviews", DAY, DATA_KEY)
        _clarify_schema().validate(dict(request.config))
        full = analysis_config(BiasSettings.from_settings(_settings(tmp_path, **bias)),
                               dataset_type="application/x-parquet")
        with pytest.raises(SchemaError):  # label_type, min_group_size, facet_type
            _clarify_schema().validate(full)
    configured = bias_request(_settings(tmp_path, gate_groups="configured"), "reviews", DAY,
                              DATA_KEY)
    assert configured.config["facet"] == [{"name_or_index": "department_name",
                                           "value_or_threshold": ["Intimate"]}]


def test_clarify_gets_parquet_and_csv_as_they_are_and_json_lines_is_refused(tmp_path):
    settings = _settings(tmp_path)
    csv = bias_request(settings, "reviews", DAY, DATA_KEY.replace(".parquet", ".csv"))
    assert csv.config["dataset_type"] == "text/csv" and "headers" not in csv.config
    assert csv.inputs == {"data": DATA_KEY.replace(".parquet", ".csv")}
    with pytest.raises(InputDataError, match=r"dense 'features' array.*Curate the batch as "
                                             r"Parquet"):
        bias_request(settings, "reviews", DAY, DATA_KEY.replace(".parquet", ".jsonl"))


def test_the_processing_job_runs_clarifys_image_with_clarifys_inputs_and_output(tmp_path):
    from sagemaker.core import image_uris

    settings = _settings(tmp_path)
    request = bias_request(settings, "reviews", DAY, DATA_KEY)
    target = JobTarget.from_settings(settings)
    bundle = CodeBundle.for_script(request.script)
    config = processing_job_config(request, request.job_name, target, bundle)
    assert config["AppSpecification"] == {
        "ImageUri": image_uris.retrieve("clarify", REGION)}  # no entry point: Clarify's own
    assert config["AppSpecification"]["ImageUri"].endswith("/sagemaker-clarify-processing:1.0")
    inputs = {i["InputName"]: (i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"])
              for i in config["ProcessingInputs"]}
    assert inputs == {
        "analysis_config": (
            f"{LAKE_ROOT}/staging/{request.job_name}/config/analysis_config.json",
            "/opt/ml/processing/input/config"),
        "dataset": (f"{LAKE_ROOT}/{DATA_KEY}", "/opt/ml/processing/input/data"),
    }
    [output] = config["ProcessingOutputConfig"]["Outputs"]
    assert output == {"OutputName": "analysis_result", "S3Output": {
        "S3Uri": f"{LAKE_ROOT}/{REPORT_PREFIX}", "LocalPath": "/opt/ml/processing/output",
        "S3UploadMode": "EndOfJob"}}
    assert config["RoleArn"] == ROLE
    assert config["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    with pytest.raises(ConfigurationError, match="one dataset and writes one output"):
        processing_job_config(request.with_changes(inputs={"data": DATA_KEY, "x": DATA_KEY}),
                              request.job_name, target, bundle)
    training = request.with_changes(kind="training", outputs={"model": "models/m.tar.gz"})
    with pytest.raises(ConfigurationError, match="a processing container, not a training"):
        training_job_config(training, request.job_name, target, bundle)


def test_staging_writes_clarifys_analysis_config_and_no_code(tmp_path):
    settings = _settings(tmp_path)
    request = bias_request(settings, "reviews", DAY, DATA_KEY)
    lake = LocalLake(root=tmp_path / "lake")
    lake.write_bytes(DATA_KEY, b"PAR1")
    lake.write_bytes(REPORT_PREFIX + "analysis.json", b"{}")  # an earlier run's output
    bundle = stage(lake, request, request.job_name)
    key = f"staging/{request.job_name}/config/analysis_config.json"
    assert json.loads(lake.read_bytes(key)) == request.config
    assert not any(lake.list("code/"))  # Clarify's container brings its own code
    assert not any(lake.list(REPORT_PREFIX))  # outputs cleared, as for every job
    written = {p.relative_to(tmp_path / "lake").as_posix()
               for p in (tmp_path / "lake").rglob("*") if p.is_file()} - {DATA_KEY}
    assert set(staged_keys(request, request.job_name, bundle)) == written == {key}


def test_the_execution_role_may_pull_clarifys_image():
    """The role's image pulls are by repository name; Clarify's must be among them."""
    from fnmatch import fnmatch

    from airsage.config import INCLUDE_DIR
    from airsage.jobs.aws import clarify_image

    image = clarify_image(REGION)  # <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>
    account, repository = image.split(".", 1)[0], image.split("/", 1)[1].split(":", 1)[0]
    role = json.loads((INCLUDE_DIR / "iam" / "sagemaker-execution-role.json").read_text())
    [pull] = [s for s in role["Statement"] if s.get("Sid") == "PullFrameworkImages"]
    arn = f"arn:aws:ecr:{REGION}:{account}:repository/{repository}"
    assert any(fnmatch(arn, pattern.replace("${Region}", REGION))
               for pattern in pull["Resource"]), (arn, pull["Resource"])
