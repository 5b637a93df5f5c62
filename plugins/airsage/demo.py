"""The local demo: the whole airsage loop on one offline machine, with the real DAGs.

1. ``reviews_daily`` runs for the last few days (a backfill): each day's generated batch is
   landed, catalogued, checked by SQL, the quality and bias gates, prepared, trained,
   evaluated, registered when blessed, and deployed blue/green to a local endpoint.
2. Client traffic reaches the endpoint; its requests are captured.
3. ``reviews_drift_monitor`` checks clean traffic (no alarm), then drifted traffic: the
   violations emit the drift asset event, which queues a retraining run of ``reviews_daily``
   that goes through every gate again.
The endpoint keeps running afterwards; the demo prints how to call and stop it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from airsage.config import load_settings


def _line(day: str, summary: Any) -> str:
    states = summary.task_states
    register = summary.xcoms.get("register") or {}
    evaluate = summary.xcoms.get("evaluate") or {}
    accuracy = (evaluate.get("evaluation") or {}).get("multiclass_classification_metrics", {})
    accuracy_value = accuracy.get("accuracy", {}).get("value")
    version = (register.get("model_version") or {}).get("version")
    deployed = (summary.xcoms.get("deploy") or {}).get("action")
    parts = [f"{day}: {summary.state}"]
    if accuracy_value is not None:
        parts.append(f"test accuracy {accuracy_value:.3f}")
    if register:
        parts.append(f"registered v{version}" if register.get("blessed") else "not blessed (champion stays)")
    if deployed:
        parts.append(f"endpoint {deployed}")
    failed = [t for t, s in states.items() if s == "failed"]
    if failed:
        parts.append(f"failed at {', '.join(failed)}")
    return " | ".join(parts)


def _print_alerts(alert_log: Any, since: int) -> None:
    for alert in alert_log.read()[since:]:
        print(f"  ALERT [{alert.severity}] {alert.title}\n    " + alert.message.replace("\n", "\n    "))


def run_demo(days: int = 3, end: str | None = None) -> int:
    from airsage.airflow.names import BATCH_DAG_ID, SCORE
    from airsage.airflow.runner import load_dag, run_dag, unpause
    from airsage.alerts.sinks import log_sink
    from airsage.serving.client import invoke, send_reviews
    from airsage.targets import Engines

    settings = load_settings()
    last = dt.date.fromisoformat(end) if end else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    daily, monitor = load_dag("reviews_daily"), load_dag("reviews_drift_monitor")
    alert_log = log_sink(settings)
    print(f"airsage demo — target {settings.target}, home {settings.home}\n")

    print(f"1. reviews_daily for {days} day(s) up to {last} (generated batches, real engines)")
    summary = None
    for offset in range(days - 1, -1, -1):
        day = (last - dt.timedelta(days=offset)).isoformat()
        seen = len(alert_log.read())
        summary = run_dag("reviews_daily", logical_date=day, dag=daily, partition=day)
        print("   " + _line(day, summary))
        if summary.state != "success":
            _print_alerts(alert_log, seen)
            return 1
    unpause("reviews_daily", "reviews_drift_monitor")

    deployer = Engines(settings).serving
    endpoint = settings.section("serving").get("endpoint", "reviews-sentiment")
    description = deployer.describe(endpoint)
    if not description.url or not description.variants:
        print("   no endpoint is serving: no model was blessed; see the blessing reports in the lake")
        return 1
    url = description.url
    # What the deploy's asset event queues under a scheduler (dag.test() does not follow it)
    scored = run_dag(BATCH_DAG_ID, conf={"partition_date": last.isoformat()})
    result = scored.xcoms.get(SCORE) or {}
    print(f"   reviews_batch_scoring (queued by the deploy's asset event): {scored.state}"
          + (f" | {result.get('rows')} predictions by v{result.get('model_version')} in "
             f"{result.get('predictions_key')}" if result else ""))
    print(f"   what that model trained on: airsage features query --as-of {last} --split train")
    print(f"\n2. endpoint {endpoint} serves at {url}: sending client traffic (captured)")
    logical = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    send_reviews(url, rows=300, seed=101, day=last.isoformat(), endpoint=endpoint)
    time.sleep(3)
    clean = run_dag("reviews_drift_monitor", logical_date=logical, dag=monitor)
    found = (clean.xcoms.get("monitor") or {}).get("violations", [])
    print(f"   monitor on clean traffic: {len(found)} violation(s), retrain: "
          f"{(clean.xcoms.get('monitor') or {}).get('should_retrain')}")

    print("\n3. drifted traffic (new vocabulary, older customers, other categories)")
    send_reviews(url, rows=900, seed=202, day=last.isoformat(), drift=1.0, endpoint=endpoint)
    time.sleep(3)
    seen = len(alert_log.read())
    drifted = run_dag("reviews_drift_monitor", logical_date=logical, dag=monitor)
    result = drifted.xcoms.get("monitor") or {}
    for violation in result.get("violations", [])[:6]:
        print(f"   - {violation['feature_name']}: {violation['constraint_check_type']}")
    if drifted.task_states.get("signal_drift") == "success":
        _print_alerts(alert_log, seen)
        print("   drift asset event emitted; reviews_daily is queued. Running that retraining now:")
        retrain = run_dag("reviews_daily", logical_date=None, dag=daily)
        print("   " + _line("retrain", retrain))

    example = json.dumps({"instances": [{"review_text": "love this dress, fits perfectly"}]})
    answer = invoke(url, [{"review_text": "love this dress, fits perfectly"}], endpoint=endpoint)
    print(f"\nThe endpoint keeps running at {url}. Call it (SageMaker Runtime API):\n"
          f"  curl -s -X POST {url}/endpoints/{endpoint}/invocations "
          f"-H 'Content-Type: application/json' -d '{example}'\n"
          f"  -> {json.dumps(answer)}\n"
          f"  airsage endpoint invoke --text 'love this dress'   (boto3's sagemaker-runtime)\n"
          f"  curl -s {url}/ping ; curl -s {url}/metrics\n"
          f"Stop it:      airsage endpoint stop\n"
          f"Lake:         {settings.lake_root}\n"
          f"Alerts:       {alert_log.where}\n"
          f"Airflow UI:   . scripts/env.sh && airflow standalone   (http://localhost:8080)")
    return 0
