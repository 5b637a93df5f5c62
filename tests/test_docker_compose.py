"""docker-compose.yaml is for users (no Docker engine here): check it as Compose would read it.

The file is validated against the Compose Specification's JSON schema (vendored in
``tests/fixtures/compose-spec.json`` from compose-spec/compose-spec, Apache-2.0), after the
``${VAR:-default}`` interpolation Compose does with the values of ``.env.example``. Then what a
broken deployment would show only at ``docker compose up``: an unpinned image, a bind mount of
a missing path, a port open beyond loopback, a command that is no program or no Airflow
subcommand, a worker that is not a Celery worker, and shared state that is not shared.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCHEMA = Path(__file__).parent / "fixtures" / "compose-spec.json"
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}
AIRSAGE_IMAGE_PREFIX = "airsage:"
# Programs of third-party images that this file calls (their images are not on this machine):
# the image's name -> the programs its entrypoint runs or that its command may name.
THIRD_PARTY_PROGRAMS = {
    "postgres": {"postgres"},
    "redis": {"redis-server"},
    "minio/minio": {"server"},       # the minio entrypoint's subcommand
    "minio/mc": {"/bin/sh"},
}
_VARIABLE = re.compile(r"\$(\$)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def _env_example() -> dict[str, str]:
    values = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: ``${VAR}``, ``${VAR:-default}``, ``$$`` for a literal ``$``."""
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            if match.group(1):
                return "$"
            return env.get(match.group(2)) or (match.group(3) or "")

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    return value


def _raw() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())


def _compose() -> dict[str, Any]:
    return _interpolate(_raw(), _env_example())


def _airflow_services(services: dict[str, Any]) -> dict[str, Any]:
    """Services that run Airflow (they carry the executor setting)."""
    return {name: s for name, s in services.items()
            if "AIRFLOW__CORE__EXECUTOR" in (s.get("environment") or {})}


def _workers(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items()
            if isinstance(s.get("command"), list) and s["command"][:2] == ["celery", "worker"]}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def test_the_file_is_valid_under_the_compose_specification_schema() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(_compose()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_check_refuses_what_compose_refuses() -> None:
    """The validator is live: a misspelt key and a wrong type are errors."""
    import jsonschema

    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    broken = _compose()
    broken["services"]["redis"]["helthcheck"] = {}
    broken["services"]["postgres"]["ports"] = "5432"
    messages = " ".join(e.message for e in validator.iter_errors(broken))
    assert "helthcheck" in messages and "'5432' is not of type 'array'" in messages


def test_compose_declares_every_airflow_3_component_the_brokers_and_the_shared_state() -> None:
    services = _compose()["services"]
    commands = {svc.get("command") for svc in services.values() if isinstance(svc.get("command"), str)}
    assert commands >= AIRFLOW_COMMANDS
    for name in ("postgres", "redis", "airflow-init", "minio", "minio-init", "mlflow", "model-server"):
        assert name in services, name
    assert len(_workers(services)) >= 2


def test_every_image_is_pinned_and_the_build_extends_the_official_airflow_image() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} names no image"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag and tag != "latest", f"{name}: image {image!r} is not pinned"
        if image.startswith(AIRSAGE_IMAGE_PREFIX):
            assert service.get("build") == ".", f"{name} uses the airsage image but does not build it"
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert base and re.fullmatch(r"apache/airflow:3\.3\.2-python3\.\d+", base.group(1)), base
    assert "requirements.txt" in dockerfile
    requirements = (PROJECT_ROOT / "requirements.txt").read_text()
    assert "apache-airflow==3.3.2" in requirements
    for pin in ("apache-airflow-providers-celery==", "celery==", "redis==", "psycopg2-binary=="):
        assert re.search(rf"^{re.escape(pin)}\S+$", requirements, re.MULTILINE | re.IGNORECASE), pin


def test_every_bind_mount_exists_and_every_named_volume_is_declared() -> None:
    compose = _compose()
    named = set(compose["volumes"])
    for name, service in compose["services"].items():
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                assert (PROJECT_ROOT / source).resolve().exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"


def test_airflow_services_mount_the_project_and_share_one_configuration() -> None:
    services = _compose()["services"]
    airflow = _airflow_services(services)
    assert set(airflow) >= {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                            "airflow-triggerer", "airflow-init", *_workers(services)}
    first = next(iter(airflow.values()))["environment"]
    for name, service in airflow.items():
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        for folder in ("dags", "plugins", "include"):
            assert mounts[f"/opt/airflow/{folder}"] == f"./{folder}", name
        env = service["environment"]
        # issue 14 moved the deployment from the LocalExecutor to Celery workers
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name
        shared = {k: v for k, v in env.items() if k != "DUMB_INIT_SETSID"}
        assert shared == {k: v for k, v in first.items() if k != "DUMB_INIT_SETSID"}, name
        assert "healthcheck" in service or name == "airflow-init", name


def test_celery_uses_the_redis_and_postgres_services_and_workers_have_their_own_names() -> None:
    services = _compose()["services"]
    env = services["airflow-scheduler"]["environment"]
    assert re.fullmatch(r"redis://[^@]*@redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    assert "@postgres/" in env["AIRFLOW__CELERY__RESULT_BACKEND"]
    workers = _workers(services)
    names = [w["command"][w["command"].index("--celery-hostname") + 1] for w in workers.values()]
    assert len(set(names)) == len(names) >= 2
    for name, worker in workers.items():
        assert "celery" in " ".join(worker["healthcheck"]["test"]), name
        assert worker["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_ports_bind_to_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports") or []:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
            assert re.fullmatch(r"127\.0\.0\.1:\d+:\d+", port), (name, port)


def test_services_wait_for_healthy_dependencies_that_exist() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            assert rule["condition"] in {"service_healthy", "service_completed_successfully"}
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
            else:
                assert services[dependency].get("restart") == "no", (name, dependency)


def test_every_airflow_command_is_a_real_airflow_subcommand() -> None:
    """Each command the official entrypoint hands to ``airflow`` parses with Airflow's own CLI
    (the Celery provider's commands exist only under the CeleryExecutor, as in the image)."""
    services = _compose()["services"]
    argvs = {name: _command(s) for name, s in _airflow_services(services).items()
             if "entrypoint" not in s}
    probe = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "bad = {}\n"
        "for name, argv in json.loads(sys.argv[1]).items():\n"
        "    try:\n"
        "        get_parser().parse_args(argv)\n"
        "    except SystemExit as exc:\n"
        "        bad[name] = exc.code\n"
        "print(json.dumps(bad))\n"
    )
    import os

    env = {**os.environ, "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(argvs)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}, (argvs, done.stderr[-2000:])
    assert len(argvs) >= 6


def test_every_other_command_names_a_program_that_exists() -> None:
    """A service with its own entrypoint runs a program of the airsage image (checked in this
    environment, which installs the same requirements) or of its third-party image."""
    from importlib.util import find_spec

    bin_dir = Path(sys.executable).parent
    for name, service in _compose()["services"].items():
        image = service["image"]
        argv = [*(service.get("entrypoint") or []), *_command(service)]
        if not argv:
            continue
        if image.startswith(AIRSAGE_IMAGE_PREFIX):
            if "entrypoint" not in service:
                continue  # handed to airflow: the test above
            assert argv[:2] == ["/usr/bin/dumb-init", "--"], name
            program = argv[2]
            assert (bin_dir / program).exists() or shutil.which(program), f"{name}: no {program}"
            if program == "python" and argv[3] == "-m":
                assert find_spec(argv[4]) is not None, f"{name}: no module {argv[4]}"
            if program == "mlflow":
                _check_mlflow_options(argv[3:])
        else:
            repository = image.rpartition(":")[0]
            assert argv[0] in THIRD_PARTY_PROGRAMS[repository], (name, argv)


def _check_mlflow_options(argv: list[str]) -> None:
    from mlflow.cli import cli

    command = cli.commands[argv[0]]
    known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    for token in argv[1:]:
        if token.startswith("--"):
            assert token in known, f"mlflow {argv[0]} has no option {token}"


def test_the_model_server_command_takes_the_options_given() -> None:
    argv = _command(_compose()["services"]["model-server"])
    done = subprocess.run([sys.executable, *argv[1:3], "--help"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    for token in argv[3:]:
        if token.startswith("--"):
            assert token in done.stdout, token


def test_every_variable_is_documented_in_env_example_with_the_same_default() -> None:
    raw = (PROJECT_ROOT / "docker-compose.yaml").read_text()
    example = _env_example()
    used = {}
    for match in _VARIABLE.finditer(raw):
        if match.group(2):
            used.setdefault(match.group(2), set()).add(match.group(3) or "")
    assert set(used) == set(example), (sorted(set(used) - set(example)), sorted(set(example) - set(used)))
    for name, defaults in used.items():
        assert defaults == {example[name]}, (name, defaults, example[name])


def test_tasks_find_every_piece_of_shared_state_in_a_service() -> None:
    """The airsage settings a worker reads lead to services, never to one worker's files."""
    from airsage.config import load_settings

    services = _compose()["services"]
    env = services["airflow-worker-1"]["environment"]
    settings = load_settings(environ={k: str(v) for k, v in env.items() if k.startswith("AIRSAGE")})
    from airsage.lake.aws import S3Lake
    from airsage.serving.base import ServingConfig
    from airsage.targets import implementation

    lake = implementation("lake", settings)  # what every task's lake_for builds
    assert isinstance(lake, S3Lake) and _host(lake.endpoint_url or "") == "minio"
    assert ServingConfig.from_settings(settings).admin_token  # validated: a remote URL needs it
    assert _host(settings.section("registry")["tracking_uri"]) == "mlflow"
    assert settings.section("tuning")["storage"].startswith("postgresql+psycopg2://")
    assert "@postgres/optuna" in settings.section("tuning")["storage"]
    serving_url = settings.section("serving")["url"]
    assert _host(serving_url) == "model-server"
    assert f":{serving_url.rsplit(':', 1)[1]}" in services["model-server"]["ports"][0]
    mlflow = _command(services["mlflow"])
    assert mlflow[mlflow.index("--backend-store-uri") + 1].endswith("@postgres/mlflow")
    bucket = settings.lake_root.split("/")[2]
    assert mlflow[mlflow.index("--artifacts-destination") + 1].startswith(f"s3://{bucket}/")
    init_sql = (PROJECT_ROOT / "scripts" / "compose" / "init-databases.sql").read_text()
    assert "CREATE DATABASE mlflow" in init_sql and "CREATE DATABASE optuna" in init_sql
    assert bucket in " ".join(f"{k}={v}" for k, v in services["minio-init"]["environment"].items())
    for name in ("model-server", "mlflow"):
        assert services[name]["environment"]["AIRSAGE_LAKE_ROOT"] == settings.lake_root, name


def _host(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).hostname or ""
