"""docker-compose.yaml is for users (no Docker engine here): check it parses and is whole."""

from __future__ import annotations

from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}


def _compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())


def test_compose_declares_every_airflow_3_component_and_the_database() -> None:
    services = _compose()["services"]
    commands = {svc.get("command") for svc in services.values() if isinstance(svc.get("command"), str)}
    assert commands >= AIRFLOW_COMMANDS
    assert "postgres" in services and "airflow-init" in services


def test_airflow_services_mount_the_project_and_share_one_configuration() -> None:
    compose = _compose()
    named_volumes = set(compose["volumes"])
    for name, service in compose["services"].items():
        if name == "postgres":
            continue
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        for folder in ("dags", "plugins", "include"):
            assert mounts[f"/opt/airflow/{folder}"] == f"./{folder}", name
            assert (PROJECT_ROOT / folder).is_dir()
        for source in mounts.values():
            assert source.startswith("./") or source in named_volumes, (name, source)
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert "healthcheck" in service or name == "airflow-init", name


def test_services_wait_for_healthy_dependencies_that_exist() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            assert rule["condition"] in {"service_healthy", "service_completed_successfully"}


def test_the_image_build_uses_the_pinned_requirements() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "apache/airflow:3.3.2" in dockerfile
    assert "requirements.txt" in dockerfile
    assert "apache-airflow==3.3.2" in (PROJECT_ROOT / "requirements.txt").read_text()
