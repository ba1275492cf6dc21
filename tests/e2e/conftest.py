"""Playwright driving Debian's chromium, headless, against pytest-django's live server.

Locally these tests skip (with the reason) when chromium or Playwright is
missing; in CI (REQUIRE_SERVICES=1) they fail instead.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import need

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"

# Playwright's sync API runs an event loop in this thread; the Django ORM calls
# the tests make between browser steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="package", autouse=True)
def _migration_rows_back_after_e2e(browser, django_db_blocker):
    """Leave the database as the migrations made it for the transactional tests that follow.

    The journeys restore the migrations' rows (stages, activity types, role groups)
    before each test with serialized_rollback, but the flush after the last one
    leaves the tables empty, content types and permissions included.
    """
    yield
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all(initialized_only=True):
            contents = getattr(connection, "_test_serialized_contents", None)
            if contents and not ContentType.objects.using(connection.alias).exists():
                connection.creation.deserialize_db_from_string(contents)


def _serialized_rows_of_connections() -> dict[str, str]:
    from django.db import connections

    return {
        alias: connections[alias]._test_serialized_contents
        for alias in connections
        if hasattr(connections[alias], "_test_serialized_contents")
    }


def _give_serialized_rows_to_connections(rows: dict[str, str]) -> None:
    from django.db import connections

    for alias, contents in rows.items():
        connections[alias]._test_serialized_contents = contents


@pytest.fixture(scope="session")
def browser(django_db_setup):
    need(Path(CHROMIUM).exists() or bool(shutil.which("chromium")), f"chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the machine
        need(False, "playwright is not installed")
    # Once Playwright's event loop runs in this thread, Django hands out new connection
    # objects (kept per context, as in async code). The rows the test database was
    # serialized into for serialized_rollback sit on the old ones: carry them over.
    serialized_rows = _serialized_rows_of_connections()
    with sync_playwright() as pw:
        _give_serialized_rows_to_connections(serialized_rows)
        browser = pw.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser context per test; console errors fail the test."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    # Chromium logs a console error for every 404, also for a page the test opens on
    # purpose to see the "Not found" page (goto_not_found); those, and only those, are expected.
    page.expected_not_found = set()

    def on_console(msg):
        if msg.type != "error":
            return
        url = msg.location.get("url") or ""
        if msg.text.startswith(NOT_FOUND_LOG) and urlsplit(url).path in page.expected_not_found:
            return
        errors.append(f"{msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"browser console errors: {errors}"


NOT_FOUND_LOG = "Failed to load resource: the server responded with a status of 404"


def goto_not_found(page, path):
    """Open `path` expecting the 404 page; its console error does not fail the test."""
    page.expected_not_found.add(urlsplit(path).path)
    return page.goto(path)


def sign_in(page, username, password):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
