"""Security of a trusted deployment, tried as an intruder would: through real requests.

Sign-in lock-out (django-axes) on the sign-in page and the admin, counted per username and
address (X-Forwarded-For believed only from a trusted proxy); a bad API token gets 401 with
its challenge; passwords of at least 12 characters that are not common; an idle session
signed out; a Content-Security-Policy on every page, with no inline script to allow.
Each test prints the figures it proves.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from ipaddress import ip_network

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from activities.demo import DEMO_PASSWORD
from activities.models import Activity, ActivityType
from metrics import services as metric_services
from metrics.models import Quota
from metrics.periods import Period
from salestrack.security import LAST_SEEN_KEY
from tests.conftest import PASSWORD
from tests.test_settings import fails_loudly

pytestmark = pytest.mark.django_db

ATTEMPTS = 50
WRONG = "not-the-password-at-all"


def _past_the_cool_off():
    """Time travel: every recorded failure happened just over a cool-off ago."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time")
        - timedelta(minutes=settings.SALESTRACK_LOGIN_COOLOFF_MINUTES, seconds=1)
    )


def _signed_in(client) -> bool:
    return SESSION_KEY in client.session


def _hammer(client, url, username, **extra) -> list[int]:
    return [
        client.post(url, {"username": username, "password": WRONG}, **extra).status_code
        for _ in range(ATTEMPTS)
    ]


class SignInLockOutTests:
    @pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"], ids=["sign-in page", "admin"])
    def test_fifty_wrong_passwords_lock_the_right_one_out_until_the_cool_off(self, cast, url):
        client = Client()
        started = time.perf_counter()
        statuses = _hammer(client, url, "admin")
        limit = settings.SALESTRACK_LOGIN_FAILURE_LIMIT
        # The limit-th failure already gets the lock-out page; every later try too.
        assert statuses[: limit - 1] == [200] * (limit - 1)
        assert statuses[limit - 1 :] == [429] * (ATTEMPTS - limit + 1)

        right = client.post(url, {"username": "admin", "password": PASSWORD})
        assert right.status_code == 429 and not _signed_in(client)
        page = right.content.decode()
        assert "Sign-in paused" in page
        assert f"{limit} wrong passwords in a row" in page
        assert f"try again in {settings.SALESTRACK_LOGIN_COOLOFF_MINUTES} minutes" in page

        _past_the_cool_off()
        after = client.post(url, {"username": "admin", "password": PASSWORD})
        assert after.status_code == 302 and _signed_in(client)
        # A success clears the count: the next mistake does not lock out again.
        assert not AccessAttempt.objects.exists()
        elapsed = time.perf_counter() - started
        print(
            f"\n{url}: {ATTEMPTS} wrong passwords -> {statuses.count(429)} refused with 429 "
            f"from attempt {limit}; right password refused while locked, accepted after the "
            f"{settings.SALESTRACK_LOGIN_COOLOFF_MINUTES}-minute cool-off ({elapsed:.2f} s)"
        )

    def test_the_lock_is_on_the_pair_of_username_and_address(self, cast):
        attacker = Client(REMOTE_ADDR="198.51.100.7")
        _hammer(attacker, "/accounts/login/", "rep_a1")
        # The rep at their own desk, and another user at the attacker's address, still sign in.
        colleague = Client(REMOTE_ADDR="192.0.2.10")
        assert (
            colleague.post("/accounts/login/", {"username": "rep_a1", "password": PASSWORD}).status_code
            == 302
        )
        other = Client(REMOTE_ADDR="198.51.100.7")
        assert other.post("/accounts/login/", {"username": "rep_a2", "password": PASSWORD}).status_code == 302
        locked = Client(REMOTE_ADDR="198.51.100.7")
        assert (
            locked.post("/accounts/login/", {"username": "rep_a1", "password": PASSWORD}).status_code == 429
        )

    def test_a_forged_forwarded_for_header_does_not_escape_the_lock(self, cast):
        client = Client(REMOTE_ADDR="198.51.100.7")
        statuses = [
            client.post(
                "/accounts/login/",
                {"username": "admin", "password": WRONG},
                HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
            ).status_code
            for n in range(ATTEMPTS)
        ]
        assert statuses.count(429) == ATTEMPTS - settings.SALESTRACK_LOGIN_FAILURE_LIMIT + 1
        assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}

    def test_behind_a_trusted_proxy_each_client_address_is_counted_apart(self, cast, settings):
        settings.SALESTRACK_TRUSTED_PROXIES = [ip_network("10.0.0.0/8")]
        proxy = Client(REMOTE_ADDR="10.0.0.2")
        attacker = {"HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.0.0.3"}
        statuses = _hammer(proxy, "/accounts/login/", "admin", **attacker)
        assert statuses[-1] == 429
        # The real admin, at another address behind the same proxy, is not locked out.
        admin = Client(REMOTE_ADDR="10.0.0.2")
        answer = admin.post(
            "/accounts/login/", {"username": "admin", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="192.0.2.44"
        )
        assert answer.status_code == 302
        assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}


class ApiTokenTests:
    def test_a_bad_or_missing_token_gets_401_with_the_token_challenge(self, cast):
        for header in ("Token not-a-real-token", "Token ", None):
            client = APIClient()
            if header is not None:
                client.credentials(HTTP_AUTHORIZATION=header)
            response = client.get("/api/v1/activities/")
            assert response.status_code == 401, header
            assert response["WWW-Authenticate"] == "Token"

    def test_a_good_token_reads_and_opens_no_session(self, cast):
        token = Token.objects.create(user=cast.rep_a1.user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        response = client.get("/api/v1/activities/")
        assert response.status_code == 200
        assert settings.SESSION_COOKIE_NAME not in response.cookies
        assert not Session.objects.exists()

    def test_a_signed_in_browser_writes_with_its_csrf_token_and_not_without(self, cast):
        client = APIClient(enforce_csrf_checks=True)
        assert (
            client.post("/accounts/login/", {"username": "rep_a1", "password": PASSWORD}).status_code == 403
        )
        client.get("/accounts/login/")  # sets the CSRF cookie, as the browser's first visit does
        csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
        signed_in = client.post(
            "/accounts/login/", {"username": "rep_a1", "password": PASSWORD, "csrfmiddlewaretoken": csrf}
        )
        assert signed_in.status_code == 302
        csrf = client.cookies[settings.CSRF_COOKIE_NAME].value  # rotated at sign-in
        call = ActivityType.objects.get(name="Call")
        assert client.get("/api/v1/activities/").status_code == 200
        refused = client.post("/api/v1/activities/", {"type": call.pk}, format="json")
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        accepted = client.post("/api/v1/activities/", {"type": call.pk}, format="json", HTTP_X_CSRFTOKEN=csrf)
        assert accepted.status_code == 201, accepted.content
        assert Activity.objects.count() == 1


class PasswordTests:
    @pytest.mark.parametrize(
        ("password", "reason"),
        [
            ("Xq7!mZ2#pL9", "too short. It must contain at least 12 characters"),
            ("password1234", "too common"),
            ("123456789012", "entirely numeric"),
        ],
    )
    def test_a_weak_password_is_refused_with_the_reason(self, cast, password, reason):
        form = SetPasswordForm(cast.rep_a1.user, {"new_password1": password, "new_password2": password})
        assert not form.is_valid()
        assert any(reason in message for message in form.errors["new_password2"]), form.errors

    def test_the_demo_and_test_passwords_meet_the_rules(self, cast):
        for user in (cast.admin, cast.manager_a, cast.rep_a1.user):
            validate_password(DEMO_PASSWORD, user=user)
            validate_password(PASSWORD, user=user)

    def test_a_long_uncommon_password_is_accepted(self, cast):
        form = SetPasswordForm(
            cast.rep_a1.user,
            {"new_password1": "quiet-orbit-lantern-94", "new_password2": "quiet-orbit-lantern-94"},
        )
        assert form.is_valid(), form.errors
        with pytest.raises(ValidationError):
            validate_password("short", user=cast.rep_a1.user)


def _move_last_seen_back(client, minutes: int) -> None:
    session = client.session
    session[LAST_SEEN_KEY] = session[LAST_SEEN_KEY] - minutes * 60
    session.save()


class IdleSessionTests:
    def _sign_in(self, client):
        assert (
            client.post("/accounts/login/", {"username": "rep_a1", "password": PASSWORD}).status_code == 302
        )
        assert abs(client.session[LAST_SEEN_KEY] - time.time()) < 5

    def test_a_session_idle_longer_than_the_limit_is_signed_out(self, cast):
        client = Client()
        self._sign_in(client)
        assert client.get("/").status_code == 200
        _move_last_seen_back(client, settings.SALESTRACK_SESSION_IDLE_MINUTES + 1)
        response = client.get("/", follow=True)
        assert response.redirect_chain[-1][0].startswith(reverse("login"))
        assert not _signed_in(client)
        idle = settings.SALESTRACK_SESSION_IDLE_MINUTES
        assert f"You were signed out after {idle} minutes without activity." in response.content.decode()
        print(f"\nidle {idle + 1} min (limit {idle}) -> signed out on the next request, told why")

    def test_a_session_used_within_the_limit_stays_and_its_clock_restarts(self, cast):
        client = Client()
        self._sign_in(client)
        _move_last_seen_back(client, settings.SALESTRACK_SESSION_IDLE_MINUTES - 1)
        assert client.get("/").status_code == 200
        assert _signed_in(client)
        assert abs(client.session[LAST_SEEN_KEY] - time.time()) < 5

    def test_pages_within_a_minute_do_not_write_the_session(self, cast):
        client = Client()
        self._sign_in(client)
        client.get("/")
        with CaptureQueriesContext(connection) as queries:
            for _ in range(5):
                assert client.get("/").status_code == 200
        writes = [
            q["sql"] for q in queries if re.search(r"^(UPDATE|INSERT).*django_session", q["sql"], re.I | re.S)
        ]
        assert writes == []
        print(f"\n5 pages within a minute -> {len(writes)} session writes")


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline = 0
        self.handlers = 0

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src") and names.get("type") != "application/json":
            self.inline += 1
        self.handlers += sum(1 for name in names if name.startswith("on"))


def _directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


class ContentSecurityPolicyTests:
    def test_every_kind_of_page_carries_the_policy_and_has_no_inline_script(self, cast):
        client = Client()
        client.force_login(cast.admin)
        team = cast.team_a.pk
        metric_services.quota_set(
            period=Period.parse("2026-Q1"), amount=Decimal("1000"), by=cast.admin, rep=cast.rep_a1
        )
        quota = Quota.objects.get()
        urls = [
            "/",
            reverse("dashboard"),
            reverse("dashboard_scope", args=["team", team]),
            reverse("leaderboard"),
            reverse("leaderboard_tv"),
            reverse("activity_list"),
            reverse("deal_list"),
            reverse("import_list"),
            reverse("admin:index"),
            reverse("admin:activities_deal_changelist"),
            reverse("admin:activities_deal_add"),
            reverse("admin:metrics_quota_history", args=[quota.pk]),
            reverse("api_docs"),
            reverse("api_docs") + "?script",
            "/api/v1/activities/",
            "/no-such-page/",
        ]
        pages = 0
        for url in urls:
            response = client.get(url, follow=True)
            assert response.status_code in (200, 404), url
            policy = _directives(response["Content-Security-Policy"])
            assert policy["default-src"] == ["'self'"]
            assert policy["script-src"] == ["'self'"], url
            # Styles: our files, and the one style attribute of the admin's history page, by hash.
            assert policy["style-src"] == [
                "'self'",
                "'unsafe-hashes'",
                settings.CSP_HISTORY_PAGINATOR_STYLE,
            ], url
            assert "'unsafe-inline'" not in response["Content-Security-Policy"]
            assert policy["frame-ancestors"] == ["'none'"]
            assert policy["object-src"] == ["'none'"]
            assert policy["form-action"] == ["'self'"] and policy["base-uri"] == ["'self'"]
            assert policy["img-src"] == ["'self'", "data:", "blob:"]
            if response["Content-Type"].startswith("text/html"):
                scripts = _Scripts()
                scripts.feed(response.content.decode())
                assert (scripts.inline, scripts.handlers) == (0, 0), url
                pages += 1
        signed_out = Client().get(reverse("login"))
        assert "Content-Security-Policy" in signed_out
        print(f"\n{len(urls) + 1} URLs carry the policy; {pages + 1} HTML pages, 0 inline scripts")


class SecuritySettingsTests:
    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("SALESTRACK_TRUSTED_PROXIES", "10.0.0.0/8,not-an-address"),
            ("SALESTRACK_SESSION_IDLE_MINUTES", "0"),
        ],
    )
    def test_a_bad_value_stops_the_app_naming_the_variable(self, name, value):
        fails_loudly(name, **{name: value})
