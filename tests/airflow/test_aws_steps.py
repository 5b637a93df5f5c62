"""The target switch and the aws steps' run-time plumbing (no AWS; tests/aws runs the DAG)."""

from __future__ import annotations

import pytest

from airsage.airflow import aws_steps, tasks


def test_the_target_comes_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRSAGE_TARGET", raising=False)
    from airsage.airflow.runtime import builds_for_aws, parsed_target

    assert parsed_target() == "local" and not builds_for_aws()
    monkeypatch.setenv("AIRSAGE_TARGET", "aws")
    assert parsed_target() == "aws" and builds_for_aws()


def test_local_keeps_one_task_per_step_and_aws_gets_the_groups() -> None:
    assert aws_steps.data_plane_steps("local") == (tasks.crawl, tasks.validate_sql, tasks.quality_gate)
    assert aws_steps.data_plane_steps("aws") == (aws_steps.crawl, aws_steps.validate_sql,
                                                 aws_steps.quality_gate)
    with pytest.raises(ValueError, match="'gcp' is not a target"):
        aws_steps.data_plane_steps("gcp")


def test_idempotency_tokens_are_stable_per_run_and_differ_across_runs() -> None:
    first = aws_steps.idempotency_token("manual__1", "rating_in_range", "SELECT 1")
    assert first == aws_steps.idempotency_token("manual__1", "rating_in_range", "SELECT 1")
    assert first != aws_steps.idempotency_token("manual__2", "rating_in_range", "SELECT 1")
    assert 32 <= len(first) <= 128


def test_a_run_cannot_switch_the_target_its_dag_was_parsed_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Variable (or the file) naming another target than AIRSAGE_TARGET fails the task
    with what to do, instead of running a local step against the aws lake or the reverse."""
    import json

    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    from airsage.airflow import runtime

    variable: dict[str, str] = {}
    monkeypatch.setattr(Variable, "get", staticmethod(lambda key, default=None: variable.get(key, default)))
    monkeypatch.delenv("AIRSAGE_TARGET", raising=False)
    assert runtime.task_settings().target == "local"

    variable["airsage_config"] = json.dumps({"target": "aws"})
    with pytest.raises(AirflowFailException, match=r"parsed for the local target \(AIRSAGE_TARGET=local\) "
                       r"but the run's configuration says target 'aws'.*cannot be switched"):
        runtime.task_settings()

    monkeypatch.setenv("AIRSAGE_TARGET", "aws")
    variable["airsage_config"] = json.dumps({"target": "local"})
    with pytest.raises(AirflowFailException, match="parsed for the aws target"):
        runtime.task_settings()
