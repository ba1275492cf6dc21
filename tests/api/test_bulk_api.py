"""POST /api/v1/activities/bulk/ and /api/v1/deals/bulk/: all or nothing, every bad item listed,
external ids update instead of duplicating."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.throttling import ScopedRateThrottle

from activities.models import Activity, Deal, DealStageChange, Source
from tests.api.conftest import activity_type, log, open_deal, stage, token_client

ACTIVITIES = "/api/v1/activities/bulk/"
DEALS = "/api/v1/deals/bulk/"


def an_activity(n: int, **extra) -> dict:
    when = timezone.now() - timedelta(hours=n + 1)
    return {"type": activity_type().pk, "occurred_at": when.isoformat(), "duration_minutes": 10 + n, **extra}


def a_deal(n: int, **extra) -> dict:
    return {"name": f"Deal {n}", "amount": f"{100 + n}.00", "opened_on": str(timezone.localdate()), **extra}


class ActivityBulkTests:
    def test_it_creates_every_item(self, cast):
        items = [an_activity(n) for n in range(5)]
        response = token_client(cast.rep_a1.user).post(ACTIVITIES, {"items": items}, format="json")
        assert response.status_code == 200, response.content
        results = response.json()["results"]
        assert [r["index"] for r in results] == list(range(5))
        assert {r["status"] for r in results} == {"created"}
        assert Activity.objects.filter(rep=cast.rep_a1, source=Source.API).count() == 5

    def test_posting_the_same_batch_twice_creates_nothing_the_second_time(self, cast):
        items = [an_activity(n, source="crm", external_id=f"A-{n}") for n in range(3)]
        client = token_client(cast.rep_a1.user)
        first = client.post(ACTIVITIES, {"items": items}, format="json")
        second = client.post(ACTIVITIES, {"items": items}, format="json")
        assert first.status_code == second.status_code == 200
        assert [r["status"] for r in second.json()["results"]] == ["unchanged"] * 3
        assert [r["id"] for r in second.json()["results"]] == [r["id"] for r in first.json()["results"]]
        assert Activity.objects.count() == 3

    def test_an_external_id_updates_the_callers_row(self, cast):
        row = log(cast.rep_a1, minutes=10, source=Source.CRM, external_id="A-1")
        item = an_activity(0, source="crm", external_id="A-1", duration_minutes=55, outcome="won them over")
        response = token_client(cast.rep_a1.user).post(ACTIVITIES, {"items": [item]}, format="json")
        assert response.json()["results"] == [{"index": 0, "id": row.pk, "status": "updated"}]
        row.refresh_from_db()
        assert row.duration_minutes == 55 and row.outcome == "won them over"

    def test_one_bad_item_writes_nothing_and_every_bad_item_is_listed(self, cast):
        log(cast.rep_b1, source=Source.CRM, external_id="TAKEN")
        items = [
            an_activity(0),
            an_activity(1, duration_minutes=0),
            an_activity(2),
            an_activity(3, type=999999, occurred_at="2999-01-01T00:00:00Z"),
            an_activity(4, source="crm", external_id="TAKEN"),
            "not an object",
        ]
        response = token_client(cast.rep_a1.user).post(ACTIVITIES, {"items": items}, format="json")
        assert response.status_code == 400, response.content
        errors = response.json()["errors"]
        assert [e["index"] for e in errors] == [1, 3, 4, 5]
        assert "duration_minutes" in errors[0]["errors"]
        assert set(errors[1]["errors"]) == {"type"}  # the type is unknown before the date is checked
        assert list(errors[2]["errors"]) == ["external_id"]
        assert Activity.objects.filter(rep=cast.rep_a1).count() == 0

    def test_a_far_future_item_is_named(self, cast):
        items = [an_activity(0), an_activity(1, occurred_at="2999-01-01T00:00:00Z")]
        response = token_client(cast.rep_a1.user).post(ACTIVITIES, {"items": items}, format="json")
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert error["index"] == 1 and list(error["errors"]) == ["occurred_at"]
        assert "too far in the future" in error["errors"]["occurred_at"][0]
        assert not Activity.objects.exists()

    def test_an_external_id_twice_in_one_batch_is_an_error(self, cast):
        items = [an_activity(0, external_id="dup"), an_activity(1, external_id="dup")]
        response = token_client(cast.rep_a1.user).post(ACTIVITIES, {"items": items}, format="json")
        assert response.status_code == 400
        assert [e["index"] for e in response.json()["errors"]] == [1]
        assert not Activity.objects.exists()

    def test_another_reps_external_id_is_not_updated(self, cast):
        theirs = log(cast.rep_a2, minutes=10, source=Source.CRM, external_id="A-9")
        item = an_activity(0, source="crm", external_id="A-9", duration_minutes=99)
        response = token_client(cast.rep_a1.user).post(ACTIVITIES, {"items": [item]}, format="json")
        assert response.status_code == 400
        theirs.refresh_from_db()
        assert theirs.duration_minutes == 10

    @pytest.mark.parametrize("body", [{}, {"items": []}, {"items": "x"}, []])
    def test_a_malformed_body_is_400_on_items(self, cast, body):
        response = token_client(cast.rep_a1.user).post(ACTIVITIES, body, format="json")
        assert response.status_code == 400

    def test_more_than_1000_items_is_400(self, cast):
        response = token_client(cast.rep_a1.user).post(
            ACTIVITIES, {"items": [an_activity(0)] * 1001}, format="json"
        )
        assert response.status_code == 400 and "items" in response.json()

    def test_only_reps_post_batches(self, cast):
        for user in (cast.manager_a, cast.admin):
            response = token_client(user).post(ACTIVITIES, {"items": [an_activity(0)]}, format="json")
            assert response.status_code == 403
        assert token_client().post(ACTIVITIES, {"items": [an_activity(0)]}, format="json").status_code in (
            401,
            403,
        )
        assert not Activity.objects.exists()

    def test_bulk_has_its_own_throttle(self, cast, monkeypatch):
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"writes": "100/min", "bulk": "1/min"})
        client = token_client(cast.rep_a1.user)
        assert client.post(ACTIVITIES, {"items": [an_activity(0)]}, format="json").status_code == 200
        assert client.post(ACTIVITIES, {"items": [an_activity(1)]}, format="json").status_code == 429
        assert client.post("/api/v1/activities/", an_activity(2), format="json").status_code == 201


class DealBulkTests:
    def test_it_opens_every_item_and_records_the_first_stage(self, cast):
        response = token_client(cast.rep_a1.user).post(
            DEALS, {"items": [a_deal(n) for n in range(3)]}, format="json"
        )
        assert response.status_code == 200, response.content
        assert Deal.objects.filter(owner=cast.rep_a1).count() == 3
        assert DealStageChange.objects.filter(by=cast.rep_a1.user, from_stage=None).count() == 3

    def test_posting_the_same_batch_twice_creates_nothing_the_second_time(self, cast):
        items = [a_deal(n, source="crm", external_id=f"D-{n}") for n in range(3)]
        client = token_client(cast.rep_a1.user)
        client.post(DEALS, {"items": items}, format="json")
        second = client.post(DEALS, {"items": items}, format="json")
        assert second.status_code == 200
        assert [r["status"] for r in second.json()["results"]] == ["unchanged"] * 3
        assert Deal.objects.count() == 3 and DealStageChange.objects.count() == 3

    def test_an_external_id_with_a_new_stage_moves_the_deal(self, cast):
        deal = open_deal(cast.rep_a1, source=Source.CRM, external_id="D-7", days_ago=3)
        day = str(timezone.localdate())
        item = a_deal(
            0, source="crm", external_id="D-7", stage=stage("Won").pk, closed_on=day, amount="777.00"
        )
        item["opened_on"] = str(deal.opened_on)
        response = token_client(cast.rep_a1.user).post(DEALS, {"items": [item]}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["results"][0]["status"] == "updated"
        deal.refresh_from_db()
        assert deal.stage.name == "Won" and str(deal.closed_on) == day and str(deal.amount) == "777.00"
        assert deal.stage_changes.last().by == cast.rep_a1.user

    def test_one_bad_item_writes_nothing(self, cast):
        items = [
            a_deal(0),
            a_deal(1, amount="-5"),
            a_deal(2, stage=stage("Won").pk, closed_on="2000-01-01"),
            a_deal(3, stage=999999),
        ]
        response = token_client(cast.rep_a1.user).post(DEALS, {"items": items}, format="json")
        assert response.status_code == 400
        errors = {e["index"]: e["errors"] for e in response.json()["errors"]}
        assert set(errors) == {1, 2, 3}
        assert "amount" in errors[1] and "closed_on" in errors[2] and "stage" in errors[3]
        assert not Deal.objects.exists() and not DealStageChange.objects.exists()
