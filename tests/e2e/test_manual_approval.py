"""Manual approval with Airflow 3's human-in-the-loop operator: with auto-approval off, a
blessed version waits as PendingManualApproval until a person approves it; then it is
marked Approved and deployed."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from e2e_harness import Pipeline

pytestmark = pytest.mark.e2e


class Reviewer(threading.Thread):
    """Answers pending approval requests as the Airflow UI's HITL API does: records the
    response and resumes the task parked in AWAITING_INPUT."""

    def __init__(self, choice: str) -> None:
        super().__init__(daemon=True)
        self.choice, self.answered, self.stop = choice, [], threading.Event()

    def run(self) -> None:
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.trigger import handle_event_submit
        from airflow.triggers.base import TriggerEvent
        from airflow.utils.session import create_session
        from sqlalchemy import select

        while not self.stop.wait(0.5):
            with create_session() as session:
                for detail in session.scalars(select(HITLDetail).where(HITLDetail.responded_at.is_(None))):
                    ti = session.get(TaskInstance, detail.ti_id)
                    # The operator writes the request, runs its notifiers and only then parks the
                    # task: answering in between would record a response nobody resumes.
                    if ti is None or ti.state not in ("awaiting_input", "deferred"):
                        continue
                    detail.chosen_options = [self.choice]
                    detail.params_input = {}
                    detail.responded_by = {"id": "reviewer", "name": "reviewer"}
                    detail.responded_at = dt.datetime.now(dt.UTC)
                    session.add(detail)
                    handle_event_submit(TriggerEvent(detail.as_resume_event_payload()),
                                        task_instance=ti, session=session)
                    self.answered.append(detail.subject)


def test_a_person_approves_the_blessed_version_and_it_is_deployed(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    reviewer = Reviewer("Approve")
    reviewer.start()
    try:
        summary = pipeline.run("2026-07-01", conf={"auto_approve": False})
    finally:
        reviewer.stop.set()
        reviewer.join()
    assert summary.state == "success", summary.task_states
    assert summary.xcoms["register"]["model_version"]["status"] == "PendingManualApproval"
    assert reviewer.answered and "reviews-sentiment" in reviewer.answered[0]
    assert summary.task_states["approve_model"] == "success"
    assert summary.task_states["auto_approved"] == "skipped"
    assert summary.xcoms["record_approval"]["model_version"]["status"] == "Approved"
    assert summary.task_states["deploy"] == "success"

    from airsage.config import load_settings
    from airsage.registry.local import MlflowRegistry

    version = summary.xcoms["register"]["model_version"]
    stored = MlflowRegistry(load_settings()).get_version(version["name"], version["version"])
    assert stored.status == "Approved"
