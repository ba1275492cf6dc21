"""docker-compose.yml cannot be started here (no Docker engine); keep it consistent instead."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_describes_the_whole_production_stack(compose):
    services = compose["services"]
    assert {"db", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    for name in ("db", "redis", "web", "worker"):
        assert "healthcheck" in services[name], f"{name} has no health check"


def test_app_services_run_in_production_mode_against_postgres_and_redis(compose):
    for name in ("migrate", "web", "worker", "beat"):
        environment = compose["services"][name]["environment"]
        assert environment["SALESTRACK_ENV"] == "production"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"].startswith("redis://redis:")
        depends = compose["services"][name]["depends_on"]
        assert depends["db"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_commands_point_at_modules_that_exist(compose):
    services = compose["services"]
    web = " ".join(services["web"]["command"])
    assert "salestrack.wsgi:application" in web
    assert (ROOT / "salestrack" / "wsgi.py").exists()
    assert services["beat"]["command"][:3] == ["celery", "-A", "salestrack"]
    # The worker runs under its supervisor, which starts `celery -A salestrack worker` itself.
    worker = services["worker"]["command"]
    assert worker[:3] == ["python", "manage.py", "run_worker"] and "--" in worker
    assert (ROOT / "salestrack" / "management" / "commands" / "run_worker.py").exists()
    assert (ROOT / "salestrack" / "celery.py").exists()
    beat = " ".join(services["beat"]["command"])
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULER in beat


def test_every_variable_it_sets_is_read_by_the_settings(compose):
    settings_source = (ROOT / "salestrack" / "settings.py").read_text()
    for name in ("migrate", "web", "worker", "beat"):
        for variable in compose["services"][name]["environment"]:
            assert re.search(rf'"{variable}"', settings_source), f"settings never read {variable}"


def test_the_health_probe_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
