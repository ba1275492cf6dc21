"""/api/v1/activities/: a rep logs, edits and deletes their own; managers read their teams'; admins all."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from activities.api.throttles import ReadThrottle
from activities.models import Activity, Source
from metrics.models import ChangedDay
from tests.api.conftest import activity_type, log, open_deal, token_client
from tests.factories import ActivityFactory, RepFactory

URL = "/api/v1/activities/"


def detail(activity) -> str:
    return f"{URL}{activity.pk}/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def logged(cast):
    """One activity of each rep of the cast."""
    return {
        "a1": log(cast.rep_a1, minutes=10, hours_ago=3),
        "a2": log(cast.rep_a2, minutes=20, hours_ago=2),
        "b1": log(cast.rep_b1, minutes=30, hours_ago=1),
    }


class ActivityListTests:
    def test_a_rep_lists_only_their_own(self, cast, logged):
        assert ids(token_client(cast.rep_a1.user).get(URL)) == [logged["a1"].pk]

    def test_a_manager_lists_their_teams_reps(self, cast, logged):
        assert ids(token_client(cast.manager_a).get(URL)) == [logged["a2"].pk, logged["a1"].pk]

    def test_an_admin_lists_everything_newest_first(self, cast, logged):
        assert ids(token_client(cast.admin).get(URL)) == [logged["b1"].pk, logged["a2"].pk, logged["a1"].pk]

    def test_each_row_has_its_fields(self, cast, logged):
        row = token_client(cast.rep_a1.user).get(URL).json()["results"][0]
        assert row["rep"] == cast.rep_a1.pk and row["rep_name"] == "Ana One"
        assert row["type_name"] == "Call" and row["duration_minutes"] == 10
        assert row["source"] == Source.MANUAL

    def test_it_pages_with_page_size(self, cast, logged):
        response = token_client(cast.admin).get(URL, {"page_size": 2})
        body = response.json()
        assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
        assert len(token_client(cast.admin).get(body["next"]).json()["results"]) == 1

    def test_it_filters_by_rep_type_and_day(self, cast, logged):
        client = token_client(cast.admin)
        assert ids(client.get(URL, {"rep": cast.rep_b1.pk})) == [logged["b1"].pk]
        assert ids(client.get(URL, {"type": activity_type("Admin").pk})) == []
        today = timezone.localdate()
        assert len(ids(client.get(URL, {"occurred_after": today - timedelta(days=1)}))) == 3
        assert ids(client.get(URL, {"occurred_before": today - timedelta(days=2)})) == []

    def test_it_orders_by_a_whitelisted_field_only(self, cast, logged):
        client = token_client(cast.admin)
        durations = [
            row["duration_minutes"]
            for row in client.get(URL, {"ordering": "duration_minutes"}).json()["results"]
        ]
        assert durations == [10, 20, 30]
        # A field off the whitelist is refused, naming the parameter and the fields it may name.
        refused = client.get(URL, {"ordering": "notes"})
        assert refused.status_code == 400
        assert "duration_minutes" in refused.json()["ordering"][0]

    def test_a_malformed_filter_is_400_naming_it(self, cast, logged):
        response = token_client(cast.admin).get(URL, {"occurred_after": "yesterday", "rep": "x"})
        assert response.status_code == 400
        assert set(response.json()) == {"occurred_after", "rep"}

    def test_signed_out_is_refused(self, cast, logged):
        response = token_client().get(URL)
        assert response.status_code in (401, 403)
        assert "results" not in response.json()


class ActivityRetrieveTests:
    def test_a_rep_reads_their_own(self, cast, logged):
        response = token_client(cast.rep_a1.user).get(detail(logged["a1"]))
        assert response.status_code == 200 and response.json()["id"] == logged["a1"].pk

    def test_another_reps_activity_is_404(self, cast, logged):
        for key in ("a2", "b1"):
            assert token_client(cast.rep_a1.user).get(detail(logged[key])).status_code == 404

    def test_a_manager_reads_their_teams_but_not_another_teams(self, cast, logged):
        client = token_client(cast.manager_a)
        assert client.get(detail(logged["a2"])).status_code == 200
        assert client.get(detail(logged["b1"])).status_code == 404

    def test_an_id_too_big_for_the_database_is_404(self, cast):
        assert token_client(cast.admin).get(f"{URL}{10**30}/").status_code == 404


class ActivityCreateTests:
    def test_a_rep_logs_for_themselves(self, cast):
        when = timezone.now() - timedelta(hours=1)
        response = token_client(cast.rep_a1.user).post(
            URL,
            {
                "type": activity_type().pk,
                "occurred_at": when.isoformat(),
                "duration_minutes": 25,
                "notes": "hi",
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        activity = Activity.objects.get(pk=response.json()["id"])
        assert activity.rep == cast.rep_a1 and activity.duration_minutes == 25
        assert activity.source == Source.API
        assert ChangedDay.objects.filter(day=timezone.localtime(when).date()).exists()

    def test_time_and_duration_default_to_now_and_the_types_duration(self, cast):
        call = activity_type()
        response = token_client(cast.rep_a1.user).post(URL, {"type": call.pk}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["duration_minutes"] == call.default_duration

    def test_a_rep_links_their_own_deal(self, cast):
        deal = open_deal(cast.rep_a1)
        response = token_client(cast.rep_a1.user).post(
            URL, {"type": activity_type().pk, "deal": deal.pk}, format="json"
        )
        assert response.status_code == 201 and response.json()["deal"] == deal.pk

    def test_naming_oneself_as_rep_is_fine_naming_another_is_400(self, cast):
        client = token_client(cast.rep_a1.user)
        ok = client.post(URL, {"type": activity_type().pk, "rep": cast.rep_a1.pk}, format="json")
        assert ok.status_code == 201
        # Another rep does not even exist for rep_a1.
        bad = client.post(URL, {"type": activity_type().pk, "rep": cast.rep_a2.pk}, format="json")
        assert bad.status_code == 400 and list(bad.json()) == ["rep"]
        assert Activity.objects.filter(rep=cast.rep_a2).count() == 0

    def test_a_manager_cannot_log_for_a_rep(self, cast):
        response = token_client(cast.manager_a).post(
            URL, {"type": activity_type().pk, "rep": cast.rep_a1.pk}, format="json"
        )
        assert response.status_code == 403
        assert not Activity.objects.exists()

    def test_an_admin_without_a_rep_profile_cannot_log(self, cast):
        response = token_client(cast.admin).post(URL, {"type": activity_type().pk}, format="json")
        assert response.status_code == 403


class ActivityValidationTests:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"duration_minutes": 0}, "duration_minutes"),
            ({"duration_minutes": 1441}, "duration_minutes"),
            ({"duration_minutes": 10**12}, "duration_minutes"),
            ({"duration_minutes": "long"}, "duration_minutes"),
            ({"occurred_at": "2999-01-01T10:00:00Z"}, "occurred_at"),
            ({"occurred_at": "not a date"}, "occurred_at"),
            ({"type": 999999}, "type"),
            ({"rep": 999999}, "rep"),
            ({"account": 999999}, "account"),
            ({"deal": 999999}, "deal"),
            ({"source": "fax"}, "source"),
            ({"outcome": "x" * 201}, "outcome"),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, cast, changes, field):
        data = {"type": activity_type().pk, **changes}
        response = token_client(cast.rep_a1.user).post(URL, data, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json(), response.json()
        assert not Activity.objects.exists()

    def test_another_reps_deal_cannot_be_linked(self, cast):
        deal = open_deal(cast.rep_a2)
        response = token_client(cast.rep_a1.user).post(
            URL, {"type": activity_type().pk, "deal": deal.pk}, format="json"
        )
        assert response.status_code == 400 and "deal" in response.json()

    def test_a_retired_type_is_400(self, cast):
        retired = activity_type("Training")
        retired.is_active = False
        retired.save()
        response = token_client(cast.rep_a1.user).post(URL, {"type": retired.pk}, format="json")
        assert response.status_code == 400 and "type" in response.json()

    def test_a_duplicate_external_id_is_400_on_external_id(self, cast):
        log(cast.rep_b1, source=Source.CRM, external_id="X-1")
        response = token_client(cast.rep_a1.user).post(
            URL, {"type": activity_type().pk, "source": "crm", "external_id": "X-1"}, format="json"
        )
        assert response.status_code == 400, response.content
        assert list(response.json()) == ["external_id"]
        assert Activity.objects.count() == 1


class ActivityUpdateTests:
    def test_a_rep_edits_their_own(self, cast, logged):
        response = token_client(cast.rep_a1.user).patch(
            detail(logged["a1"]), {"duration_minutes": 45, "outcome": "booked"}, format="json"
        )
        assert response.status_code == 200, response.content
        logged["a1"].refresh_from_db()
        assert logged["a1"].duration_minutes == 45 and logged["a1"].outcome == "booked"

    def test_put_needs_the_type(self, cast, logged):
        client = token_client(cast.rep_a1.user)
        assert client.put(detail(logged["a1"]), {"duration_minutes": 5}, format="json").status_code == 400
        response = client.put(
            detail(logged["a1"]), {"type": activity_type("Email").pk, "duration_minutes": 5}, format="json"
        )
        assert response.status_code == 200 and response.json()["type_name"] == "Email"

    def test_a_bad_edit_is_400_and_changes_nothing(self, cast, logged):
        response = token_client(cast.rep_a1.user).patch(
            detail(logged["a1"]), {"duration_minutes": 2000, "notes": "changed"}, format="json"
        )
        assert response.status_code == 400 and "duration_minutes" in response.json()
        logged["a1"].refresh_from_db()
        assert logged["a1"].duration_minutes == 10 and logged["a1"].notes == ""

    def test_a_rep_cannot_edit_or_delete_another_reps(self, cast, logged):
        client = token_client(cast.rep_a1.user)
        assert client.patch(detail(logged["a2"]), {"notes": "x"}, format="json").status_code == 404
        assert client.delete(detail(logged["b1"])).status_code == 404
        assert Activity.objects.count() == 3

    def test_a_manager_reads_but_cannot_change_their_reps_entries(self, cast, logged):
        client = token_client(cast.manager_a)
        assert client.patch(detail(logged["a1"]), {"notes": "x"}, format="json").status_code == 403
        assert client.delete(detail(logged["a1"])).status_code == 403
        assert client.delete(detail(logged["b1"])).status_code == 404
        logged["a1"].refresh_from_db()
        assert logged["a1"].notes == ""

    def test_a_rep_deletes_their_own(self, cast, logged):
        ChangedDay.objects.all().delete()
        response = token_client(cast.rep_a1.user).delete(detail(logged["a1"]))
        assert response.status_code == 204
        assert not Activity.objects.filter(pk=logged["a1"].pk).exists()
        assert ChangedDay.objects.exists()


class ThrottleTests:
    def test_writes_are_throttled_and_reads_have_their_own_allowance(self, cast, monkeypatch):
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"writes": "2/min", "bulk": "1/min"})
        monkeypatch.setattr(ReadThrottle, "THROTTLE_RATES", {"reads": "4/min"})
        client = token_client(cast.rep_a1.user)
        codes = [client.post(URL, {"type": activity_type().pk}, format="json").status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        reads = [client.get(URL).status_code for _ in range(5)]
        assert reads == [200, 200, 200, 200, 429]
        # Every API read shares the allowance, lists and details of any resource alike.
        refused = client.get("/api/v1/stages/")
        assert refused.status_code == 429 and "Retry-After" in refused
        # Another user has their own allowances.
        other = token_client(cast.rep_a2.user)
        assert other.post(URL, {"type": activity_type().pk}, format="json").status_code == 201
        assert other.get(URL).status_code == 200

    def test_a_dead_cache_lets_reads_and_writes_through(self, cast, settings):
        from tests.reliability.test_outages import _free_port

        # A Redis that is not there: nothing listens on the port (connection refused).
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{_free_port()}/0",
                "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
            }
        }
        client = token_client(cast.rep_a1.user)
        started = time.monotonic()
        created = client.post(URL, {"type": activity_type().pk}, format="json")
        listed = client.get(URL)
        assert (created.status_code, listed.status_code) == (201, 200)
        assert listed.json()["count"] == 1
        assert time.monotonic() - started < 1


BUDGET = 8


def test_the_list_costs_the_same_queries_for_n_and_3n_rows(cast, django_assert_max_num_queries):
    client = token_client(cast.manager_a)
    client.get(URL)  # the token and the groups, once
    for reps in (3, 6):
        for _ in range(reps):
            rep = RepFactory(team=cast.team_a)
            ActivityFactory.create_batch(3, rep=rep)
        with django_assert_max_num_queries(BUDGET):
            response = client.get(URL, {"page_size": 1000})
        assert response.status_code == 200
    assert response.json()["count"] == 27


class SessionTests:
    def test_a_signed_in_browser_reads_and_writes_with_the_csrf_token(self, cast):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(cast.rep_a1.user)
        assert client.get(URL).status_code == 200
        refused = client.post(URL, {"type": activity_type().pk}, format="json")
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        assert not Activity.objects.exists()

    def test_a_wrong_token_is_refused(self, cast, logged):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
        for response in (client.get(URL), client.delete(detail(logged["a1"]))):
            assert response.status_code == 401
            assert response["WWW-Authenticate"] == "Token"
        assert Activity.objects.count() == 3
