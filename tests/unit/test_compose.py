"""docker-compose.yml and the Dockerfile, checked against the code they run (Docker itself is not needed).

A compose file drifts silently: a renamed command or setting only shows when someone deploys. These tests
run every service's command through the real CLI, load the settings the services would get, and run the
scheduler's health check against a real (SQLite) database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import insert

from checkups.crypto import generate_key
from checkups.db import make_engine
from checkups.engine.ticker import LEADER_LEASE
from checkups.migrate import upgrade
from checkups.models import Lease
from checkups.runtime import vault_for
from checkups.settings import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
CHECKUPS_SERVICES = sorted(name for name, service in SERVICES.items() if "build" in service)
SECRET_FIELDS = sorted(
    name for name, field in Settings.model_fields.items() if SecretStr in getattr(field.annotation, "__args__", ())
)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):  # the KEY=value form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def interpolate(value: str, host: dict[str, str]) -> str:
    """Resolve ``${...}`` the way compose does, from ``host``; a missing required variable is an error."""

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        present = host.get(name)
        if op in (":-", ":?") and present == "":
            present = None
        if present is not None:
            return present
        if op and op.endswith("?"):
            raise LookupError(f"{name}: {arg}")
        return arg or ""

    return INTERPOLATION.sub(resolve, value.replace("$$", "\0")).replace("\0", "$")


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


HOST = {
    "CHECKUPS_ENCRYPTION_KEY": generate_key(),
    "CHECKUPS_SECRET_KEY": "a-session-signing-key-for-the-test",
}


# --- services ---------------------------------------------------------------------------------------------


def test_compose_has_the_database_broker_migration_worker_scheduler_and_web() -> None:
    assert {"postgres", "redis", "migrate", "worker", "scheduler", "web"} <= set(SERVICES)
    assert CHECKUPS_SERVICES == ["migrate", "scheduler", "web", "worker"]


def test_web_publishes_its_port_and_checks_healthz() -> None:
    web = SERVICES["web"]
    assert "8000:8000" in web["ports"]
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", CHECKUPS_SERVICES)
def test_service_command_is_a_real_cli_command(service: str) -> None:
    command = SERVICES[service]["command"]
    assert isinstance(command, list), "use the exec (list) form, so arguments are not split by a shell"
    result = subprocess.run(
        [sys.executable, "-m", "checkups", *command, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)},
        timeout=60,
    )
    assert result.returncode == 0, f"checkups {' '.join(command)} --help: {result.stderr or result.stdout}"


def test_migration_runs_once_and_worker_and_scheduler_wait_for_it() -> None:
    assert SERVICES["migrate"]["command"] == ["db", "upgrade"]
    assert SERVICES["migrate"]["restart"] == "no"  # quoted: a bare `no` is YAML for false
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in ("worker", "scheduler"):
        depends = SERVICES[service]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", service
        assert depends["redis"]["condition"] == "service_healthy", service


def test_only_one_scheduler_is_started() -> None:
    replicas = SERVICES["scheduler"].get("deploy", {}).get("replicas", 1)
    assert replicas == 1


def test_postgres_and_redis_have_health_checks() -> None:
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    assert SERVICES["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_worker_health_check_pings_its_own_celery_worker() -> None:
    test = " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert "celery -A checkups.tasks.app inspect ping" in test
    assert "--destination celery@$$HOSTNAME" in test  # $$: compose passes a literal $ to the shell


# --- environment and settings -----------------------------------------------------------------------------


@pytest.mark.parametrize("service", CHECKUPS_SERVICES)
def test_every_checkups_variable_is_a_setting(service: str) -> None:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    variables = {key for key in environment(service) if key.startswith(ENV_PREFIX)}
    assert variables, f"{service} has no CHECKUPS_* environment"
    assert variables - known == set()


@pytest.mark.parametrize("service", CHECKUPS_SERVICES)
def test_secrets_come_from_the_host_and_are_required(service: str) -> None:
    env = environment(service)
    assert {ENV_PREFIX + "ENCRYPTION_KEY", ENV_PREFIX + "SECRET_KEY"} <= set(env)
    for field in SECRET_FIELDS:
        key = ENV_PREFIX + field.upper()
        if key in env:
            assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", env[key]), f"{key} must be ${{{key}:?...}}, not a value"


def test_compose_refuses_to_start_without_the_encryption_key() -> None:
    value = environment("worker")[ENV_PREFIX + "ENCRYPTION_KEY"]
    with pytest.raises(LookupError, match="CHECKUPS_ENCRYPTION_KEY"):
        interpolate(value, {})


@pytest.mark.parametrize("service", CHECKUPS_SERVICES)
def test_service_environment_is_valid_settings_for_the_compose_network(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in environment(service).items():
        monkeypatch.setenv(key, interpolate(value, HOST))
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://checkups:checkups@postgres:5432/checkups"
    assert settings.redis_url == "redis://redis:6379/0"
    assert str(settings.protocols_dir) == "/app/config/protocols"
    vault_for(settings)  # the key is usable: PostgreSQL refuses to start without one


def test_services_share_one_environment() -> None:
    first = environment(CHECKUPS_SERVICES[0])
    for service in CHECKUPS_SERVICES[1:]:
        assert environment(service) == first, service


def test_database_password_matches_between_postgres_and_the_url() -> None:
    postgres = SERVICES["postgres"]["environment"]
    url = environment("worker")[ENV_PREFIX + "DATABASE_URL"]
    assert f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/{postgres['POSTGRES_DB']}" in url


# --- the scheduler's health check, run for real -----------------------------------------------------------


def run_scheduler_health_check(database: Path) -> int:
    test = SERVICES["scheduler"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env[ENV_PREFIX + "DATABASE_URL"] = f"sqlite:///{database}"
    return subprocess.run([sys.executable, "-c", test[3]], env=env, capture_output=True, timeout=60).returncode


def test_scheduler_is_healthy_only_while_it_holds_a_fresh_leader_lease(tmp_path: Path) -> None:
    database = tmp_path / "checkups.db"
    upgrade(f"sqlite:///{database}")
    assert run_scheduler_health_check(database) == 1  # never ticked

    engine = make_engine(f"sqlite:///{database}")
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(insert(Lease).values(name=LEADER_LEASE, holder="h", expires_at=now + timedelta(seconds=30)))
    assert run_scheduler_health_check(database) == 0

    with engine.begin() as connection:
        connection.execute(Lease.__table__.update().values(expires_at=now - timedelta(seconds=1)))
    engine.dispose()
    assert run_scheduler_health_check(database) == 1  # stopped ticking (or resigned)


# --- the image ----------------------------------------------------------------------------------------------


def test_image_entrypoint_is_the_checkups_command() -> None:
    entrypoints = [arg for op, arg in dockerfile_instructions() if op == "ENTRYPOINT"]
    assert entrypoints, "no ENTRYPOINT"
    assert json.loads(entrypoints[-1]) == ["checkups"]


def test_image_does_not_run_as_root() -> None:
    users = [arg.split(":")[0].strip() for op, arg in dockerfile_instructions() if op == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1] not in {"root", "0"}


def test_image_is_python_slim_with_the_package_without_dev_extras_and_the_protocols() -> None:
    instructions = dockerfile_instructions()
    assert ("FROM", "python:3.11-slim") in instructions
    installs = [arg for op, arg in instructions if op == "RUN" and "pip install" in arg]
    assert installs
    assert not any("[dev]" in arg or "-e " in arg for arg in installs)
    assert ("WORKDIR", "/app") in instructions
    assert any(op == "COPY" and arg.split()[0] == "config" for op, arg in instructions)
    protocols = next(
        (arg for op, arg in instructions if op == "ENV" and "CHECKUPS_PROTOCOLS_DIR" in arg), "protocols dir unset"
    )
    assert "/app/config/protocols" in protocols
