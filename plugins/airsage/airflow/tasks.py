"""airsage's tasks. Each is a thin wrapper: load settings, call one step, return its JSON form.

The steps are plain functions in the capability packages (``airsage.quality`` …); a task
hands its step the engine of the configured target (``airsage.targets.Engines``). Task ids
are the constants in :mod:`airsage.airflow.names`; a task's docstring is its documentation
in the UI.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowSkipException

from airsage.airflow import names
from airsage.airflow.assets import DRIFT, MODEL_DEPLOYED, deployed_extra
from airsage.airflow.runtime import lake_for, partition_day, step_errors, task_settings
from airsage.airflow.tasklog import log, narrated

if TYPE_CHECKING:
    from airsage.config import Settings
    from airsage.features.base import FeatureStore
    from airsage.jobs.request import JobRunner
    from airsage.lake.base import Lake
    from airsage.targets import Engines


def _job_runner(settings: Settings) -> JobRunner:
    """The run phase of the job steps (bias, train, evaluate, baseline, monitor): the target's
    runner of the include/jobs/ scripts (``Engines.jobs``). On aws the job steps' task groups
    (:mod:`airsage.airflow.aws_jobs`) hand the step bodies below runners of their own."""
    return _engines(settings).jobs


def _engines(settings: Settings) -> Engines:
    """The engines of the settings' target; the task hands its step the one it needs."""
    from airsage.targets import Engines

    return Engines(settings)


def _continue(upstream: dict[str, Any]) -> tuple[Settings, Lake, str]:
    """Settings, lake and partition day for a task that continues an upstream task's result
    (the day travels in every result, so a whole run works on one partition)."""
    settings = task_settings()
    return settings, lake_for(settings), upstream["day"]


def _params(context: dict[str, Any]) -> dict[str, Any]:
    return dict(context.get("params") or {})


# -- data plane ---------------------------------------------------------------------------


@task(task_id=names.INGEST)
def ingest(**context: Any) -> dict[str, Any]:
    """Land the day's batch under raw/ (or verify the landed one against its manifest).

    A new run judges the batch afresh, so an earlier quarantine marker is lifted here.
    """
    from airsage.ingest import ensure_partition
    from airsage.lake.quarantine import release

    settings = task_settings()
    lake = lake_for(settings)
    day = partition_day(context, lake)
    with step_errors(names.INGEST, lake=lake, day=day):
        landed = ensure_partition(settings, lake, names.DATASET, day)
    release(lake, names.DATASET, day)
    return narrated(names.INGEST, {**landed.to_dict(), "day": day})


@task(task_id=names.CRAWL)
def crawl(landed: dict[str, Any]) -> dict[str, Any]:
    """Infer schema and partition like a Glue crawler and update the catalog table."""
    settings, lake, day = _continue(landed)
    with step_errors(names.CRAWL, lake=lake, day=day):
        result = _engines(settings).catalog.crawl(lake, names.DATASET, day)
    return narrated(names.CRAWL, {**result.to_dict(), "day": day})


@task(task_id=names.VALIDATE_SQL)
def validate_sql(crawled: dict[str, Any]) -> dict[str, Any]:
    """Run the Athena SQL assertion queries of include/sql/ on the day's partition."""
    settings, lake, day = _continue(crawled)
    with step_errors(names.VALIDATE_SQL, lake=lake, day=day):
        report = _engines(settings).sql.run_checks(lake, names.DATASET, day)
    return narrated(names.VALIDATE_SQL, {**report.to_dict(), "day": day})


@task(task_id=names.QUALITY_GATE)
def quality_gate(validated: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the DQDL ruleset (Deequ semantics) and the metric anomaly rules."""
    settings, lake, day = _continue(validated)
    with step_errors(names.QUALITY_GATE, lake=lake, day=day):
        engines = _engines(settings)
        catalog, gate = engines.catalog, engines.quality
        relation = catalog.partition_relation(lake, names.DATASET, day)
        # datasets the ruleset compares with (DQDL DataSources), same day's partition
        references = {alias: catalog.partition_relation(lake, alias, day)
                      for alias in gate.reference_datasets()}
        report = gate.run(lake, names.DATASET, day, relation, references=references)
    return narrated(names.QUALITY_GATE, {**report.to_dict(), "day": day})


# -- ML plane -----------------------------------------------------------------------------


@task(task_id=names.CURATE)
def curate(checked: dict[str, Any]) -> dict[str, Any]:
    """Write the accepted partition as typed Parquet with the sentiment label (curated/)."""
    from airsage.prepare.curate import curate_partition

    settings, lake, day = _continue(checked)
    with step_errors(names.CURATE, lake=lake, day=day):
        relation = _engines(settings).catalog.partition_relation(lake, names.DATASET, day)
        result = curate_partition(settings, lake, names.DATASET, day, relation)
    return narrated(names.CURATE, {**result.to_dict(), "day": day})


@task(task_id=names.BIAS_GATE)
def bias_gate(curated: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Clarify's pre-training bias metrics for the configured facet, against thresholds."""
    return bias_gate_step(curated, context)


# The job steps' bodies: the local task calls each with the target's runner; the aws task
# group (airsage.airflow.aws_jobs) calls the same body with its request and collect runners.


def bias_gate_step(curated: dict[str, Any], context: dict[str, Any],
                   runner: JobRunner | None = None) -> dict[str, Any]:
    """The bias gate task's body (``runner``: the target's job runner unless given)."""
    from airsage.bias.gate import run_bias_gate

    settings, lake, day = _continue(curated)
    with step_errors(names.BIAS_GATE, lake=lake, day=day):
        report = run_bias_gate(settings, lake, names.DATASET, day, data_key=curated["key"],
                               runner=runner or _job_runner(settings))
    _send_bias_warning(report, settings, context)
    return narrated(names.BIAS_GATE, {**report.to_dict(), "day": day})


def _send_bias_warning(report: Any, settings: Any, context: dict[str, Any]) -> None:
    """A warn verdict accepts the batch but tells a person: a warning alert."""
    from dataclasses import replace

    from airsage.airflow.notifiers import send_alert
    from airsage.bias.gate import warning_alert

    alert = warning_alert(report)
    if alert is not None:
        send_alert(replace(alert, dag_id=names.DAILY_DAG_ID, task_id=names.BIAS_GATE,
                           run_id=context.get("run_id")), settings)


def _feature_store(settings: Settings) -> FeatureStore | None:
    """The target's feature store when ``features.enabled``: prepare writes its splits there
    and training's channels are read back from it (None: the files are written directly)."""
    from airsage.features.base import FeatureStoreSettings

    return _engines(settings).features if FeatureStoreSettings.from_settings(settings).enabled else None


@task(task_id=names.PREPARE)
def prepare(bias: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Clean, label, balance and split the window of curated days ending at the run's day:
    train/validation, and the held-out evaluation set as test; validate with Great Expectations."""
    from airsage.prepare.prepare import PrepareOptions, prepare_dataset

    settings, lake, day = _continue(bias)
    params = _params(context)
    options = PrepareOptions.from_settings(
        settings, balance=params.get("balance"), window_days=params.get("window_days"),
        window_since=params.get("window_since") or None)
    with step_errors(names.PREPARE, lake=lake, day=day):
        result = prepare_dataset(settings, lake, names.DATASET, day, options=options,
                                 features=_feature_store(settings))
    return narrated(names.PREPARE, {**result.to_dict(), "day": day})


@task(task_id=names.TRAIN)
def train(prepared: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Train in SageMaker script mode, or tune (Bayesian) and keep the best trial's model;
    track the job (or the tuning job and every trial) in the experiment tracker."""
    return train_step(prepared, context)


def train_step(prepared: dict[str, Any], context: dict[str, Any],
               runner: JobRunner | None = None) -> dict[str, Any]:
    """The train task's body (``runner``: the target's job runner unless given)."""
    settings, lake, day = _continue(prepared)
    params = _params(context)
    hyperparameters = {"model_family": params.get("model_family") or "tfidf_linear"}
    with step_errors(names.TRAIN, lake=lake, day=day, quarantine_batch=False):
        if params.get("tuning"):
            from airsage.tuning.step import tune_model

            tuning = tune_model(
                settings, lake, names.DATASET, day, tuner=_engines(settings).tuning,
                max_jobs=params.get("max_jobs"), hyperparameters=hyperparameters,
            )
            job = tuning.best.to_dict()
            job["tuning"] = tuning.to_dict()
        else:
            from airsage.training.step import train_model

            job = train_model(settings, lake, names.DATASET, day, hyperparameters=hyperparameters,
                              runner=runner or _job_runner(settings)).to_dict()
    from airsage.registry.step import track_training

    job["tracking_runs"] = track_training(_engines(settings).registry, names.DATASET, day,
                                          training=job, prepare_lineage=prepared)
    return narrated(names.TRAIN, {**job, "day": day})


@task(task_id=names.EVALUATE)
def evaluate(trained: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the candidate on the held-out test split: evaluation.json, bias, attribution."""
    return evaluate_step(trained, {})


def evaluate_step(trained: dict[str, Any], context: dict[str, Any],
                  runner: JobRunner | None = None) -> dict[str, Any]:
    """The evaluate task's body (``runner``: the target's job runner unless given)."""
    from airsage.evaluation.step import evaluate_model

    settings, lake, day = _continue(trained)
    with step_errors(names.EVALUATE, lake=lake, day=day, quarantine_batch=False):
        report = evaluate_model(settings, lake, names.DATASET, day, trained["model_artifact_key"],
                                runner=runner or _job_runner(settings))
    return narrated(names.EVALUATE, {**report.to_dict(), "day": day})


@task(task_id=names.REGISTER)
def register(
    trained: dict[str, Any], evaluated: dict[str, Any], prepared: dict[str, Any], **context: Any
) -> dict[str, Any]:
    """Bless (threshold, champion/challenger, post-training bias) and register if blessed."""
    from airsage.evaluation.base import EvaluationReport
    from airsage.registry.step import condition_and_register

    settings, lake, day = _continue(evaluated)
    params = _params(context)
    with step_errors(names.REGISTER, lake=lake, day=day, quarantine_batch=False):
        result = condition_and_register(
            settings, lake, names.DATASET, day,
            registry=_engines(settings).registry,
            runner=_job_runner(settings),
            training=trained,
            candidate=EvaluationReport.from_dict(evaluated),
            prepare_lineage=prepared,
            auto_approve=params.get("auto_approve"),
            accuracy_threshold=params.get("accuracy_threshold"),
        )
    return registered_result(result.to_dict(), day, trained["model_artifact_key"])


def registered_result(result: dict[str, Any], day: str, model_artifact_key: str) -> dict[str, Any]:
    """The register step's result on both targets: ``RegistrationResult.to_dict()`` with the
    run's day, the model's key and the text the approval request shows."""
    from airsage.registry.approval import approval_markdown

    registered = {**result, "day": day, "model_artifact_key": model_artifact_key}
    registered["approval_markdown"] = approval_markdown(registered)
    return narrated(names.REGISTER, registered)


def champion_evaluation_step(evaluated: dict[str, Any], context: dict[str, Any],
                             runner: JobRunner | None = None) -> dict[str, Any]:
    """The aws ``champion_evaluation`` group's body (locally ``register`` evaluates the
    champion itself): the champion evaluated on the candidate's evaluation set, or none."""
    from airsage.registry.step import evaluate_champion

    settings, lake, day = _continue(evaluated)
    with step_errors(names.CHAMPION_EVALUATION, lake=lake, day=day, quarantine_batch=False):
        found = evaluate_champion(settings, lake, names.DATASET, day,
                                  registry=_engines(settings).registry,
                                  runner=runner or _job_runner(settings))
    if found.champion is None:
        log.info("%s: no job: %s", names.CHAMPION_EVALUATION, found.reason)
    return {**found.to_dict(), "day": day}


@task.branch(task_id=names.APPROVAL_ROUTE)
def approval_route(registered: dict[str, Any]) -> str:
    """Route on the blessing: keep the champion, ask a person, or go on (auto-approved)."""
    version = registered.get("model_version")
    if not registered.get("blessed") or version is None:
        return names.KEEP_CHAMPION
    if version.get("status") == "Approved":
        return names.AUTO_APPROVED
    return names.APPROVE_MODEL


@task(task_id=names.KEEP_CHAMPION)
def keep_champion(registered: dict[str, Any]) -> dict[str, Any]:
    """The candidate was not blessed: nothing is registered and the champion keeps serving."""
    champion = registered.get("champion_version") or {}
    failures = (registered.get("blessing") or {}).get("failures") or []
    log.warning("not blessed: %s keeps serving", f"v{champion.get('version')}" if champion
                else "no model (none was ever blessed)")
    for failure in failures:
        log.warning("  %s: measured %s, expected %s %s", failure.get("check"), failure.get("measured"),
                    failure.get("expected"), failure.get("message") or "")
    return {"kept_champion": registered.get("champion_version"), "reasons": registered.get("blessing")}


@task(task_id=names.AUTO_APPROVED)
def auto_approved(registered: dict[str, Any]) -> dict[str, Any]:
    """The version was registered as Approved (auto-approval is on): no person needed."""
    return registered


def _record_decision(registered: dict[str, Any], status: str, context: dict[str, Any]) -> dict[str, Any]:
    """Write a person's decision (who, when) on the run's own version into the registry."""
    from airsage.airflow.approval import RESPONSE_XCOM, decision_of

    response = context["ti"].xcom_pull(task_ids=names.APPROVE_MODEL, key=RESPONSE_XCOM)
    who, when = decision_of(response)
    settings = task_settings()
    version = registered["model_version"]
    updated = _engines(settings).registry.set_status(
        version["name"], version["version"], status, decided_by=who, decided_at=when,
        comment=f"{status} on the Required Actions page (run {context.get('run_id')})")
    log.info("%s v%s is now %s (decided by %s at %s)", version["name"], version["version"],
             status, who, when)
    return {**registered, "model_version": updated.to_dict()}


@task(task_id=names.RECORD_APPROVAL)
def record_approval(registered: dict[str, Any], **context: Any) -> dict[str, Any]:
    """A person approved the version in the Airflow UI: mark it Approved in the registry."""
    return _record_decision(registered, "Approved", context)


@task(task_id=names.RECORD_REJECTION)
def record_rejection(registered: dict[str, Any], **context: Any) -> dict[str, Any]:
    """A person rejected the version (or nobody answered in time): mark it Rejected; the
    champion keeps serving and nothing is deployed."""
    return _record_decision(registered, "Rejected", context)


@task(task_id=names.BASELINE, trigger_rule="none_failed_min_one_success")
def baseline(**context: Any) -> dict[str, Any]:
    """Model Monitor baseline (statistics.json, constraints.json) of the training data.

    Runs after whichever approval path ran; skipped when neither did (not blessed, rejected).
    """
    return baseline_step(None, context)


def baseline_step(_upstream: None, context: dict[str, Any],
                  runner: JobRunner | None = None) -> dict[str, Any]:
    """The baseline task's body (``runner``: the target's job runner unless given)."""
    from airsage.monitoring.step import create_baseline

    pulled = context["ti"].xcom_pull(task_ids=[names.AUTO_APPROVED, names.RECORD_APPROVAL])
    registered = next(item for item in pulled if item)
    settings = task_settings()
    lake = lake_for(settings)
    version = registered["model_version"]
    with step_errors(names.BASELINE, quarantine_batch=False):
        result = create_baseline(
            settings, lake, names.DATASET, registered["day"],
            model_name=version["name"], model_version=version["version"],
            model_artifact_key=registered["model_artifact_key"],
            runner=runner or _job_runner(settings),
        )
    return narrated(names.BASELINE, {**result.to_dict(), "model_version": version})


@task(task_id=names.DEPLOY, outlets=[MODEL_DEPLOYED])
def deploy(baselined: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Blue/green deploy of the version this run registered; roll back if it fails its alarms.
    A deployment emits the model-deployed asset event (batch scoring runs on it).

    Never the registry's "newest Approved" (a backfill registers days out of order), and
    never over a model trained on newer data: that check runs under the endpoint's lock.
    """
    from airsage.errors import InputDataError
    from airsage.registry.base import ModelVersion, older_than_serving
    from airsage.serving.request import deployment_request

    settings = task_settings()
    lake = lake_for(settings)
    engines = _engines(settings)
    registry = engines.registry
    own = baselined["model_version"]
    version = registry.get_version(own["name"], own["version"])
    if version.status != "Approved":
        raise AirflowSkipException(
            f"{version.name} v{version.version} is {version.status}, not Approved: not deployed")

    def keep_serving(serving: Any) -> str | None:
        reasons = []
        for variant in serving:
            try:
                current: ModelVersion = registry.get_version(variant["model_name"],
                                                             str(variant["model_version"]))
            except InputDataError:  # served by hand (airsage serve), not from this registry
                continue
            reason = older_than_serving(version, current)
            if reason:
                reasons.append(reason)
        return "; ".join(reasons) or None

    with step_errors(names.DEPLOY, quarantine_batch=False):
        request = deployment_request(settings, version.to_dict())
        result = engines.serving.run(lake, request, keep_serving=keep_serving)
    if result.action == "kept":
        log.warning("not deployed: %s", result.reason)
        raise AirflowSkipException(f"not deployed: {result.reason}")
    context["outlet_events"][MODEL_DEPLOYED].extra = deployed_extra(version)
    return narrated(names.DEPLOY, result.to_dict())


REPORTED_STEPS = (names.QUALITY_GATE, names.BIAS_GATE, names.PREPARE, names.TRAIN, names.EVALUATE,
                  names.REGISTER, names.DEPLOY)


@task(task_id=names.REPORT, trigger_rule="all_done")
def report(**context: Any) -> dict[str, Any]:
    """The run's HTML report (quality history, bias per group, training curves, confusion
    matrix, champion against challenger, drift), whatever the run's outcome; its log names
    where it is, and `airsage report open --date D` opens it."""
    from airsage.reports.run import write_run_report

    settings = task_settings()
    lake = lake_for(settings)
    ti = context["ti"]
    # the day the run worked on, as ingest decided it (or as it would have, if ingest failed)
    day = (ti.xcom_pull(task_ids=names.INGEST) or {}).get("day") or partition_day(context, lake)
    # a step is one task locally and a task group on aws, whose result is its collect's (the
    # train step's: the join of its training and tuning paths)
    results = {step: ti.xcom_pull(task_ids=step) or ti.xcom_pull(
        task_ids=names.TRAINED if step == names.TRAIN else f"{step}.collect")
        for step in REPORTED_STEPS}
    try:
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        states.pop(names.REPORT, None)  # itself: still running
    except Exception as exc:  # the report must not fail for want of the task states
        log.warning("task states unavailable for the report: %s", exc)
        states = {}
    endpoint = settings.section("serving").get("endpoint", "reviews-sentiment")
    with step_errors(names.REPORT, quarantine_batch=False):
        key = write_run_report(lake, settings, names.DATASET, day,
                               {**{k: v for k, v in results.items() if v}, "_states": states},
                               run_id=str(context.get("run_id") or ""), endpoint=endpoint)
    log.info("run report: %s", lake.uri(key))
    return {"report_key": key, "report_uri": lake.uri(key), "day": day}


# -- drift monitor ------------------------------------------------------------------------


def _interval(context: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The hour(s) a monitor run checks: the hour (``at``) or window a person named in the
    trigger form or with ``airsage run ... --at``; else its data interval, or for a manual
    run (whose interval is empty) the hour before its logical date."""
    from airflow.sdk.exceptions import AirflowFailException

    from airsage.airflow.monitor_params import requested_interval

    try:
        asked = requested_interval(_params(context))
    except ValueError as exc:
        raise AirflowFailException(f"{names.MONITOR}: {exc}") from exc
    if asked is not None:
        return asked
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return start, end
    anchor = context.get("logical_date") or context["dag_run"].run_after
    anchor = anchor.replace(minute=0, second=0, microsecond=0)
    return anchor - dt.timedelta(hours=1), anchor


@task(task_id=names.MONITOR)
def monitor(**context: Any) -> dict[str, Any]:
    """Check the interval's captured traffic against the serving model's baseline."""
    return monitor_step(None, context)


def monitor_step(_upstream: None, context: dict[str, Any],
                 runner: JobRunner | None = None) -> dict[str, Any]:
    """The monitor task's body (``runner``: the target's job runner unless given); on aws
    the ``monitor`` group runs it, after waiting for a Model Monitor report when that is the source."""
    from airsage.monitoring.step import run_monitor

    settings = task_settings()
    lake = lake_for(settings)
    endpoint = settings.section("serving").get("endpoint", "reviews-sentiment")
    description = _engines(settings).serving.describe(endpoint)
    live = [v for v in description.variants if v.get("weight", 0) > 0]
    if not live:
        raise AirflowSkipException(f"endpoint {endpoint} serves no model yet: nothing to monitor")
    serving = max(live, key=lambda v: v["weight"])
    start, end = _interval(context)
    with step_errors(names.MONITOR, quarantine_batch=False):
        result = run_monitor(
            settings, lake, endpoint=endpoint,
            model_name=serving["model_name"], model_version=str(serving["model_version"]),
            interval_start=start, interval_end=end, runner=runner or _job_runner(settings),
        )
    return narrated(names.MONITOR, {
        **result.to_dict(), "endpoint": endpoint, "model_name": serving["model_name"],
        "model_version": str(serving["model_version"]),
        "interval": [start.isoformat(), end.isoformat()]})


@task(task_id=names.SIGNAL_DRIFT, outlets=[DRIFT])
def signal_drift(monitored: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Emit the drift asset event (violations in its extra) and alert; skip when no drift."""
    from airsage.airflow.notifiers import send_alert
    from airsage.alerts.base import Alert

    if not monitored.get("should_retrain"):
        raise AirflowSkipException(
            f"no retraining: {len(monitored.get('violations', []))} violation(s) do not pass "
            "the violation policy"
        )
    violations = monitored.get("violations", [])
    extra: dict[str, Any] = {
        "endpoint": monitored.get("endpoint"),
        "model_version": monitored.get("model_version"),
        "report_key": monitored.get("report_key"),
        "violations": [
            {k: v.get(k) for k in ("feature_name", "constraint_check_type", "description")}
            for v in violations[:50]
        ],
        "violation_count": len(violations),
    }
    context["outlet_events"][DRIFT].extra = extra
    lines = [f"- {v['feature_name']}: {v['constraint_check_type']}: {v['description']}"
             for v in extra["violations"]]
    send_alert(
        Alert(
            title=f"drift on {extra['endpoint']}: retraining scheduled",
            message="\n".join(lines),
            severity="warning",
            dag_id=names.DRIFT_DAG_ID,
            task_id=names.SIGNAL_DRIFT,
            run_id=context.get("run_id"),
            details=extra,
        )
    )
    return extra
