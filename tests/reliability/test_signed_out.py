"""Signed out, every URL of the URL conf is refused, except the few that are public on purpose.

The test walks `salestrack.urls` itself (every pattern, in every include), fills each path
parameter with the id of a real row, checks that the URL it built resolves to that very
pattern, and asks for it with each method signed out. A URL added later is walked the same
way; one whose parameter this file cannot fill fails the test, naming the route.

Public on purpose: the sign-in page (`login`), Django admin's own sign-in page
(`admin:login`) and the language switcher (`set_language`, so the sign-in page can change
language). Outside the URL conf: the health check (`/healthz`, a middleware answering
before sign-in with nothing but a status) and static files (whitenoise). Everything else:
a page redirects to the sign-in page (an admin page may send to admin's), or answers 403/404; the API
answers 401/403.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

from activities import services
from activities.models import (
    Account,
    ActivityType,
    Deal,
    ImportJob,
    Product,
    Source,
    Stage,
)

pytestmark = pytest.mark.django_db

PUBLIC = {"login", "admin:login", "set_language"}
METHODS = ("get", "post", "put", "patch", "delete")
SECRET = "Signed-out secret deal"

# The first path segment before an id -> the model whose row fills it.
ROW_OF_SEGMENT = {
    "deals": "activities.Deal",
    "activities": "activities.Activity",
    "imports": "activities.ImportJob",
    "reps": "activities.Rep",
    "teams": "activities.Team",
    "territories": "activities.Territory",
    "accounts": "activities.Account",
    "products": "activities.Product",
    "stages": "activities.Stage",
    "activity-types": "activities.ActivityType",
    "quotas": "metrics.Quota",
    "projections": "metrics.Projection",
    "rep": "activities.Rep",  # dashboard/<scope>/<scope_id>/ with scope "rep"
}


@pytest.fixture
def rows(cast):
    """At least one row of everything a URL can name."""
    from metrics.models import Projection, Quota

    deal = services.deal_open(
        owner=cast.rep_a1,
        name=SECRET,
        amount=Decimal("10.00"),
        product=Product.objects.create(name="Widget"),
        account=Account.objects.create(name="Acme"),
        source=Source.CRM,
        external_id="SO-1",
        by=cast.rep_a1.user,
    )
    services.activity_log(rep=cast.rep_a1, type=ActivityType.objects.get(name="Call"), notes=SECRET)
    ImportJob.objects.create(kind="deals", original_filename="deals.csv", created_by=cast.manager_a)
    period = {"period_kind": "month", "period_start": deal.opened_on.replace(day=1)}
    Quota.objects.create(rep=cast.rep_a1, amount=Decimal("100"), **period)
    Projection.objects.create(rep=cast.rep_a1, amount=Decimal("100"), **period)
    return deal


def walk(patterns=None, prefix: tuple = (), namespace: str = ""):
    """(pieces of the pattern from the root, full name or None, pattern) for every URL pattern."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, (*prefix, entry.pattern), inner)
        else:
            assert isinstance(entry, URLPattern)
            name = f"{namespace}{entry.name}" if entry.name else None
            yield (*prefix, entry.pattern), name, entry


def _first_pk(label: str) -> int:
    pk = apps.get_model(label).objects.order_by("pk").values_list("pk", flat=True).first()
    return pk if pk is not None else 1


def fill(name: str, route: str, group_regex: str = "") -> str:
    """A real value for the path parameter `name`, from what the route says before it."""
    before = [part for part in route.split("/") if part and "<" not in part and "(" not in part]
    if name == "fmt":
        return "csv"
    if name == "format":
        return "json"
    if name == "scope":
        return "rep"
    if name == "url":
        return "nothing-here/"
    if name == "app_label":
        return group_regex.split("|")[0]
    if name == "content_type_id":
        return str(ContentType.objects.get_for_model(Deal).pk)
    if name == "history_id" and route.startswith("admin/") and len(before) >= 3:
        # django-simple-history's admin: /admin/<app>/<model>/<id>/history/<history id>/
        return str(_first_pk(f"{before[1]}.historical{before[2]}"))
    if name in ("pk", "object_id", "id", "scope_id"):
        if route.startswith("admin/") and len(before) >= 3:
            return str(_first_pk(f"{before[1]}.{before[2]}"))
        if "content_type_id" in route:
            return str(Deal.objects.first().pk)
        segment = "rep" if name == "scope_id" else before[-1]
        if segment in ROW_OF_SEGMENT:
            return str(_first_pk(ROW_OF_SEGMENT[segment]))
    raise LookupError(f"no value for <{name}> in {route!r}: teach tests/reliability/test_signed_out.py")


GROUP = re.compile(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)")
UNNAMED_GROUP = re.compile(r"\((?!\?)((?:[^()]|\([^()]*\))*)\)")
# Patterns with positional groups: a literal of the regex -> the names of its groups, in order.
UNNAMED = {"/history/": ("object_id", "history_id")}
ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def build(pieces) -> str:
    """The concrete path of a pattern: each piece (route or regex) with its parameters filled."""
    path = ""
    for piece in pieces:
        if isinstance(piece, RoutePattern):
            text = str(piece._route)
            path += ROUTE_PARAM.sub(lambda m, p=path, t=text: fill(m.group(1), p + t[: m.start()]), text)
        elif isinstance(piece, RegexPattern):
            text = piece._regex.removeprefix("^").removesuffix("$").removesuffix("\\Z")
            text = GROUP.sub(lambda m, p=path, t=text: fill(m.group(1), p + t[: m.start()], m.group(2)), text)
            if UNNAMED_GROUP.search(text):
                names = next((names for literal, names in UNNAMED.items() if literal in text), None)
                if names is None:
                    raise LookupError(f"positional groups in {piece._regex!r}: name them in UNNAMED")
                for group_name in names:
                    found = UNNAMED_GROUP.search(text)
                    text = (
                        text[: found.start()]
                        + fill(group_name, path + text[: found.start()])
                        + text[found.end() :]
                    )
            path += text.replace("\\.", ".").replace("/?", "/")
        else:  # a LocalePrefixPattern or another kind: say so rather than skip it
            raise LookupError(f"unknown kind of pattern {piece!r}")
    return "/" + path


def _signed_out_urls():
    seen = []
    for pieces, name, pattern in walk():
        url = build(pieces)
        match = resolve(urlsplit(url).path)
        assert match.func is pattern.callback or match.url_name == pattern.name, (url, match)
        seen.append((url, name))
    return seen


def test_every_url_refuses_a_signed_out_visitor(rows):
    login = reverse(settings.LOGIN_URL)
    admin_login = reverse("admin:login")
    client = Client()
    refused = public = 0
    urls = _signed_out_urls()
    for url, name in urls:
        for method in METHODS:
            response = getattr(client, method)(url)
            status, where = response.status_code, response.get("Location", "")
            body = b"" if response.streaming else response.content
            assert status < 500, (method, url, status)
            assert SECRET.encode() not in body and b"SO-1" not in body, (method, url)
            if name in PUBLIC:
                public += 1
                continue
            if url.startswith("/api/"):
                assert status in (401, 403), (method, url, status)
            elif status in (301, 302):
                # The sign-in middleware answers first; admin's own check sends to admin's sign-in.
                targets = {login, admin_login} if url.startswith("/admin/") else {login}
                assert urlsplit(where).path in targets, (method, url, where)
            else:
                assert status in (403, 404), (method, url, status)
            refused += 1
    names = {name for _url, name in urls}
    # The walk reaches every include: the pages, each app's API, the imports and Django admin.
    for expected in (
        "deal_detail",
        "api_deal-bulk",
        "api_metrics",
        "import_list",
        "admin:index",
        "dashboard",
    ):
        assert expected in names
    assert names >= PUBLIC
    assert refused == len(METHODS) * (len(urls) - len(PUBLIC))
    assert public == len(METHODS) * len(PUBLIC)


def test_the_public_urls_are_the_sign_in_pages_and_the_language_switch(rows):
    client = Client()
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("admin:login")).status_code == 200
    switched = client.post(reverse("set_language"), {"language": "de", "next": "/deals/"})
    assert switched.status_code == 302
    # The switch only sets the language: what it leads to still asks for sign-in.
    assert urlsplit(client.get(switched["Location"])["Location"]).path == reverse("login")


def test_the_health_check_tells_a_status_and_nothing_else(rows):
    response = Client().get("/healthz")
    assert response.status_code in (200, 503)
    assert SECRET.encode() not in response.content and b"rep_a1" not in response.content


def test_an_id_beyond_any_row_is_refused_the_same_signed_out(rows):
    """Signed out, a real id and a made-up one get the same answer: not even existence shows."""
    client = Client()
    stage = Stage.objects.first().pk
    for real, made_up in (
        (f"/deals/{rows.pk}/", f"/deals/{rows.pk + 1000}/"),
        (f"/api/v1/deals/{rows.pk}/", f"/api/v1/deals/{rows.pk + 1000}/"),
        (f"/api/v1/stages/{stage}/", f"/api/v1/stages/{stage + 1000}/"),
    ):
        first, second = client.get(real), client.get(made_up)
        assert first.status_code == second.status_code
        assert first.content.replace(real.encode(), made_up.encode()) == second.content
