"""API-token lock-out, tried as a token guesser would: through real requests.

Failed token authentications are counted per client address in the database: after
SALESTRACK_TOKEN_FAILURE_LIMIT of them the address gets 429 with Retry-After for every token,
a good one too, until the cool-off has passed since its last failure. Other addresses are not
affected; a good token of the guesser's own does not clear the count; a forged
X-Forwarded-For does not escape it. Two gunicorn processes share the count, with Redis down.
Each test prints the figures it proves.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from ipaddress import ip_network

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from salestrack.models import TokenFailure
from salestrack.tokens import UNKNOWN_ADDRESS
from tests.reliability import test_outages
from tests.reliability.test_engine_processes import _stop
from tests.reliability.test_outages import _free_port, _start_web

pytestmark = pytest.mark.django_db
# The outage tests' fixture: the test database's address for processes of the test's own.
services_env = test_outages.services_env

API = "/api/v1/activities/"
GUESSES = 50
GUESSER = "198.51.100.7"


def _client(address: str | None = GUESSER, **extra) -> APIClient:
    return APIClient(REMOTE_ADDR=address, **extra) if address is not None else APIClient(REMOTE_ADDR="")


def _call(client: APIClient, key: str, **extra):
    return client.get(API, HTTP_AUTHORIZATION=f"Token {key}", **extra)


def _guess(client: APIClient, count: int = GUESSES, **extra) -> list[int]:
    return [_call(client, f"{n:040x}", **extra).status_code for n in range(count)]


def _past_the_cool_off(extra=timedelta(seconds=1)):
    """Time travel: every recorded failure happened just over a cool-off ago."""
    TokenFailure.objects.update(
        last_failure_at=F("last_failure_at")
        - timedelta(minutes=settings.SALESTRACK_LOGIN_COOLOFF_MINUTES)
        - extra
    )


@pytest.fixture
def good_key(cast) -> str:
    return Token.objects.create(user=cast.rep_a1.user).key


class TokenLockOutTests:
    def test_fifty_guesses_lock_the_address_out_of_every_token_until_the_cool_off(self, good_key):
        limit = settings.SALESTRACK_TOKEN_FAILURE_LIMIT
        client = _client()
        statuses = _guess(client)
        # Each of the first `limit` guesses is a plain 401; from then on, 429 without a look.
        assert statuses == [401] * limit + [429] * (GUESSES - limit)
        assert TokenFailure.objects.get(ip_address=GUESSER).failures == limit  # refused calls not counted

        locked = _call(client, good_key)
        assert locked.status_code == 429
        cool_off = settings.SALESTRACK_LOGIN_COOLOFF_MINUTES
        assert cool_off * 60 - 5 <= int(locked["Retry-After"]) <= cool_off * 60
        assert locked.json()["detail"] == (
            f"Too many failed API token attempts from your address. Try again in {cool_off} minutes."
        )
        assert "WWW-Authenticate" not in locked

        # The rep at their own desk still reads with the same token.
        assert _call(_client("192.0.2.10"), good_key).status_code == 200

        _past_the_cool_off()
        assert _call(client, good_key).status_code == 200
        print(
            f"\n{GUESSES} token guesses from one address -> {statuses.count(401)} x 401, then "
            f"{statuses.count(429)} x 429; the good token refused while locked, accepted from "
            f"another address and after the {cool_off}-minute cool-off"
        )

    def test_the_lock_out_speaks_the_callers_language(self, good_key):
        client = _client()
        _guess(client, settings.SALESTRACK_TOKEN_FAILURE_LIMIT)
        german = _call(client, good_key, HTTP_ACCEPT_LANGUAGE="de")
        assert german.status_code == 429
        assert german.json()["detail"] == (
            "Zu viele fehlgeschlagene API-Token-Versuche von Ihrer Adresse. Versuchen Sie es in "
            f"{settings.SALESTRACK_LOGIN_COOLOFF_MINUTES} Minuten erneut."
        )

    def test_the_lock_ends_a_cool_off_after_the_last_failure_and_the_count_then_restarts(self, good_key):
        limit = settings.SALESTRACK_TOKEN_FAILURE_LIMIT
        client = _client()
        _guess(client, limit)
        _past_the_cool_off(extra=timedelta(seconds=-30))  # 30 s of the cool-off left
        assert _call(client, good_key).status_code == 429
        _past_the_cool_off(extra=timedelta(seconds=31))
        assert _call(client, good_key).status_code == 200
        # A fresh count: one more guess is a 401, not a renewed lock-out.
        assert _guess(client, limit - 1) == [401] * (limit - 1)
        assert TokenFailure.objects.get(ip_address=GUESSER).failures == limit - 1
        assert _call(client, good_key).status_code == 200

    def test_guesses_spread_over_more_than_a_cool_off_each_never_lock(self, good_key):
        client = _client()
        for _ in range(3 * settings.SALESTRACK_TOKEN_FAILURE_LIMIT):
            assert _guess(client, 1) == [401]
            _past_the_cool_off()
        assert TokenFailure.objects.get(ip_address=GUESSER).failures == 1
        assert _call(client, good_key).status_code == 200

    def test_a_good_token_of_the_guessers_own_does_not_clear_the_count(self, good_key):
        limit = settings.SALESTRACK_TOKEN_FAILURE_LIMIT
        client = _client()
        statuses = []
        for n in range(limit + 5):
            statuses.append(_call(client, f"{n:040x}").status_code)
            statuses.append(_call(client, good_key).status_code)
        # Good, bad, good, bad ...: the limit-th bad one locks, and the good one with it.
        assert statuses[: 2 * limit - 1] == [401, 200] * (limit - 1) + [401]
        assert set(statuses[2 * limit - 1 :]) == {429}

    def test_every_kind_of_failed_token_counts(self, cast):
        inactive = Token.objects.create(user=cast.rep_b1.user)
        cast.rep_b1.user.is_active = False
        cast.rep_b1.user.save()
        client = _client()
        headers = ["Token ", "Token two parts", "Token not-a-real-token", f"Token {inactive.key}"]
        for header in headers:
            response = client.get(API, HTTP_AUTHORIZATION=header)
            assert response.status_code == 401 and response["WWW-Authenticate"] == "Token", header
        assert TokenFailure.objects.get(ip_address=GUESSER).failures == len(headers)

    def test_no_token_or_a_session_is_not_counted(self, cast):
        assert _client().get(API).status_code == 401
        signed_in = _client()
        signed_in.force_login(cast.rep_a1.user)
        assert signed_in.get(API).status_code == 200
        assert signed_in.get(API, HTTP_AUTHORIZATION="Basic cmVwOnNlY3JldA==").status_code == 200
        assert not TokenFailure.objects.exists()

    def test_a_forged_forwarded_for_header_does_not_escape_the_lock(self, good_key):
        client = _client()
        statuses = [
            _call(client, f"{n:040x}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
            for n in range(GUESSES)
        ]
        assert statuses.count(429) == GUESSES - settings.SALESTRACK_TOKEN_FAILURE_LIMIT
        assert list(TokenFailure.objects.values_list("ip_address", flat=True)) == [GUESSER]

    def test_behind_a_trusted_proxy_each_client_address_is_counted_apart(self, good_key, settings):
        settings.SALESTRACK_TRUSTED_PROXIES = [ip_network("10.0.0.0/8")]
        proxy = _client("10.0.0.2")
        statuses = _guess(proxy, HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.3")
        assert statuses[-1] == 429
        colleague = _call(proxy, good_key, HTTP_X_FORWARDED_FOR="192.0.2.44")
        assert colleague.status_code == 200
        assert list(TokenFailure.objects.values_list("ip_address", flat=True)) == ["203.0.113.9"]

    def test_a_request_without_an_address_is_counted_too(self, good_key):
        client = _client(None)
        assert _guess(client)[-1] == 429
        assert list(TokenFailure.objects.values_list("ip_address", flat=True)) == [UNKNOWN_ADDRESS]

    def test_old_rows_of_other_addresses_are_removed_on_the_way(self, good_key):
        for n in range(5):
            _guess(_client(f"192.0.2.{n}"), 1)
        _past_the_cool_off()
        _guess(_client(), 1)
        assert list(TokenFailure.objects.values_list("ip_address", flat=True)) == [GUESSER]

    def test_a_good_token_costs_one_query_for_the_lock(self, good_key):
        client = _client()
        _call(client, good_key)
        with CaptureQueriesContext(connection) as queries:
            assert _call(client, good_key).status_code == 200
        lock = [q["sql"] for q in queries.captured_queries if "salestrack_tokenfailure" in q["sql"]]
        assert len(lock) == 1, lock

    def test_an_admin_sees_the_lock_and_lifts_it_by_deleting_the_row(self, cast, good_key):
        client = _client()
        _guess(client)
        admin = APIClient()
        admin.force_login(cast.admin)
        page = admin.get("/admin/salestrack/tokenfailure/")
        assert page.status_code == 200 and GUESSER in page.content.decode()
        row = TokenFailure.objects.get()
        confirm = admin.post(f"/admin/salestrack/tokenfailure/{row.pk}/delete/", {"post": "yes"})
        assert confirm.status_code == 302
        assert _call(client, good_key).status_code == 200
        manager = APIClient()
        manager.force_login(cast.manager_a)
        assert manager.get("/admin/salestrack/tokenfailure/").status_code in (302, 403)


@pytest.mark.services
def test_two_web_processes_share_the_count_with_redis_down(services_env, cast, tmp_path):
    """Two gunicorn processes, guessed at in parallel, with no Redis: one count, one lock."""
    limit = 30
    env = {
        **services_env,
        "SALESTRACK_TOKEN_FAILURE_LIMIT": str(limit),
        # Nothing listens there: the cache and the broker are down for the whole test.
        "REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0",
    }
    good_key = Token.objects.create(user=cast.rep_a1.user).key
    ports = [_free_port(), _free_port()]
    webs = []
    try:
        for n, port in enumerate(ports):
            webs.append(_start_web(env, port, tmp_path / f"web-{n}.log"))
        statuses: Counter = Counter()
        lock = threading.Lock()

        def guess(port: int, offset: int) -> None:
            for n in range(25):
                answer = requests.get(
                    f"http://127.0.0.1:{port}{API}",
                    headers={"Authorization": f"Token {offset + n:040x}"},
                    timeout=30,
                )
                with lock:
                    statuses[answer.status_code] += 1

        threads = [threading.Thread(target=guess, args=(port, 1000 * k)) for k, port in enumerate(ports)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        failures = TokenFailure.objects.get(ip_address="127.0.0.1").failures
        assert set(statuses) <= {401, 429}
        # Every 401 is counted; at most one call per process can pass the check while the other
        # process records the limit-th failure.
        assert failures == statuses[401]
        assert limit <= statuses[401] <= limit + len(ports)
        assert statuses[401] + statuses[429] == 50
        for port in ports:
            answer = requests.get(
                f"http://127.0.0.1:{port}{API}", headers={"Authorization": f"Token {good_key}"}, timeout=30
            )
            assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
        print(
            f"\n2 gunicorn processes, Redis down, 50 parallel guesses: {statuses[401]} x 401 "
            f"(all {failures} counted), {statuses[429]} x 429; the good token refused by both"
        )
    finally:
        for web in webs:
            _stop(web)
