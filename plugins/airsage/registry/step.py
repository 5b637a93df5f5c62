"""The condition-and-register step: compare with the champion, bless, register if blessed.

Order matters for an honest comparison: the current Approved champion is evaluated by the
same evaluation job, in the same run, on the *candidate's* evaluation set (the run's test
split, held out of every training window; ``report_name="champion"``), then
:func:`airsage.evaluation.condition.bless` decides on a paired test of the two models'
per-row predictions (``evaluation.paired_test``), the blessing is written to the lake, and
only a blessed candidate becomes a model version (Approved with ``auto_approve``, else
PendingManualApproval, like a SageMaker pipeline's RegisterModel step). A refused candidate
changes nothing in the registry: the champion stays Approved.

Registration follows the step seam (DESIGN.md): :func:`registration_request` (pure) names
what ``CreateModelPackage`` takes — the model artifact's lake key, the model package group,
the metrics, the approval status and the lineage tags — and the registry the Airflow layer
hands in (``Engines.registry``; MLflow locally) registers exactly that.

The champion's evaluation is a step of its own on the aws target (:func:`evaluate_champion`,
the ``champion_evaluation`` task group: a SageMaker processing job, deferred, before
``register``), so that ``register`` never blocks a worker on a job; locally
:func:`condition_and_register` runs it in-process first. Either way the register step
compares the candidate with a :class:`ChampionEvaluation` and refuses one that no longer
measures the current champion.
"""

from __future__ import annotations

import contextlib
import datetime as dt_
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.evaluation.base import EvaluationReport, EvaluationSettings
from airsage.evaluation.condition import Blessing, PairedComparison, bless, write_blessing
from airsage.jobs.request import JobRunner
from airsage.lake.base import Lake
from airsage.lake.layout import partition_value
from airsage.registry.base import (
    LINEAGE_ARTIFACT_KEY,
    ApprovalStatus,
    ModelRegistry,
    ModelVersion,
    RegistrationRequest,
    RegistrationResult,
    evaluation_metrics,
    local_path,
)

PREPARE_LINEAGE_KEYS = ("day", "dataset_hash", "rows", "input_rows", "class_counts", "split_keys",
                        "report_key", "data_docs_key", "window_days", "evaluation_set")


def _prepare_lineage(prepare: Mapping[str, Any]) -> dict[str, Any]:
    """The lineage worth a tag from ``PrepareResult.to_dict()``: counts, keys, the hash.

    Scalars are kept whatever their name; large nested reports (expectation results) are
    left in the lake, where ``report_key`` points.
    """
    return {
        key: value for key, value in prepare.items()
        if key in PREPARE_LINEAGE_KEYS or isinstance(value, (str, int, float, bool))
    }


def registry_settings(settings: Settings) -> tuple[str, bool]:
    """The registered model's name and the default of ``auto_approve``."""
    section = settings.section("registry")
    model_name = section.get("model_name")
    if not model_name:
        raise ConfigurationError(
            f"registry.model_name is not set in {settings.source}; name the registered model"
        )
    return str(model_name), bool(section.get("auto_approve", False))


CHAMPION_REPORT = "champion"  # the report name (and job step) of the champion's evaluation


@dataclass(frozen=True)
class ChampionEvaluation:
    """The serving champion measured on the candidate's evaluation set in this run: its
    version and report, or no champion (``reason`` says why nothing was evaluated)."""

    champion: ModelVersion | None
    report: EvaluationReport | None
    reason: str = ""

    def __post_init__(self) -> None:
        if (self.champion is None) != (self.report is None):
            raise ConfigurationError(
                "a ChampionEvaluation has both a champion and its report, or neither")

    def to_dict(self) -> dict[str, Any]:
        return {"champion": self.champion.to_dict() if self.champion else None,
                "report": self.report.to_dict() if self.report else None,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ChampionEvaluation:
        if "champion" not in raw or "report" not in raw:
            raise ConfigurationError(
                "a ChampionEvaluation mapping names 'champion' and 'report'; pass "
                "ChampionEvaluation.to_dict()'s result (the champion_evaluation step's)")
        return cls(
            champion=ModelVersion.from_dict(raw["champion"]) if raw["champion"] else None,
            report=EvaluationReport.from_dict(raw["report"]) if raw["report"] else None,
            reason=str(raw.get("reason") or ""))


def evaluate_champion(
    settings: Settings, lake: Lake, dataset: str, day: dt_.date | str, *,
    registry: ModelRegistry, runner: JobRunner,
) -> ChampionEvaluation:
    """The current champion (the registry's Approved version trained on the newest data)
    evaluated by the evaluation job on the run's evaluation set with ``runner``; no job when
    there is no champion yet."""
    model_name, _ = registry_settings(settings)
    champion = registry.champion(model_name)
    if champion is None:
        return ChampionEvaluation(None, None, reason=(
            f"{model_name} has no Approved version yet: there is no champion to evaluate, so "
            "the candidate is judged on its thresholds alone"))
    report = _champion_report(settings, lake, dataset, partition_value(day), champion, runner)
    return ChampionEvaluation(champion, report)


def _champion_report(
    settings: Settings, lake: Lake, dataset: str, day: str, champion: ModelVersion,
    runner: JobRunner,
) -> EvaluationReport:
    """Evaluate the champion's own model.tar.gz on the candidate's evaluation set, in this run
    (the job's name carries the champion's version: see ``evaluation_request``)."""
    from airsage.evaluation.step import evaluate_model

    lake_key = champion.tags.get(LINEAGE_ARTIFACT_KEY, "")
    identity = f"{champion.name} v{champion.version} {lake_key or champion.artifact_uri}"
    local = local_path(champion.artifact_uri)
    if local is not None and local.is_file():
        return evaluate_model(settings, lake, dataset, day, lake_key or champion.artifact_uri,
                              report_name=CHAMPION_REPORT, model_artifact_path=local,
                              runner=runner, job_identity=identity)
    if lake_key and lake.exists(lake_key):
        return evaluate_model(settings, lake, dataset, day, lake_key, report_name=CHAMPION_REPORT,
                              runner=runner, job_identity=identity)
    raise InputDataError(
        f"condition: the champion {champion.name} v{champion.version} has no readable model "
        f"artifact (artifact_uri {champion.artifact_uri}, lake key {lake_key or 'none'}); "
        "restore it, or reject that version with MlflowRegistry.set_status(..., 'Rejected') "
        "so the previous Approved version becomes the champion"
    )


def _paired_comparison(
    lake: Lake,
    evaluation_settings: EvaluationSettings,
    candidate: EvaluationReport,
    champion: EvaluationReport | None,
) -> PairedComparison:
    """The configured paired test with both models' per-row predictions from the lake."""
    from airsage.evaluation.step import read_predictions

    return PairedComparison(
        test=evaluation_settings.paired_test,
        candidate_predictions=read_predictions(lake, candidate),
        champion_predictions=read_predictions(lake, champion) if champion is not None else None,
        confidence=evaluation_settings.confidence,
        samples=evaluation_settings.paired_bootstrap_samples,
        seed=evaluation_settings.seed,
    )


def _completed_job(training: Mapping[str, Any]) -> tuple[str, str]:
    """The training job's name and model artifact key; refuse a job that did not complete."""
    status = training.get("status")
    job_name = str(training.get("job_name") or "")
    artifact_key = str(training.get("model_artifact_key") or "")
    if status != "Completed" or not artifact_key:
        raise InputDataError(
            f"condition: training job {job_name or '?'} has status {status!r} and artifact "
            f"{artifact_key or 'none'}; only a Completed job's model can be registered"
        )
    return job_name, artifact_key


def registration_request(
    settings: Settings,
    dataset: str,
    day: dt_.date | str,
    *,
    training: Mapping[str, Any],
    candidate: EvaluationReport,
    prepare_lineage: Mapping[str, Any],
    blessing_uri: str,
    champion_version: str | None,
    auto_approve: bool | None = None,
) -> RegistrationRequest:
    """The model version a blessed candidate becomes (pure): ``training`` is
    ``TrainingJobResult.to_dict()``, ``candidate`` its evaluation, ``prepare_lineage`` what the
    prepare step reports about the data; ``auto_approve`` overrides ``registry.auto_approve``
    (a manual run's Param)."""
    day_text = partition_value(day)
    job_name, artifact_key = _completed_job(training)
    model_name, default_approve = registry_settings(settings)
    approve = default_approve if auto_approve is None else bool(auto_approve)
    lineage = {
        "dataset": dataset,
        "partition_day": day_text,
        "dataset_hash": prepare_lineage.get("dataset_hash"),
        "training_job_name": job_name,
        "model_artifact_key": artifact_key,
        "evaluation_report_key": candidate.report_key,
        "blessing_uri": blessing_uri,
        "champion_version": champion_version,
        **{f"prepare.{k}": v for k, v in _prepare_lineage(prepare_lineage).items()},
    }
    return RegistrationRequest(
        model_package_group_name=model_name,
        model_artifact_key=artifact_key,
        training_job_name=job_name,
        metrics=evaluation_metrics(candidate.evaluation),
        evaluation_report_key=candidate.report_key,
        approval_status=(ApprovalStatus.APPROVED if approve else ApprovalStatus.PENDING).value,
        lineage=lineage,
    )


def register_model(
    registry: ModelRegistry,
    lake: Lake,
    request: RegistrationRequest,
    *,
    run_id: str | None,
    evaluation: Mapping[str, Any],
) -> ModelVersion:
    """Register ``request`` in ``registry`` (the run phase): its model artifact read from the
    lake, its status and lineage as named; ``evaluation`` is the whole evaluation.json the
    registry keeps beside the version (its metrics are ``request.metrics``)."""
    key = request.model_artifact_key
    if not lake.exists(key):
        raise InputDataError(
            f"condition: the blessed model's artifact {lake.uri(key)} disappeared "
            "before registration; rerun the training task"
        )
    with _local_copy(lake, key) as artifact_path:
        return registry.register(
            request.model_package_group_name, str(artifact_path),
            run_id=run_id,
            evaluation=evaluation,
            lineage=request.lineage,
            status=request.approval_status,
        )


@dataclass(frozen=True)
class Condition:
    """The condition's outcome: the blessing (written to the lake at ``blessing_uri``), the
    champion it was compared with, and — for a blessed candidate only — what to register."""

    blessing: Blessing
    blessing_uri: str
    champion_version: ModelVersion | None
    request: RegistrationRequest | None

    def result(self, version: ModelVersion | None) -> RegistrationResult:
        """The step's result once ``version`` (None: not blessed) is registered."""
        return RegistrationResult(blessed=self.blessing.blessed, blessing=self.blessing.to_dict(),
                                  model_version=version, champion_version=self.champion_version,
                                  blessing_uri=self.blessing_uri)


def _current_champion(registry: ModelRegistry, model_name: str,
                      evaluated: ChampionEvaluation) -> None:
    """Refuse a champion evaluation that no longer measures the registry's champion (a
    version was approved or rejected between the two steps)."""
    current = registry.champion(model_name)
    measured = evaluated.champion
    if (current and current.version) == (measured and measured.version):
        return
    now = f"v{current.version}" if current else "no champion"
    was = f"v{measured.version}" if measured else "no champion"
    raise StepFailed(
        f"condition: {model_name}'s champion is now {now}, but champion_evaluation measured "
        f"{was}; clear the champion_evaluation task group (and register) so that the "
        "candidate is compared with the current champion")


def condition(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    registry: ModelRegistry,
    champion: ChampionEvaluation,
    training: Mapping[str, Any],
    candidate: EvaluationReport,
    prepare_lineage: Mapping[str, Any],
    auto_approve: bool | None = None,
    accuracy_threshold: float | None = None,
) -> Condition:
    """Bless ``candidate`` against ``champion`` (which must still be the registry's) and, when
    blessed, name the version to register (:func:`registration_request`); registers nothing."""
    day_text = partition_value(day)
    _completed_job(training)
    evaluation_settings = EvaluationSettings.from_settings(settings)
    threshold = (accuracy_threshold if accuracy_threshold is not None
                 else evaluation_settings.accuracy_threshold)
    model_name, _ = registry_settings(settings)
    bias_thresholds = settings.section("bias").get("post_training_thresholds") or {}
    _current_champion(registry, model_name, champion)
    blessing = bless(
        candidate, champion.report,
        accuracy_threshold=threshold,
        champion_tolerance=evaluation_settings.champion_tolerance,
        bias_thresholds=bias_thresholds,
        champion_metric=evaluation_settings.champion_metric,
        paired=_paired_comparison(lake, evaluation_settings, candidate, champion.report),
        debugger_rules=training.get("debug_rule_evaluations") or (),
    )
    blessing_uri = write_blessing(lake, dataset, day_text, blessing)
    request = registration_request(
        settings, dataset, day_text, training=training, candidate=candidate,
        prepare_lineage=prepare_lineage, blessing_uri=blessing_uri,
        champion_version=champion.champion.version if champion.champion else None,
        auto_approve=auto_approve) if blessing.blessed else None
    return Condition(blessing, blessing_uri, champion.champion, request)


def _find_or_log(
    registry: ModelRegistry, job_name: str, *, dataset: str, day: dt_.date | str,
    prepare_lineage: Mapping[str, Any], **run: Any,
) -> str:
    """The tracking run of ``job_name``: found by its name first, so a rerun adds nothing,
    else logged now with the prepare step's lineage and dataset hash."""
    dataset_hash = prepare_lineage.get("dataset_hash")
    return registry.find_run(job_name) or registry.log_training(
        job_name=job_name, dataset=dataset, day=partition_value(day),
        lineage=_prepare_lineage(prepare_lineage),
        dataset_hash=str(dataset_hash) if dataset_hash else None, **run)


def training_run(
    registry: ModelRegistry, lake: Lake, day: dt_.date | str, *, dataset: str,
    training: Mapping[str, Any], prepare_lineage: Mapping[str, Any], model_name: str,
) -> str:
    """The tracking run of the training job (found by its name, else logged now); a result
    without a job name or model URI falls back to the model's name and day and the job's
    artifact key."""
    job_name, artifact_key = _completed_job(training)
    return _find_or_log(
        registry, job_name or f"{model_name}-{partition_value(day)}", dataset=dataset, day=day,
        prepare_lineage=prepare_lineage,
        params=dict(training.get("hyperparameters") or {}),
        metrics=dict(training.get("final_metrics") or {}),
        model_artifact_uri=str(training.get("model_artifact_uri") or lake.uri(artifact_key)))


def condition_and_register(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    registry: ModelRegistry,
    training: Mapping[str, Any],
    candidate: EvaluationReport,
    prepare_lineage: Mapping[str, Any],
    runner: JobRunner | None = None,
    champion: ChampionEvaluation | None = None,
    auto_approve: bool | None = None,
    accuracy_threshold: float | None = None,
) -> RegistrationResult:
    """Bless ``candidate`` against the champion and register it when blessed in
    ``registry`` (the target's, ``Engines.registry``).

    ``champion`` is the champion's evaluation from its own step (the aws target's
    ``champion_evaluation``); without one it is evaluated here with ``runner`` (locally).
    ``training`` is ``TrainingJobResult.to_dict()``; ``prepare_lineage`` is what the prepare
    step reports about the data (e.g. ``dataset_hash``, row counts); both become lineage
    tags of the run and the model version. ``accuracy_threshold`` and ``auto_approve``
    override the config (a manual run's Params).
    """
    _completed_job(training)  # before the champion's evaluation: fail fast
    if champion is None:
        if runner is None:
            raise ConfigurationError(
                "condition: pass the champion's evaluation (champion_evaluation's result) or "
                "the runner that evaluates the champion")
        champion = evaluate_champion(settings, lake, dataset, day, registry=registry,
                                     runner=runner)
    decided = condition(
        settings, lake, dataset, day, registry=registry, champion=champion, training=training,
        candidate=candidate, prepare_lineage=prepare_lineage, auto_approve=auto_approve,
        accuracy_threshold=accuracy_threshold)
    if decided.request is None:
        return decided.result(None)
    model_name, _ = registry_settings(settings)
    run_id = training_run(registry, lake, day, dataset=dataset, training=training,
                          prepare_lineage=prepare_lineage, model_name=model_name)
    version = register_model(registry, lake, decided.request, run_id=run_id,
                             evaluation=candidate.evaluation)
    return decided.result(version)


@contextlib.contextmanager
def _local_copy(lake: Lake, key: str) -> Iterator[Path]:
    """A local file for a lake key: the key's own path on a local lake, else a download."""
    local = local_path(lake.uri(key))
    if local is not None and local.is_file():
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="airsage-register-") as scratch:
        yield lake.download(key, Path(scratch) / "model.tar.gz")


def track_training(
    registry: ModelRegistry,
    dataset: str,
    day: dt_.date | str,
    *,
    training: Mapping[str, Any],
    prepare_lineage: Mapping[str, Any],
) -> dict[str, str]:
    """Track the training job — or the tuning job with each trial nested under it — as runs,
    whether or not a model is later blessed: the experiment history must show what was tried,
    not only what won. Runs are found by job name first, so a rerun adds nothing.
    Returns job name → run id.
    """
    def track(job_name: str, **run: Any) -> str:
        return _find_or_log(registry, job_name, dataset=dataset, day=day,
                            prepare_lineage=prepare_lineage, **run)

    tuning = training.get("tuning")
    if not tuning:
        return {training["job_name"]: track(
            training["job_name"], params=dict(training.get("hyperparameters") or {}),
            metrics=dict(training.get("final_metrics") or {}),
            model_artifact_uri=training.get("model_artifact_uri"),
            status=str(training.get("status", "Completed")))}
    best_value = tuning.get("best_value")
    parent = track(
        tuning["tuning_job_name"],
        params={"objective": tuning["objective"], "objective_type": tuning["objective_type"],
                "trials": len(tuning["trials"]), "best_training_job": training["job_name"]},
        metrics={"best_objective": float(best_value)} if best_value is not None else {},
        model_artifact_uri=training.get("model_artifact_uri"))
    runs = {tuning["tuning_job_name"]: parent}
    for trial in tuning["trials"]:
        job = trial.get("training_job") or {}
        runs[trial["job_name"]] = track(
            trial["job_name"], params=dict(trial.get("hyperparameters") or {}),
            metrics=dict(job.get("final_metrics") or {}),
            model_artifact_uri=job.get("model_artifact_uri"),
            status="Completed" if trial.get("state") == "Completed" else "Failed",
            parent_run_id=parent)
    return runs
