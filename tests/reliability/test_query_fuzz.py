"""No query string makes a list, export, dashboard, leaderboard or API list answer 500.

The targets are read from the site itself: the API's from its OpenAPI schema (every GET
without a path parameter, with the query parameters the schema gives it), the pages' from
PAGES below, and a test walks the URL conf so that a page added later must say here which
parameters it reads (or that it reads none). Signed in as the admin, a manager and a rep,
hypothesis throws values at those parameters: valid ones (ids of real rows, periods,
presets, choices), the ends of the calendar (years 0, 1, 9999, 10000), negative and huge
numbers, NUL bytes and other unicode, very long strings, empty and repeated parameters.

Every answer is below 500, and a 400 says why: the API as DRF's {parameter: [reasons]}
naming parameters of that URL, a page with its alert, an export as text lines. The same
file runs in the PostgreSQL pass, whose errors differ (integer and date out of range).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import defaultdict
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from activities import services
from activities.models import ActivityType, Stage
from metrics import jobs
from metrics.models import MetricRun
from tests.api.conftest import log, open_deal

pytestmark = pytest.mark.django_db

# Bounded: every example is a request, so the whole file stays near a minute per pass.
settings.register_profile(
    "query-fuzz",
    max_examples=int(os.environ.get("QUERY_FUZZ_EXAMPLES", "120")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = settings.get_profile("query-fuzz")

SPAN = ["period", "from", "to"]
LEADERBOARD = ["metric", "period", "scope", "team", "territory", "from", "to", "all"]
ACTIVITY_FILTERS = ["type", "rep", "date_from", "date_to"]
DEAL_FILTERS = ["q", "status", "stage", "rep", "opened_from", "opened_to", "team", "territory", "leaked_at"]
# Page URL name -> (path kwargs, the query parameters its view reads). Filled from the fixture's rows.
PAGES = {
    "activity_list": [({}, [*ACTIVITY_FILTERS, "page"])],
    "activity_export": [({"fmt": "csv"}, ACTIVITY_FILTERS), ({"fmt": "xlsx"}, ACTIVITY_FILTERS)],
    "activity_create": [({}, ["deal", "next"])],
    "deal_list": [({}, [*DEAL_FILTERS, "page"])],
    "deal_export": [({"fmt": "csv"}, DEAL_FILTERS), ({"fmt": "xlsx"}, DEAL_FILTERS)],
    "deal_move": [({"pk": "deal"}, ["to"])],
    "dashboard": [({}, SPAN)],
    "dashboard_company": [({}, SPAN)],
    "dashboard_scope": [
        ({"scope": "team", "scope_id": "team"}, SPAN),
        ({"scope": "rep", "scope_id": "rep"}, SPAN),
    ],
    "leaderboard": [({}, LEADERBOARD)],
    "leaderboard_tv": [({}, [*LEADERBOARD, "refresh"])],
    "leaderboard_export": [({"fmt": "csv"}, LEADERBOARD), ({"fmt": "xlsx"}, LEADERBOARD)],
}
# Pages whose views read no query string (forms post; details take their id from the path).
READS_NO_QUERY = {
    "home",
    "activity_edit",
    "activity_delete",
    "deal_create",
    "deal_detail",
    "deal_edit",
    "deal_delete",
    "import_list",
    "import_detail",
    "import_status",
    "import_run_for_real",
    "metrics_refresh",
    "login",
    "logout",
    "set_language",
    "api_schema",
    "api_docs",
}

EDGE_DAYS = [
    "0000-01-01",
    "0001-01-01",
    "0001-01-02",
    "9999-12-31",
    "10000-01-01",
    "1999-12-31",
    "2999-01-01",
]
EDGE_SPANS = [
    "0000",
    "0001",
    "0002",
    "9998",
    "9999",
    "10000",
    "99999-Q9",
    "0001-Q1",
    "9999-Q4",
    "0001-01",
    "9999-12",
    "0001-W01",
    "9999-W52",
    "2026-W53",
    "0001-01-01..0001-01-31",
    "9999-12-01..9999-12-31",
    "2026-01-01..9999-12-31",
    "2026-11-30..2026-11-01",
]
# The distinct calendar edges, sent alone to every parameter.
CALENDAR_EDGES = [
    "0001-01-01",
    "0001-01-02",
    "9999-12-31",
    "10000-01-01",
    "1999-12-31",
    "0001",
    "0002",
    "9999",
    "99999-Q9",
    "0001-W01",
    "9999-W52",
    "0001-01-01..0001-01-31",
    "2026-01-01..9999-12-31",
]
EDGE_NUMBERS = ["-1", "0", "1.5", "1e3", str(2**63), str(10**30), "99999999999999999999", "0x10", " 1 "]
GARBAGE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "abc",
    "nonsense",
    "'; DROP TABLE x; --",
    "%",
    "☃",
    "\ud7ff",
    "x" * 10_000,
]


def all_url_names() -> set[str]:
    names = set()

    def walk(patterns, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and entry.name and not namespace:
                names.add(entry.name)

    walk(get_resolver().url_patterns, None)
    return names


def api_targets() -> dict[str, list[str]]:
    """Every API GET without a path parameter -> its query parameters, from the OpenAPI schema."""
    schema = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    targets = {}
    for path, operations in schema["paths"].items():
        if "{" in path or "get" not in operations:
            continue
        params = [p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"]
        if params:
            targets[path] = params
    return targets


@pytest.fixture
def site(cast, monkeypatch):
    """A little of everything the lists and figures show, computed; and clients for three personas."""
    rates = defaultdict(lambda: "1000000/min")
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    deal = open_deal(cast.rep_a1, name="Fuzz deal")
    won = open_deal(cast.rep_a2, name="Won deal", days_ago=3)
    services.deal_move_stage(
        deal=won,
        to_stage=Stage.objects.get(kind=Stage.Kind.WON),
        by=cast.rep_a2.user,
        closed_on=timezone.localdate(),
    )
    open_deal(cast.rep_b1, name="Other team's deal", days_ago=40)
    log(cast.rep_a1, deal=deal)
    log(cast.rep_b1, type_name="Demo", hours_ago=30)
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    ids = {"deal": deal.pk, "team": cast.team_a.pk, "rep": cast.rep_a1.pk}
    urls = {}
    for name, variants in PAGES.items():
        for kwargs, params in variants:
            url = reverse(name, kwargs={key: ids.get(value, value) for key, value in kwargs.items()})
            urls[url] = params
    urls.update(api_targets())
    clients = {}
    for user in (cast.admin, cast.manager_a, cast.rep_a1.user):
        clients[user.username] = Client(raise_request_exception=False)
        clients[user.username].force_login(user)
    valid = [
        str(pk)
        for pk in (deal.pk, won.pk, cast.rep_a1.pk, cast.rep_b1.pk, cast.team_a.pk, cast.team_b.pk)
        + tuple(ActivityType.objects.values_list("pk", flat=True)[:2])
        + tuple(Stage.objects.values_list("pk", flat=True)[:2])
    ]
    today = timezone.localdate()
    valid += [
        today.isoformat(),
        (today - timedelta(days=30)).isoformat(),
        f"{today.year}",
        f"{today.year}-Q{(today.month - 1) // 3 + 1}",
        f"{today:%Y-%m}",
        f"{today.isocalendar()[0]}-W{today.isocalendar()[1]:02d}",
        f"{today - timedelta(days=9)}..{today}",
        "this-month",
        "last-week",
        "custom",
        "company",
        "team",
        "territory",
        "rep",
        "revenue",
        "win_rate",
        "attainment",
        f"activity:{ActivityType.objects.values_list('pk', flat=True).first()}",
        "open",
        "won",
        "-id",
        "occurred_at",
        "name,-id",
        "true",
        "1",
        "2",
        "last",
        "crm",
        "/deals/",
    ]
    return {"urls": urls, "clients": clients, "valid": valid}


def values(valid: list[str]):
    return st.one_of(
        st.sampled_from(valid),
        st.sampled_from(EDGE_DAYS + EDGE_SPANS + EDGE_NUMBERS + GARBAGE),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.dates().map(lambda day: day.isoformat()),
        st.text(max_size=40),
        st.integers(min_value=21, max_value=40).map(lambda n: "9" * n),
    )


def check(url: str, params: list[str], pairs: list[tuple[str, str]], response) -> None:
    where = f"GET {url}?{urlencode(pairs)[:300]}"
    assert response.status_code < 500, where
    if response.status_code != 400:
        return
    if url.startswith("/api/"):
        body = response.json()
        assert body and isinstance(body, dict), where
        # DRF's {parameter: [reasons]}: each key is a parameter of this URL, each with its reasons.
        assert set(body) <= {*params, "non_field_errors"}, (where, body)
        assert all(body.values()), (where, body)
    elif response["Content-Type"].startswith("text/plain"):
        assert response.content.decode().strip(), where  # a refused export: one line per reason
    else:
        html = response.content.decode()
        alert = re.search(r'role="alert"[^>]*>(.*?)</div>', html, re.S)
        assert alert and re.sub(r"<[^>]+>|\s", "", alert.group(1)), where


def test_every_page_says_which_parameters_it_reads():
    """A page added to the URL conf is listed in PAGES or READS_NO_QUERY (the API: its schema)."""
    pages = {
        name for name in all_url_names() if not name.startswith("api_") or name in ("api_schema", "api_docs")
    }
    assert pages == set(PAGES) | READS_NO_QUERY


def test_the_edges_of_every_parameter(site):
    """Every edge value reaches every parameter of every target (shifted, so each request mixes
    them), the personas taking turns: below 500, and each 400 says why."""
    started, count = time.monotonic(), 0
    edges = EDGE_DAYS + EDGE_SPANS + EDGE_NUMBERS + GARBAGE
    clients = list(site["clients"].values())
    for url, params in site["urls"].items():
        for i in range(len(edges)):
            pairs = [(name, edges[(i + j) % len(edges)]) for j, name in enumerate(params)]
            check(url, params, pairs, clients[count % len(clients)].get(url, dict(pairs)))
            count += 1
    print(f"query edges: {count} requests over {len(site['urls'])} URLs, {time.monotonic() - started:.1f} s")


def test_each_calendar_edge_alone_in_each_parameter(site):
    """One parameter at a time: one parameter can hide another (`from`/`to` over `period`), and
    a value alone reaches code a mix is refused before (0001-01-02 as a dashboard's period was
    a 500 on PostgreSQL: its trend charted months before year 1)."""
    started, count = time.monotonic(), 0
    clients = list(site["clients"].values())
    for url, params in site["urls"].items():
        for name in params:
            for value in CALENDAR_EDGES:
                check(url, params, [(name, value)], clients[count % len(clients)].get(url, {name: value}))
                count += 1
    print(f"query edges alone: {count} requests, {time.monotonic() - started:.1f} s")


def test_hypothesis_generated_query_strings(site):
    """Random mixes of parameters (repeated, empty, valid or not) on random targets and personas."""
    urls, clients, valid = site["urls"], site["clients"], site["valid"]
    started, count = time.monotonic(), [0]

    @PROFILE
    @given(data=st.data())
    def one_request(data):
        url = data.draw(st.sampled_from(sorted(urls)), label="url")
        params = urls[url]
        pairs = data.draw(
            st.lists(st.tuples(st.sampled_from(params), values(valid)), min_size=1, max_size=5), label="query"
        )
        client = clients[data.draw(st.sampled_from(sorted(clients)), label="persona")]
        check(url, params, pairs, client.get(f"{url}?{urlencode(pairs)}"))
        count[0] += 1

    one_request()
    print(f"query fuzz: {count[0]} requests, {time.monotonic() - started:.1f} s")
