"""``bias.engine: clarify`` against moto's SageMaker and S3: the bias gate's processing job runs
Clarify's image, and the ``analysis.json`` Clarify writes is judged by the same
``collect_bias`` into the same verdict as airsage's own job's.

moto runs no container: ``state_job_end`` makes the created job write what Clarify's container
writes to ``processing/output`` (``analysis.json``, with Clarify's shape: no ``rows`` or
``skipped``, which are airsage's additions).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, REGION, ROLE, client

from airsage.bias.gate import bias_request, collect_bias, run_bias_gate
from airsage.config import load_settings
from airsage.errors import GateFailedError
from airsage.jobs.aws import SageMakerJobRunner, clarify_image
from airsage.lake.aws import S3Lake

DAY = "2026-02-10"
DATA_KEY = f"curated/reviews/dt={DAY}/reviews.parquet"
REPORT_PREFIX = f"reports/bias/reviews/dt={DAY}/pre_training/"
PREFIX = LAKE_ROOT.split("/", 3)[3]
DESCRIPTIONS = {
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "KL": "Kullback-Liebler Divergence (KL)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
}


def _group(value: str, dpl: float) -> dict[str, Any]:
    """One facet value as Clarify reports it (binary outcome: TVD = KS = |DPL|, LP = √2 |DPL|)."""
    values = {"CDDL": dpl / 4, "CI": 0.6, "DPL": dpl, "JS": dpl * dpl / 4, "KL": dpl * dpl,
              "KS": abs(dpl), "LP": 1.4142 * abs(dpl), "TVD": abs(dpl)}
    return {"value_or_threshold": value, "metrics": [
        {"name": name, "description": DESCRIPTIONS[name], "value": values[name]}
        for name in sorted(values)]}


def _clarify_analysis(intimate_dpl: float) -> bytes:
    """``analysis.json`` as Clarify's container writes it for a facet without a value."""
    return json.dumps({"version": "1.0", "pre_training_bias_metrics": {
        "label": "sentiment", "label_value_or_threshold": "1",
        "facets": {"department_name": [_group("Intimate", intimate_dpl),
                                       _group("Tops", -0.03)]}}}).encode()


def _settings(tmp_path: Any, engine: str) -> Any:
    return load_settings(environ={}, overrides={
        "target": "aws", "home": str(tmp_path / "home"), "lake": {"root": LAKE_ROOT},
        "aws": {"role_arn": ROLE, "region": REGION}, "bias": {"engine": engine}})


@pytest.fixture
def lake(aws_env, aws_settings) -> S3Lake:
    lake = S3Lake(aws_settings)
    lake.write_bytes(DATA_KEY, b"PAR1")
    return lake


def _run(aws_env, settings, lake, analysis: bytes) -> tuple[Any, dict[str, Any]]:
    request = bias_request(settings, "reviews", DAY, DATA_KEY)
    aws_env.state_job_end(request.job_name, objects={
        f"{BUCKET}/{PREFIX}/{REPORT_PREFIX}analysis.json": analysis})
    sagemaker = client("sagemaker")
    report = run_bias_gate(settings, lake, "reviews", DAY, DATA_KEY,
                           runner=SageMakerJobRunner(settings, client=sagemaker))
    return report, sagemaker.describe_processing_job(ProcessingJobName=request.job_name)


def test_the_bias_job_runs_clarifys_image_and_its_analysis_gets_airsages_verdict(
        aws_env, tmp_path, lake) -> None:
    settings = _settings(tmp_path, "clarify")
    report, job = _run(aws_env, settings, lake, _clarify_analysis(0.05))
    request = bias_request(settings, "reviews", DAY, DATA_KEY)

    assert job["AppSpecification"] == {"ImageUri": clarify_image(REGION)}
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in job["ProcessingInputs"]}
    staged = f"staging/{request.job_name}/config/analysis_config.json"
    assert inputs == {"analysis_config": f"{LAKE_ROOT}/{staged}",
                      "dataset": f"{LAKE_ROOT}/{DATA_KEY}"}
    assert json.loads(lake.read_bytes(staged)) == request.config
    assert not any(lake.list("code/"))  # no airsage code for Clarify's container
    [output] = job["ProcessingOutputConfig"]["Outputs"]
    assert (output["OutputName"], output["S3Output"]["S3Uri"]) == (
        "analysis_result", f"{LAKE_ROOT}/{REPORT_PREFIX}")

    assert report.status == "pass"
    assert {(g["value"], g["status"]) for g in report.groups} == {
        ("Intimate", "pass"), ("Tops", "pass")}
    assert report.report_uri == f"{LAKE_ROOT}/{REPORT_PREFIX}analysis.json"
    # the same collect over the same output prefix, from airsage's own request: same verdict
    airsage = bias_request(_settings(tmp_path, "airsage"), "reviews", DAY, DATA_KEY)
    again = collect_bias(_settings(tmp_path, "airsage"), lake, airsage, "reviews", DAY)
    assert again.to_dict() == report.to_dict()


def test_a_biased_batch_measured_by_clarify_is_refused_with_rule_measured_and_expected(
        aws_env, tmp_path, lake) -> None:
    settings = _settings(tmp_path, "clarify")
    with pytest.raises(GateFailedError) as caught:
        _run(aws_env, settings, lake, _clarify_analysis(0.3))
    failure = next(f for f in caught.value.failures
                   if f.check == "DPL (facet department_name=Intimate)")
    assert failure.measured == pytest.approx(0.3) and failure.expected == "|DPL| <= 0.2"
    verdict = json.loads(lake.read_bytes(REPORT_PREFIX + "verdict.json"))
    assert verdict["status"] == "fail" and verdict["data_key"] == DATA_KEY
    [job] = client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    assert client("sagemaker").describe_processing_job(ProcessingJobName=job[
        "ProcessingJobName"])["AppSpecification"]["ImageUri"] == clarify_image(REGION)


def test_the_airflow_groups_request_and_collect_phases_carry_the_clarify_job(
        aws_env, tmp_path, lake) -> None:
    """The bias_gate task group's phases (airsage.airflow.aws_jobs) with bias.engine: clarify:
    the request phase records the Clarify request and builds Clarify's CreateProcessingJob
    arguments, the collect phase judges the completed job's analysis.json."""
    from airsage.airflow.aws_jobs import CompletedJob, JobRequested, RequestRecorder, _submission
    from airsage.jobs.reattach import SUBMIT
    from airsage.jobs.request import JobRequest

    settings = _settings(tmp_path, "clarify")
    with pytest.raises(JobRequested) as asked:
        run_bias_gate(settings, lake, "reviews", DAY, DATA_KEY, runner=RequestRecorder())
    request = asked.value.request
    payload = json.loads(json.dumps(_submission(settings, lake, request, "processing")))
    assert payload["job"]["action"] == SUBMIT
    assert payload["config"]["AppSpecification"] == {"ImageUri": clarify_image(REGION)}

    # what the job task's SageMakerProcessingOperator sends (moto: Completed on creation)
    aws_env.state_job_end(request.job_name, objects={
        f"{BUCKET}/{PREFIX}/{REPORT_PREFIX}analysis.json": _clarify_analysis(0.15)})
    sagemaker = client("sagemaker")
    sagemaker.create_processing_job(**payload["config"])

    runner = CompletedJob(JobRequest.from_dict(payload["request"]), request.job_name, sagemaker)
    report = run_bias_gate(settings, lake, "reviews", DAY, DATA_KEY, runner=runner)
    assert report.status == "warn"  # |DPL| 0.15 > warn 0.12, <= fail 0.2; LP 0.212 > 0.2
    assert sorted(c.metric for c in report.warnings if c.group == "department_name=Intimate") \
        == ["DPL", "KS", "LP", "TVD"]
