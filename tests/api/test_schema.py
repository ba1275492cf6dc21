"""The OpenAPI schema describes every endpoint, the docs page serves its assets locally, and
no generated request (schemathesis, against the live app and database) gets a 5xx."""

import json
import re

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import ScopedRateThrottle
from schemathesis.checks import not_a_server_error

from activities import services
from activities.api.throttles import ReadThrottle
from activities.models import Source
from tests.api.conftest import log, open_deal, token_client

ENDPOINTS = {
    "/api/v1/activities/": {"get", "post"},
    "/api/v1/activities/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/activities/bulk/": {"post"},
    "/api/v1/deals/": {"get", "post"},
    "/api/v1/deals/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/deals/{id}/move/": {"post"},
    "/api/v1/deals/{id}/history/": {"get"},
    "/api/v1/deals/bulk/": {"post"},
    "/api/v1/quotas/": {"get", "post"},
    "/api/v1/quotas/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/projections/": {"get", "post"},
    "/api/v1/projections/{id}/": {"get", "put", "patch", "delete"},
    **{
        f"/api/v1/{name}/": {"get"}
        for name in ("reps", "teams", "territories", "accounts", "products", "stages", "activity-types")
    },
    **{
        f"/api/v1/{name}/{{id}}/": {"get"}
        for name in ("reps", "teams", "territories", "accounts", "products", "stages", "activity-types")
    },
    "/api/v1/reps/{id}/assignments/": {"get"},
    "/api/v1/reps/{id}/move/": {"post"},
    "/api/v1/metrics/": {"get"},
    "/api/v1/funnel/": {"get"},
    "/api/v1/leaderboards/": {"get"},
}


def openapi() -> dict:
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw))


class SchemaTests:
    def test_it_lists_every_endpoint_and_method(self, cast):
        paths = openapi()["paths"]
        assert {path: set(methods) - {"parameters"} for path, methods in paths.items()} == ENDPOINTS

    def test_periods_are_strings(self, cast):
        components = openapi()["components"]["schemas"]
        assert components["Quota"]["properties"]["period"]["type"] == "string"
        assert components["TargetInput"]["properties"]["period"]["type"] == "string"

    def test_it_is_served_to_signed_in_users_only(self, cast):
        assert token_client().get("/api/schema/").status_code in (401, 403)
        response = token_client(cast.rep_a1.user).get("/api/schema/", {"format": "json"})
        assert response.status_code == 200
        assert "/api/v1/deals/{id}/move/" in json.loads(response.content)["paths"]


class DocsPageTests:
    def test_it_renders_signed_in_with_local_assets_only(self, cast):
        client = token_client()
        client.force_login(cast.rep_a1.user)
        response = client.get("/api/docs/")
        assert response.status_code == 200
        html = response.content.decode()
        assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        # Static files, and the page's own start-up script (?script: no inline script, for the CSP).
        assert all(a.startswith("/static/") or a == "/api/docs/?script=" for a in assets), assets
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html

    def test_signed_out_it_is_refused(self, cast):
        response = token_client().get("/api/docs/")
        assert response.status_code in (302, 401, 403)


# --- schemathesis: every operation, generated input, the real database --------------------


@pytest.fixture
def fuzz_token(cast, monkeypatch):
    """An admin who is also a rep, so both the rep writes and the admin writes are exercised."""
    fuzzer = services.rep_create(username="fuzzer", team=cast.team_a, password="x" * 20)
    services.user_set_role(user=fuzzer.user, role="admin")
    deal = open_deal(fuzzer, source=Source.CRM, external_id="F-1")
    log(fuzzer, deal=deal, external_id="F-2")
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"writes": "100000/min", "bulk": "100000/min"})
    monkeypatch.setattr(ReadThrottle, "THROTTLE_RATES", {"reads": "100000/min"})
    return Token.objects.create(user=fuzzer.user).key


@pytest.fixture
def keep_connection():
    """As Django's test client does: a request must not close the test's connection (and transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Generated at collection (no database needed: every queryset is empty for nobody), one test per operation.
schema = schemathesis.openapi.from_dict(openapi())
schema.app = get_wsgi_application()


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
    derandomize=True,
)
def test_no_generated_request_gets_a_server_error(case, fuzz_token, keep_connection):
    response = case.call(headers={"Authorization": f"Token {fuzz_token}"})
    case.validate_response(response, checks=[not_a_server_error])
