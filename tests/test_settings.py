"""The one settings module, driven by the environment: embedded defaults, loud errors.

Each case starts a fresh interpreter with a clean environment, so nothing of the
test run (SALESTRACK_ENV=test, a developer's variables) leaks into what is checked.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LONG_SECRET = "s3cr3t-" + "k9Qz!w7Rt" * 8
PRINT_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "DEBUG": s.DEBUG,
    "ENGINE": db["ENGINE"],
    "NAME": str(db["NAME"]),
    "HOST": db.get("HOST", ""),
    "PORT": str(db.get("PORT", "")),
    "USER": db.get("USER", ""),
    "BROKER": s.CELERY_BROKER_URL,
    "RESULT_BACKEND": s.CELERY_RESULT_BACKEND,
    "EAGER": s.CELERY_TASK_ALWAYS_EAGER,
    "CACHE": s.CACHES["default"]["BACKEND"],
    "TIME_ZONE": s.TIME_ZONE,
    "CELERY_TIMEZONE": s.CELERY_TIMEZONE,
    "USE_TZ": s.USE_TZ,
    "SECURE_SSL_REDIRECT": getattr(s, "SECURE_SSL_REDIRECT", False),
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
}))
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean_env = {"DJANGO_SETTINGS_MODULE": "salestrack.settings", "PYTHONDONTWRITEBYTECODE": "1", **env}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean_env, capture_output=True, text=True, timeout=120
    )


def settings_under(**env: str) -> dict:
    result = run(["-c", PRINT_SETTINGS], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def production(**env: str) -> dict:
    return {
        "SALESTRACK_ENV": "production",
        "SECRET_KEY": LONG_SECRET,
        "ALLOWED_HOSTS": "sales.example.com",
        **env,
    }


def fails_loudly(mentioning: str, **env: str) -> None:
    result = run(["-c", PRINT_SETTINGS], **env)
    assert result.returncode != 0, f"started anyway: {result.stdout}"
    assert mentioning in result.stderr


class EmbeddedDefaultsTests:
    def test_with_no_environment_it_runs_on_sqlite_with_eager_celery(self):
        settings = settings_under()
        assert settings["ENGINE"] == "django.db.backends.sqlite3"
        assert settings["NAME"].endswith("db.sqlite3")
        assert settings["EAGER"] is True
        assert settings["BROKER"] == "memory://localhost/"
        assert settings["CACHE"] == "django.core.cache.backends.locmem.LocMemCache"
        assert settings["DEBUG"] is True
        assert settings["TIME_ZONE"] == "UTC"
        assert settings["USE_TZ"] is True

    def test_eager_tasks_do_not_flood_a_commands_output(self):
        """The demo runs queued metrics tasks in-process: their success lines must not bury a report."""
        code = (
            "import django\n"
            "django.setup()\n"
            "from salestrack.celery import app\n"
            "@app.task\n"
            "def noop():\n"
            "    return 1\n"
            "assert noop.delay().get() == 1\n"
            "import logging\n"
            "logging.getLogger('celery.app.trace').warning('still-shown')\n"
        )
        result = run(["-c", code])
        assert result.returncode == 0, result.stderr
        assert "succeeded" not in result.stderr
        assert "No hostname was supplied" not in result.stderr
        assert "still-shown" in result.stderr  # warnings and errors of tasks still show

    def test_database_and_redis_urls_switch_to_postgres_and_a_real_broker(self):
        settings = settings_under(DATABASE_URL="postgres://u@h:5432/db", REDIS_URL="redis://h:6379/0")
        assert settings["ENGINE"] == "django.db.backends.postgresql"
        assert (settings["NAME"], settings["HOST"], settings["PORT"], settings["USER"]) == (
            "db",
            "h",
            "5432",
            "u",
        )
        assert settings["BROKER"] == "redis://h:6379/0"
        assert settings["RESULT_BACKEND"] == "redis://h:6379/0"
        assert settings["EAGER"] is False
        assert settings["CACHE"] == "django.core.cache.backends.redis.RedisCache"

    def test_the_time_zone_comes_from_the_environment(self):
        settings = settings_under(TIME_ZONE="Asia/Seoul")
        assert settings["TIME_ZONE"] == "Asia/Seoul"
        assert settings["CELERY_TIMEZONE"] == "Asia/Seoul"

    def test_an_unknown_time_zone_fails_loudly(self):
        fails_loudly("Mars/Olympus_Mons", TIME_ZONE="Mars/Olympus_Mons")

    @pytest.mark.parametrize(
        ("raw", "expected"), [("true", True), ("1", True), ("False", False), ("off", False)]
    )
    def test_switches_read_the_usual_spellings(self, raw, expected):
        assert settings_under(DEBUG=raw)["DEBUG"] is expected

    @pytest.mark.parametrize("name", ["DEBUG", "CELERY_TASK_ALWAYS_EAGER"])
    def test_a_misspelt_switch_fails_loudly_instead_of_meaning_false(self, name):
        fails_loudly(name, **{name: "ture"})


class ProductionModeTests:
    def test_it_refuses_to_start_without_a_secret_key(self):
        env = production()
        del env["SECRET_KEY"]
        fails_loudly("SECRET_KEY", **env)

    def test_it_refuses_a_short_secret_key(self):
        fails_loudly("SECRET_KEY", **production(SECRET_KEY="short"))

    @pytest.mark.parametrize("debug", ["true", "1", "on"])
    def test_it_refuses_debug(self, debug):
        fails_loudly("DEBUG", **production(DEBUG=debug))

    def test_a_misspelt_ssl_redirect_fails_instead_of_turning_it_off(self):
        fails_loudly("SECURE_SSL_REDIRECT", **production(SECURE_SSL_REDIRECT="flase"))

    def test_it_is_hardened_by_default(self):
        settings = settings_under(**production())
        assert settings["DEBUG"] is False
        assert settings["SECURE_SSL_REDIRECT"] is True
        assert settings["SESSION_COOKIE_SECURE"] is True
        assert settings["ALLOWED_HOSTS"] == ["sales.example.com"]

    def test_the_deployment_checklist_is_clean(self):
        result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **production())
        assert result.returncode == 0, result.stderr + result.stdout
        assert "no issues" in result.stdout


def test_an_unknown_environment_name_fails_loudly():
    fails_loudly("SALESTRACK_ENV", SALESTRACK_ENV="staging")


def test_pytest_collects_the_behaviour_classes_of_the_style_guide(pytestconfig):
    # STYLE.md names test classes `class DealMoveStageTests`; pytest only collects them if told to.
    assert any(pattern.endswith("Tests") for pattern in pytestconfig.getini("python_classes")), (
        'add python_classes = ["Test*", "*Tests"] to [tool.pytest.ini_options] in pyproject.toml'
    )
