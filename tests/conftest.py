"""Shared fixtures: a fixed cast of users (one of whom must be refused) and service switches.

Personas: an admin; manager_a who manages team A; reps a1 and a2 in team A;
manager_b and rep b1 in team B. Tests that need a service or a browser skip
with a reason on a developer's machine, but fail when REQUIRE_SERVICES=1 (CI).
"""

import os

import pytest

from activities import services
from activities.models import Team, Territory

PASSWORD = "correct-horse-battery-staple"


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"


def need(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI, when something a test needs is missing."""
    if condition:
        return
    if services_required():
        pytest.fail(f"required in CI but missing: {reason}")
    pytest.skip(reason)


class Cast:
    """The personas, created once per test."""

    def __init__(self, django_user_model):
        north = Territory.objects.create(name="North")
        south = Territory.objects.create(name="South")
        self.admin = django_user_model.objects.create_user(
            "admin", "admin@example.com", PASSWORD, first_name="Ada", last_name="Admin"
        )
        services.user_set_role(user=self.admin, role="admin")
        self.manager_a = django_user_model.objects.create_user(
            "manager_a", "ma@example.com", PASSWORD, first_name="Mona", last_name="Alpha"
        )
        services.user_set_role(user=self.manager_a, role="manager")
        self.manager_b = django_user_model.objects.create_user(
            "manager_b", "mb@example.com", PASSWORD, first_name="Max", last_name="Beta"
        )
        services.user_set_role(user=self.manager_b, role="manager")
        self.team_a = Team.objects.create(name="Team A", manager=self.manager_a, territory=north)
        self.team_b = Team.objects.create(name="Team B", manager=self.manager_b, territory=south)
        self.rep_a1 = services.rep_create(
            username="rep_a1", team=self.team_a, password=PASSWORD, first_name="Ana", last_name="One"
        )
        self.rep_a2 = services.rep_create(
            username="rep_a2", team=self.team_a, password=PASSWORD, first_name="Ari", last_name="Two"
        )
        self.rep_b1 = services.rep_create(
            username="rep_b1", team=self.team_b, password=PASSWORD, first_name="Bo", last_name="Three"
        )
        self.territory_north = north
        self.territory_south = south


@pytest.fixture
def cast(db, django_user_model):
    return Cast(django_user_model)


@pytest.fixture(autouse=True)
def _english_between_tests():
    """A request in another language leaves it active in the thread; start each test in English."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.activate("en")


@pytest.fixture(autouse=True)
def _celery_in_process(request):
    """Tasks run in the test's process; tests marked `services` talk to a real broker and worker."""
    from salestrack.celery import app

    if request.node.get_closest_marker("services"):
        yield
        return
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def _empty_cache():
    """Locks and debounce keys live in the cache; no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
