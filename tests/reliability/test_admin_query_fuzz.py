"""No query string makes an admin changelist answer 500.

The targets are read from the site itself: every model registered in the admin, and for each
its changelist's own parameters, read off the page as an admin sees it (the filter links of the
sidebar and the date hierarchy) plus Django's `q`, `o`, `p`, `all` and `e`. The values are
those of test_query_fuzz (ids, the ends of the calendar, huge numbers, NUL bytes, long text).
Django answers a lookup it cannot use with a redirect to `?e=1`; anything below 500 passes.
"""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from tests.api.conftest import log, open_deal
from tests.reliability.test_query_fuzz import CALENDAR_EDGES, EDGE_NUMBERS, GARBAGE, PROFILE, values

pytestmark = pytest.mark.django_db

CHANGELIST = ["q", "o", "p", "all", "e"]
ALONE = ["abc", "-1", "9" * 25, "a\x00b", "9999", "0"]


def changelist_params(client: Client, url: str, model_admin) -> list[str]:
    """The parameters the changelist's own links use, and those of its date hierarchy."""
    page = client.get(url)
    assert page.status_code == 200, url
    params = set(CHANGELIST)
    for href in re.findall(r'href="(\?[^"]*)"', page.content.decode()):
        params.update(name for name, _ in parse_qsl(urlsplit(unescape(href)).query, keep_blank_values=True))
    if model_admin.date_hierarchy:
        params.update(f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day"))
    return sorted(params)


@pytest.fixture
def changelists(cast):
    deal = open_deal(cast.rep_a1, name="Fuzz deal")
    log(cast.rep_a1, deal=deal, outcome="Outcome of the fuzz")
    client = Client(raise_request_exception=False)
    client.force_login(cast.admin)
    targets = {}
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        if not model_admin.has_view_permission(_request_of(cast.admin)):
            continue
        targets[url] = changelist_params(client, url, model_admin)
    assert len(targets) >= 10, targets
    valid = [str(deal.pk), str(cast.rep_a1.pk), str(cast.team_a.pk), "1", "0", "-1", "1.2", "2026", "True"]
    return {"client": client, "targets": targets, "valid": valid}


def _request_of(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def check(url: str, pairs: list[tuple[str, str]], response) -> None:
    assert response.status_code < 500, f"GET {url}?{urlencode(pairs)[:300]}"


def test_the_edges_of_every_parameter_of_every_changelist(changelists):
    """Every edge value reaches every parameter (shifted, so each request mixes them)."""
    started, count = time.monotonic(), 0
    client, edges = changelists["client"], CALENDAR_EDGES + EDGE_NUMBERS + GARBAGE
    for url, params in changelists["targets"].items():
        for i in range(len(edges)):
            pairs = [(name, edges[(i + j) % len(edges)]) for j, name in enumerate(params)]
            check(url, pairs, client.get(url, dict(pairs)))
            count += 1
    print(f"admin query edges: {count} requests, {time.monotonic() - started:.1f} s")


def test_each_kind_of_edge_alone_in_each_parameter(changelists):
    """One parameter at a time (a refused one hides the rest): a word, a negative and a huge
    number, a NUL byte, the calendar's last and first year."""
    started, count = time.monotonic(), 0
    client = changelists["client"]
    for url, params in changelists["targets"].items():
        for name in params:
            for value in ALONE:
                check(url, [(name, value)], client.get(url, {name: value}))
                count += 1
    print(
        f"admin query edges alone: {count} requests over {len(changelists['targets'])} changelists, "
        f"{time.monotonic() - started:.1f} s"
    )


def test_hypothesis_generated_changelist_query_strings(changelists):
    targets, client = changelists["targets"], changelists["client"]

    @PROFILE
    @given(data=st.data())
    def one_request(data):
        url = data.draw(st.sampled_from(sorted(targets)), label="url")
        names = data.draw(st.lists(st.sampled_from(targets[url]), min_size=1, max_size=5), label="params")
        pairs = [(name, data.draw(values(changelists["valid"]), label=name)) for name in names]
        check(url, pairs, client.get(f"{url}?{urlencode(pairs)}"))

    one_request()


def test_the_team_filter_counts_its_choices(cast, changelists):
    """Was a 500: with facets shown, Django asks the filter for each team (as a number, not text)."""
    url = reverse("admin:metrics_quota_changelist")
    response = changelists["client"].get(url, {"_facets": "True", "team": str(cast.team_a.pk)})
    assert response.status_code == 200
    assert cast.team_a.name in response.content.decode()
    assert changelists["client"].get(url, {"team": "abc"}).status_code == 302  # Django's ?e=1


@pytest.mark.parametrize("year", ["99999999999999999999", "9999", "1999", "0"])
def test_a_date_hierarchy_year_outside_the_calendar_is_a_bad_lookup(changelists, year):
    url = reverse("admin:activities_activity_changelist")
    response = changelists["client"].get(url, {"occurred_at__year": year})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_a_date_hierarchy_day_inside_the_calendar_is_listed(changelists, cast):
    url = reverse("admin:activities_activity_changelist")
    today = timezone.localdate()
    query = {"occurred_at__year": today.year, "occurred_at__month": today.month}
    response = changelists["client"].get(url, query)
    assert response.status_code == 200
    assert "Outcome of the fuzz" in response.content.decode()


@pytest.mark.parametrize("name", ["admin:activities_stage_changelist", "admin:axes_accessattempt_changelist"])
def test_a_null_character_in_an_admin_query_is_refused_naming_the_parameter(changelists, name):
    """Was a 500 on PostgreSQL, in the project's changelists and in the libraries' alike."""
    response = changelists["client"].get(reverse(name), {"q": "a\x00b"})
    assert response.status_code == 400
    assert "q: null characters are not allowed." in response.content.decode()


def test_the_admin_keeps_its_titles(changelists):
    page = changelists["client"].get(reverse("admin:index")).content.decode()
    assert "salestrack administration" in page and "Configuration and data" in page
