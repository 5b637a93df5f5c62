"""reviews_batch_scoring on the aws target under dag.test() against moto's server.

The ``score`` group asks SageMaker (moto) about the version's model and its transform job,
creates both through ``SageMakerTransformOperator`` (deferred), and collects the ``.out``.
The registry is the real SageMaker Model Registry on moto. moto runs no container: its
transform job is ``Completed`` at once and writes nothing, so the test states the ``.out``
the job writes (moto_ext's job ends) — produced here by the real inference handlers of
``include/jobs/inference.py`` over the JSON Lines the request stages, with Batch Transform's
record handling. What the test asserts on is what moto recorded of the CreateModel and
CreateTransformJob requests, and the predictions collect wrote to the lake's S3.
"""

from __future__ import annotations

import importlib.util
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, REGION, ROLE, client

from airsage.config import INCLUDE_DIR

DAY = "2026-03-02"
MODEL = "reviews-sentiment"
JOBS = ("reviews-20260302-train-aaaa1111", "reviews-20260302-train-bbbb2222")
TEXTS = {1: "love this dress, great fit", -1: "terrible fabric, awful seams",
         0: "it is okay, nothing special"}


def _model_tar(workdir: Path) -> Path:
    from airsage.training.model import TfidfLinearModel, pack_model, save_model

    labels = [1, -1, 0] * 4
    model = TfidfLinearModel.fit([TEXTS[x] for x in labels], labels, {"max_features": 100})
    return pack_model(save_model(model, workdir / "model"), workdir / "model.tar.gz")


def _inference() -> Any:
    spec = importlib.util.spec_from_file_location("inference", INCLUDE_DIR / "jobs" / "inference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def scoring(aws_env, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The DAG parsed for aws, a curated day and two versions (Approved, pending) in moto."""
    import pandas as pd

    from airsage.config import load_settings
    from airsage.lake.aws import S3Lake
    from airsage.lake.layout import LakeLayout
    from airsage.registry.aws import SageMakerModelRegistry

    env = {"AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": LAKE_ROOT,
           "AIRSAGE_HOME": str(tmp_path / "home"), "AIRSAGE__AWS__ROLE_ARN": ROLE,
           "AIRSAGE__AWS__REGION": REGION}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    lake = S3Lake(settings)
    tar = _model_tar(tmp_path)
    registry = SageMakerModelRegistry(settings)
    versions = []
    for job, status in zip(JOBS, ("Approved", "PendingManualApproval"), strict=True):
        key = LakeLayout("reviews").model_artifact(job)
        lake.upload(tar, key)
        versions.append(registry.register(
            MODEL, lake.uri(key), run_id=None, evaluation={}, status=status,
            lineage={"model_artifact_key": key, "partition_day": DAY, "training_job_name": job,
                     "dataset": "reviews"}))
    rows = [{"review_id": 500 + i, "review_text": f"{TEXTS[(1, -1, 0)[i % 3]]} {i}",
             "rating": 5, "sentiment": 1} for i in range(12)]
    buffer = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buffer, index=False)
    lake.write_bytes(LakeLayout("reviews").curated(DAY) + "reviews.parquet", buffer.getvalue())
    from airsage.airflow.runner import load_dag

    return {"settings": settings, "lake": lake, "versions": versions, "rows": rows, "tar": tar,
            "dag": load_dag("reviews_batch_scoring")}


def _state_the_transform_output(scoring: dict[str, Any], moto: Any, tmp_path: Path) -> Any:
    """What the transform job writes, from the real handlers over the staged JSON Lines."""
    from airsage.batch.scoring import stage_input, transform_request
    from airsage.batch.transform import transform_text
    from airsage.training.model import unpack_model

    request = transform_request(scoring["settings"], "reviews", DAY, scoring["versions"][0])
    lake = scoring["lake"]
    stage_input(lake, request)  # what score.request stages (it stages the same bytes again)
    inference = _inference()
    model = inference.model_fn(unpack_model(scoring["tar"], tmp_path / "unpacked"))
    out = transform_text(
        lake.read_bytes(request.input_key).decode(),
        lambda body: inference.output_fn(inference.predict_fn(
            inference.input_fn(body, request.content_type), model), request.accept),
        input_filter=request.input_filter, join_source=request.join_source,
        output_filter=request.output_filter, batch_strategy=request.batch_strategy)
    moto.state_job_end(request.job_name, objects={
        f"{BUCKET}/prod/{request.output_key}": out.encode()})
    return request


def test_a_transform_job_scores_the_partition_and_a_rerun_reattaches(
        scoring, aws_env, tmp_path) -> None:
    import pandas as pd

    from airsage.airflow.runner import run_dag

    request = _state_the_transform_output(scoring, aws_env, tmp_path)
    approved = scoring["versions"][0]
    summary = run_dag("reviews_batch_scoring", dag=scoring["dag"], conf={"partition_date": DAY})
    assert not summary.failed_tasks, summary.task_states
    assert summary.task_states["score.transform"] == "success"
    assert summary.task_states["score.wait"] == "skipped"
    collected = summary.xcoms["score.collect"]
    assert (collected["rows"], collected["model_version"]) == (12, approved.version)

    sagemaker = client("sagemaker")
    model_name = f"{MODEL}-v{approved.version}"
    prefix = f"{LAKE_ROOT}/predictions/reviews/dt={DAY}/model_version={approved.version}/"
    job = sagemaker.describe_transform_job(TransformJobName=request.job_name)
    assert job["ModelName"] == model_name
    assert job["TransformInput"] == {
        "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix",
            "S3Uri": prefix + "input/"}},
        "ContentType": "application/jsonlines", "CompressionType": "None", "SplitType": "Line"}
    assert job["TransformOutput"] == {
        "S3OutputPath": prefix + "transform",
        "Accept": "application/jsonlines", "AssembleWith": "Line"}
    assert job["DataProcessing"] == {"InputFilter": "$", "JoinSource": "Input",
                                     "OutputFilter": "$['review_id','SageMakerOutput']"}
    assert (job["BatchStrategy"], job["MaxPayloadInMB"]) == ("MultiRecord", 6)
    assert job["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1}
    model = sagemaker.describe_model(ModelName=model_name)
    container = model["PrimaryContainer"]
    assert container["ModelDataUrl"] == f"{LAKE_ROOT}/models/reviews/{JOBS[0]}/output/model.tar.gz"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["AIRSAGE_MODEL_VERSION"] == approved.version
    code = container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]
    body = client("s3").get_object(Bucket=BUCKET, Key=code.removeprefix(f"s3://{BUCKET}/"))["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read())) as archive:
        assert "inference.py" in archive.getnames()

    table = pd.read_parquet(io.BytesIO(scoring["lake"].read_bytes(request.predictions_key)))
    assert list(table["review_id"]) == [row["review_id"] for row in scoring["rows"]]
    assert set(table["model_version"]) == {approved.version}
    assert table["predicted_label"].isin([-1, 0, 1]).all()

    again = run_dag("reviews_batch_scoring", dag=scoring["dag"], conf={"partition_date": DAY})
    assert not again.failed_tasks, again.task_states
    assert again.task_states["score.transform"] == "skipped"  # the Completed job is collected
    assert [j["TransformJobName"] for j in
            sagemaker.list_transform_jobs()["TransformJobSummaries"]] == [request.job_name]
    assert len(sagemaker.list_models()["Models"]) == 1


def test_a_version_that_is_not_approved_is_refused_before_any_job(scoring) -> None:
    from airsage.airflow.runner import run_dag

    pending = scoring["versions"][1]
    summary = run_dag("reviews_batch_scoring", dag=scoring["dag"],
                      conf={"partition_date": DAY, "model_version": pending.version})
    assert summary.task_states["score.request"] == "failed", summary.task_states
    assert summary.task_states["score.transform"] == "upstream_failed"
    assert client("sagemaker").list_transform_jobs()["TransformJobSummaries"] == []
    assert not list(scoring["lake"].list(f"predictions/reviews/dt={DAY}/"))


def test_a_failed_transform_job_is_named_and_the_next_attempt_gets_a_visible_suffix(
        scoring, aws_env) -> None:
    from airsage.batch.aws import plan_transform, scored_at
    from airsage.batch.scoring import transform_request
    from airsage.errors import StepFailed

    sagemaker = client("sagemaker")
    request = transform_request(scoring["settings"], "reviews", DAY, scoring["versions"][0])
    first = plan_transform(scoring["settings"], scoring["lake"], request, sagemaker)
    assert (first.action, first.job_name) == ("submit", request.job_name)
    assert first.model is not None and first.model["ModelName"] == f"{MODEL}-v1"
    aws_env.state_job_end(request.job_name, status="Failed",
                          failure_reason="ClientError: the model answered 400 for line 3")
    sagemaker.create_model(**first.operator_config()["Model"])
    sagemaker.create_transform_job(**first.operator_config()["Transform"])
    with pytest.raises(StepFailed, match="is Failed: ClientError: the model answered 400"):
        scored_at(sagemaker, request.job_name)

    again = plan_transform(scoring["settings"], scoring["lake"], request, sagemaker)
    assert (again.action, again.job_name) == ("submit", f"{request.job_name}-r2")
    assert again.history == ((request.job_name, "Failed"),)
    assert again.model is None  # the version's model exists now: not created twice
    assert again.operator_config()["TransformJobName"] == f"{request.job_name}-r2"
