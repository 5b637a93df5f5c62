"""Manual model approval with Airflow 3's human-in-the-loop operator.

A branch, not Airflow's ``ApprovalOperator``: that one skips everything downstream on
"Reject", so nothing could record the rejection. Here "Approve" runs ``record_approval``
(Approved, then baseline and deploy) and "Reject" runs ``record_rejection`` (Rejected in the
registry; the champion keeps serving). Who answered and when is kept as the XCom
``response`` for those tasks to record. An unanswered request rejects after 3 days.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.standard.operators.hitl import HITLBranchOperator

from airsage.airflow import names

APPROVE = "Approve"
REJECT = "Reject"
RESPONSE_XCOM = "response"


class ModelApprovalOperator(HITLBranchOperator):
    """Approve → ``record_approval``; Reject → ``record_rejection``; the response is kept."""

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" not in event:
            responded_at = event.get("responded_at")
            context["ti"].xcom_push(key=RESPONSE_XCOM, value={
                "chosen_options": list(event.get("chosen_options") or []),
                "responded_at": responded_at.isoformat() if isinstance(responded_at, dt.datetime)
                else responded_at,
                "responded_by_user": event.get("responded_by_user"),
            })
        return super().execute_complete(context=context, event=event)


def approve_model_task() -> ModelApprovalOperator:
    """A person approves or rejects the registered version on the Required Actions page."""
    from airsage.airflow.aws_registry import register_result_task

    register = f"ti.xcom_pull(task_ids='{register_result_task()}')"
    return ModelApprovalOperator(
        task_id=names.APPROVE_MODEL,
        subject=f"Approve model {{{{ {register}['model_version']['name'] }}}} version "
        f"{{{{ {register}['model_version']['version'] }}}}?",
        body=f"{{{{ {register}['approval_markdown'] }}}}",
        options=[APPROVE, REJECT],
        options_mapping={APPROVE: names.RECORD_APPROVAL, REJECT: names.RECORD_REJECTION},
        defaults=REJECT,
        response_timeout=dt.timedelta(days=3),
        retries=0,
        doc_md="Human approval of a blessed model version (PendingManualApproval → Approved "
        "or Rejected). A retry would ask again, so it has none.",
    )


def decision_of(response: dict[str, Any] | None) -> tuple[str, str]:
    """Who decided and when, from the kept response (a timeout is nobody's decision)."""
    response = response or {}
    user = response.get("responded_by_user") or {}
    who = (user.get("name") or user.get("id")) if isinstance(user, dict) else str(user)
    when = str(response.get("responded_at") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    return (who or "timeout: no answer within the response timeout (default Reject)"), when
