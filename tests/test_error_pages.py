"""The error pages: rendered without the database or a signed-in user, translated, styled by the
app's own stylesheet, and each naming what happened."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.test import RequestFactory
from django.utils import translation

from salestrack import outages


def _server_error(path: str, exc: BaseException | None):
    request = RequestFactory().get(path)
    if exc is None:
        return outages.server_error(request)
    try:
        raise exc
    except BaseException:
        return outages.server_error(request)


def test_a_server_error_is_a_500_page_with_the_apps_stylesheet():
    response = _server_error("/activities/", None)
    page = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in page
    assert "Something went wrong · salestrack</title>" in page
    assert "/static/css/app.css" in page
    assert 'href="/"' in page


def test_a_database_failure_outside_a_view_is_a_503_page_with_retry_after(settings):
    settings.SALESTRACK_RETRY_AFTER_SECONDS = 7
    response = _server_error("/activities/", OperationalError("connection refused"))
    page = response.content.decode()
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert "<h1>Unavailable for a moment</h1>" in page
    assert "The database is unavailable for a moment." in page
    assert "/static/css/app.css" in page


def test_the_api_gets_the_503_as_json():
    response = _server_error("/api/v1/activities/", OperationalError("connection refused"))
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert "database is unavailable" in json.loads(response.content)["detail"]


@pytest.mark.parametrize("language", ["de", "es", "id", "ko"])
def test_the_error_pages_speak_the_users_language(language):
    with translation.override(language):
        english = "Unavailable for a moment"
        page = _server_error("/", OperationalError("gone")).content.decode()
        assert translation.gettext(english) != english
        assert f"<h1>{translation.gettext(english)}</h1>" in page
        assert f"<title>{translation.gettext(english)} · salestrack</title>" in page
