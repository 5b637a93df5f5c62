"""Manual model approval with Airflow 3's human-in-the-loop operator."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.hitl import ApprovalOperator

from airsage.airflow import names


def approve_model_task(registered: object) -> ApprovalOperator:
    """A person approves or rejects the registered version in the Airflow UI; rejecting
    skips the rest of the run, so the champion keeps serving. Unanswered in 3 days: reject."""
    return ApprovalOperator(
        task_id=names.APPROVE_MODEL,
        subject="Approve model {{ ti.xcom_pull(task_ids='register')['model_version']['name'] }} "
        "version {{ ti.xcom_pull(task_ids='register')['model_version']['version'] }}?",
        body="Evaluation and blessing of this version: "
        "{{ ti.xcom_pull(task_ids='register')['blessing'] }}",
        defaults="Reject",
        response_timeout=dt.timedelta(days=3),
        doc_md="Human approval of a blessed model version (PendingManualApproval → Approved).",
    )
