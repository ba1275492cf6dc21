"""Query strings that answered 500 (or were silently ignored) before, each with the 400 and the
message it gets now. Found by hand (issue 10) and by tests/reliability/test_query_fuzz.py."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import log, open_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(cast):
    log(cast.rep_a1, outcome="Outcome of rep_a1")
    open_deal(cast.rep_a1, name="Deal of rep_a1")
    client = Client()
    client.force_login(cast.admin)
    return client


def text(response) -> str:
    return response.content.decode()


# --- pages and exports -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        # Was a 500: the day after 9999-12-31 does not exist (an OverflowError in the selector).
        ("/activities/?date_to=9999-12-31", "To", "9999-12-31 is too far in the future."),
        ("/activities/?date_from=0001-01-01", "From", "0001-01-01 is before 2000-01-01"),
        ("/activities/?date_from=2026-02-30", "From", "Write a day as YYYY-MM-DD"),
        ("/deals/?opened_to=9999-12-31", "Opened until", "9999-12-31 is too far in the future."),
        ("/deals/?opened_from=10000-01-01", "Opened from", "Write a day as YYYY-MM-DD"),
        # Were ignored (the whole list shown as if unfiltered).
        ("/activities/?rep=abc", "Rep", "Select a valid choice"),
        ("/deals/?team=99999999999999999999", "Team", "Select a valid choice"),
        ("/deals/?stage=a%00b", "Stage", "Null characters are not allowed."),
        ("/deals/?q=a%00b", "Search", "Null characters are not allowed."),
    ],
)
def test_a_list_refuses_a_bad_filter_naming_it(admin, url, field, message):
    response = admin.get(url)
    assert response.status_code == 400
    alert = text(response).split('data-testid="query-errors"')[1].split("</div>")[0]
    assert f"<strong>{field}</strong>" in alert
    assert message in alert
    assert "Outcome of rep_a1" not in text(response) and "Deal of rep_a1" not in text(response)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/activities/?page=-1", "page must be a whole number from 1."),
        ("/activities/?page=abc", "page must be a whole number from 1."),
        (f"/activities/?page={10**30}", "page must be a whole number from 1."),
        ("/deals/?page=2", "There is no page 2: the last page is 1."),
    ],
)
def test_a_list_refuses_a_page_it_does_not_have(admin, url, message):
    # Was the first or last page, silently, whatever was asked for.
    response = admin.get(url)
    assert response.status_code == 400
    assert message in text(response).split('data-testid="query-errors"')[1]


@pytest.mark.parametrize(
    ("url", "line"),
    [
        # Was a 500, like the list.
        ("/activities/export.csv?date_to=9999-12-31", "To: 9999-12-31 is too far in the future."),
        ("/activities/export.xlsx?date_to=9999-12-31", "To: 9999-12-31 is too far in the future."),
        ("/deals/export.xlsx?opened_from=0001-01-01", "Opened from: 0001-01-01 is before 2000-01-01"),
        ("/deals/export.csv?rep=abc", "Rep: Select a valid choice."),
    ],
)
def test_an_export_refuses_a_bad_filter_in_words(admin, url, line):
    response = admin.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert line in text(response)
    assert "rep_a1" not in text(response)


def test_the_first_page_of_an_empty_list_is_still_a_page(cast):
    client = Client()
    client.force_login(cast.rep_b1.user)
    assert client.get("/activities/?page=1").status_code == 200
    assert client.get("/deals/").status_code == 200


# --- the API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        # Were 500s: Period.parse's reason quotes the text, and django-filter %-formatted it.
        ("/api/v1/quotas/?period=%25", "period", "'%' is not a period"),
        ("/api/v1/projections/?period=50%25", "period", "'50%' is not a period"),
        # Were 404 "Invalid page.".
        ("/api/v1/activities/?page=-1", "page", "page must be a whole number from 1."),
        ("/api/v1/activities/?page=abc", "page", "page must be a whole number from 1."),
        (f"/api/v1/deals/?page={10**30}", "page", "page must be a whole number from 1."),
        ("/api/v1/deals/?page=3", "page", "There is no page 3: the last page is 1."),
        # Were the default page size, silently.
        ("/api/v1/reps/?page_size=0", "page_size", "page_size must be a whole number from 1."),
        ("/api/v1/reps/?page_size=5000", "page_size", "page_size can be at most 1000."),
        # Was ignored: the default order.
        ("/api/v1/activities/?ordering=nonsense", "ordering", "'nonsense': sort by occurred_at"),
        ("/api/v1/deals/?ordering=-amount,owner__user__password", "ordering", "'owner__user__password'"),
        # Were accepted and asked the database for days it cannot hold.
        ("/api/v1/activities/?occurred_before=9999-12-31", "occurred_before", "too far in the future"),
        ("/api/v1/deals/?closed_after=0001-01-01", "closed_after", "0001-01-01 is before 2000-01-01"),
        ("/api/v1/activities/?rep=99999999999999999999", "rep", "an id has at most 19 digits"),
        ("/api/v1/teams/?territory=9223372036854775808", "territory", "less than or equal to"),
    ],
)
def test_the_api_refuses_a_bad_parameter_naming_it(admin, url, field, message):
    response = admin.get(url)
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == [field]
    assert message in body[field][0]


def test_the_api_still_reads_good_pages_and_orderings(admin, cast):
    for _ in range(2):
        log(cast.rep_a2)
    response = admin.get("/api/v1/activities/?page_size=2&page=2&ordering=-duration_minutes")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
    assert admin.get("/api/v1/activities/?page_size=2&page=last").json()["results"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # Was a 500 (on PostgreSQL): the trend charts the months before the span, before year 1.
        ("/dashboard/company/?period=0001-01-02", "0001-01-02 is before 2000-01-01"),
        ("/dashboard/company/?from=0002-01-01&to=0002-01-05", "0002-01-05 is before 2000-01-01"),
        ("/leaderboards/?period=0002", "0002-12-31 is before 2000-01-01"),
        ("/leaderboards/?period=9000-W10", "is too far in the future"),
    ],
)
def test_a_span_outside_the_calendar_window_is_refused_on_the_pages(admin, url, message):
    response = admin.get(url)
    assert response.status_code == 400
    assert message in text(response).split('role="alert"')[1].split("</div>")[0]


def test_a_span_outside_the_calendar_window_is_refused_by_the_leaderboard_api(admin):
    response = admin.get("/api/v1/leaderboards/?metric=revenue&scope=company&period=0002-01-02")
    assert response.status_code == 400
    assert "0002-01-02 is before 2000-01-01" in response.json()["period"][0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # Were accepted: a period the calendar holds but no row may lie in, read as an empty answer.
        ("/api/v1/metrics/?scope=company&period=0002", "0002: 0002-12-31 is before 2000-01-01"),
        ("/api/v1/funnel/?scope=company&period=0002-Q1", "0002-Q1: 0002-03-31 is before 2000-01-01"),
        ("/api/v1/metrics/?scope=company&period=9000-Q1", "is too far in the future"),
        ("/api/v1/quotas/?period=1999-12", "1999-12: 1999-12-31 is before 2000-01-01"),
    ],
)
def test_a_period_outside_the_calendar_window_is_refused_by_the_metrics_api(admin, url, message):
    response = admin.get(url)
    assert response.status_code == 400, response.content
    assert message in response.json()["period"][0]


def test_the_first_period_of_the_calendar_window_is_still_read(admin):
    assert admin.get("/api/v1/metrics/?scope=company&period=2000").status_code == 200
    assert admin.get("/api/v1/quotas/?period=2000-01").status_code == 200
