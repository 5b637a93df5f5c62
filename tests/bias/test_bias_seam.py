"""The bias gate's request and collect phases, without a job run and without Airflow."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from test_bias_gate import DATA_KEY, DAY, batch

from airsage.bias.base import BiasSettings
from airsage.bias.gate import analysis_config, bias_request, collect_bias
from airsage.config import INCLUDE_DIR
from airsage.errors import GateFailedError, InputDataError, StepFailed
from airsage.jobs.request import JobRequest

REPORT_PREFIX = f"reports/bias/reviews/dt={DAY}/pre_training/"


def _analysis(frame, config: dict) -> dict:
    """What include/jobs/bias.py writes for ``frame``: its own functions, in this process."""
    spec = importlib.util.spec_from_file_location("bias_job", INCLUDE_DIR / "jobs" / "bias.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.analyze(frame, config)


def test_the_request_names_lake_keys_the_script_and_clarifys_config(settings):
    request = bias_request(settings, "reviews", DAY, DATA_KEY)
    assert request.kind == "processing" and request.script == "bias.py"
    assert request.job_name == "reviews-20240301-bias-gate"
    assert request.inputs == {"data": DATA_KEY}
    assert request.outputs == {"analysis": REPORT_PREFIX}
    assert request.config == analysis_config(BiasSettings.from_settings(settings))
    assert request.timeout_seconds == BiasSettings.from_settings(settings).job_timeout_seconds
    assert JobRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    csv = bias_request(settings, "reviews", DAY, DATA_KEY.replace(".parquet", ".csv"))
    assert csv.config["dataset_type"] == "text/csv"
    with pytest.raises(InputDataError, match="cannot tell the format"):
        bias_request(settings, "reviews", DAY, "curated/reviews/batch.xlsx")


def _collect(settings, lake, frame):
    request = bias_request(settings, "reviews", DAY, DATA_KEY)
    analysis = _analysis(frame, dict(request.config))
    lake.write_bytes(REPORT_PREFIX + "analysis.json", json.dumps(analysis).encode())
    return collect_bias(settings, lake, request, "reviews", DAY)


def test_collect_judges_the_analysis_read_back_and_writes_the_verdict(settings, lake):
    report = _collect(settings, lake, batch(0.775))
    assert report.status == "pass"
    assert report.report_uri == lake.uri(REPORT_PREFIX + "analysis.json")
    verdict = json.loads(lake.read_bytes(REPORT_PREFIX + "verdict.json"))
    assert verdict["status"] == "pass" and verdict["data_key"] == DATA_KEY
    assert {g["value"] for g in report.groups} == {"Intimate", "Tops"}


def test_collect_refuses_with_rule_measured_and_expected(settings, lake):
    with pytest.raises(GateFailedError) as caught:
        _collect(settings, lake, batch(0.30))
    failure = next(f for f in caught.value.failures
                   if f.check == "DPL (facet department_name=Intimate)")
    assert failure.expected.startswith("|DPL| <= ")
    assert failure.measured == pytest.approx(0.77 - 0.30, abs=0.01)
    # the verdict is written before the refusal: the report shows why
    assert json.loads(lake.read_bytes(REPORT_PREFIX + "verdict.json"))["status"] == "fail"


def test_collect_without_the_jobs_output_is_a_step_failure(settings, lake):
    request = bias_request(settings, "reviews", DAY, DATA_KEY)
    with pytest.raises(StepFailed, match=r"left no readable analysis\.json"):
        collect_bias(settings, lake, request, "reviews", DAY)


def test_the_job_script_writes_where_the_request_says(settings):
    """The script's output folder name is the request's output name."""
    text = Path(INCLUDE_DIR / "jobs" / "bias.py").read_text()
    assert 'OUTPUT = "analysis"' in text and 'DATA_CHANNEL = "data"' in text
    assert set(bias_request(settings, "reviews", DAY, DATA_KEY).outputs) == {"analysis"}
