"""/api/v1/deals/: open, edit, move through the pipeline (recorded), history, delete; access rules."""

from datetime import timedelta

import pytest
from django.utils import timezone

from activities.models import Deal, DealStageChange, Source
from metrics.models import ChangedDay
from tests.api.conftest import open_deal, stage, token_client
from tests.factories import DealFactory, RepFactory

URL = "/api/v1/deals/"


def detail(deal, suffix: str = "") -> str:
    return f"{URL}{deal.pk}/{suffix}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def deals(cast):
    return {
        "a1": open_deal(cast.rep_a1, name="Alpha", amount="100.00", days_ago=30),
        "a2": open_deal(cast.rep_a2, name="Beta", amount="200.00", days_ago=20),
        "b1": open_deal(cast.rep_b1, name="Gamma", amount="300.00", days_ago=10),
    }


def today():
    return timezone.localdate()


class DealListTests:
    def test_a_rep_lists_only_their_own(self, cast, deals):
        assert ids(token_client(cast.rep_a1.user).get(URL)) == [deals["a1"].pk]

    def test_a_manager_lists_their_teams_an_admin_everything(self, cast, deals):
        assert ids(token_client(cast.manager_a).get(URL)) == [deals["a2"].pk, deals["a1"].pk]
        assert ids(token_client(cast.admin).get(URL)) == [deals["b1"].pk, deals["a2"].pk, deals["a1"].pk]

    def test_each_row_has_its_stage_and_status(self, cast, deals):
        row = token_client(cast.rep_a1.user).get(URL).json()["results"][0]
        assert row["stage_name"] == "Lead" and row["status"] == "open"
        assert row["amount"] == "100.00" and row["owner_name"] == "Ana One"

    def test_it_filters_by_status_owner_dates_and_external_id(self, cast, deals):
        client = token_client(cast.admin)
        assert ids(client.get(URL, {"status": "won"})) == []
        assert ids(client.get(URL, {"owner": cast.rep_a2.pk})) == [deals["a2"].pk]
        assert ids(client.get(URL, {"opened_after": today() - timedelta(days=15)})) == [deals["b1"].pk]
        assert ids(client.get(URL, {"opened_before": today() - timedelta(days=25)})) == [deals["a1"].pk]
        assert ids(client.get(URL, {"stage": stage("Lead").pk})) == [
            d.pk for d in (deals["b1"], deals["a2"], deals["a1"])
        ]
        open_deal(cast.rep_b1, source=Source.CRM, external_id="C-9")
        assert len(ids(client.get(URL, {"source": "crm", "external_id": "C-9"}))) == 1

    def test_it_orders_by_amount(self, cast, deals):
        response = token_client(cast.admin).get(URL, {"ordering": "-amount"})
        assert [row["amount"] for row in response.json()["results"]] == ["300.00", "200.00", "100.00"]

    def test_a_bad_status_is_400(self, cast, deals):
        response = token_client(cast.admin).get(URL, {"status": "maybe"})
        assert response.status_code == 400 and "status" in response.json()


class DealCreateTests:
    def test_a_rep_opens_a_deal_in_the_first_stage_recorded_by_them(self, cast):
        response = token_client(cast.rep_a1.user).post(
            URL, {"name": "New", "amount": "1500.50", "opened_on": str(today())}, format="json"
        )
        assert response.status_code == 201, response.content
        deal = Deal.objects.get(pk=response.json()["id"])
        assert deal.owner == cast.rep_a1 and deal.stage.name == "Lead" and deal.source == Source.API
        change = deal.stage_changes.get()
        assert change.from_stage is None and change.by == cast.rep_a1.user
        assert ChangedDay.objects.filter(day=today()).exists()

    def test_a_deal_can_open_straight_as_won(self, cast):
        response = token_client(cast.rep_a1.user).post(
            URL,
            {
                "name": "Quick",
                "amount": "10",
                "opened_on": str(today()),
                "stage": stage("Won").pk,
                "closed_on": str(today()),
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "won"

    def test_a_manager_or_admin_cannot_open_for_a_rep(self, cast):
        for user in (cast.manager_a, cast.admin):
            response = token_client(user).post(
                URL, {"name": "X", "amount": "1", "owner": cast.rep_a1.pk}, format="json"
            )
            assert response.status_code == 403
        assert not Deal.objects.exists()

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"amount": "-1.00"}, "amount"),
            ({"amount": "abc"}, "amount"),
            ({"name": ""}, "name"),
            ({"stage": 999999}, "stage"),
            ({"owner": 999999}, "owner"),
            ({"product": 999999}, "product"),
            ({"opened_on": "2999-01-01"}, "opened_on"),
            ({"stage": "won", "closed_on": "2000-01-01"}, "closed_on"),  # closing before opening
            ({"stage": "won"}, "closed_on"),  # won needs its closing date
            ({"closed_on": "2026-01-01"}, "closed_on"),  # an open deal has none
            ({"expected_close_on": "2000-01-01"}, "expected_close_on"),
            ({"revenue_type": "barter"}, "revenue_type"),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, cast, changes, field):
        data = {"name": "Deal", "amount": "10.00", "opened_on": str(today() - timedelta(days=5)), **changes}
        if data.get("stage") == "won":
            data["stage"] = stage("Won").pk
        response = token_client(cast.rep_a1.user).post(URL, data, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json(), response.json()
        assert not Deal.objects.exists() and not DealStageChange.objects.exists()

    def test_another_reps_id_as_owner_is_400(self, cast):
        response = token_client(cast.rep_a1.user).post(
            URL, {"name": "X", "amount": "1", "owner": cast.rep_b1.pk}, format="json"
        )
        assert response.status_code == 400 and list(response.json()) == ["owner"]

    def test_a_duplicate_external_id_is_400_on_external_id(self, cast):
        open_deal(cast.rep_b1, source=Source.CRM, external_id="D-1")
        response = token_client(cast.rep_a1.user).post(
            URL, {"name": "X", "amount": "1", "source": "crm", "external_id": "D-1"}, format="json"
        )
        assert response.status_code == 400 and list(response.json()) == ["external_id"]
        assert Deal.objects.count() == 1


class DealUpdateTests:
    def test_a_rep_edits_the_details_of_their_own(self, cast, deals):
        response = token_client(cast.rep_a1.user).patch(
            detail(deals["a1"]), {"amount": "150.00", "name": "Alpha 2"}, format="json"
        )
        assert response.status_code == 200, response.content
        deals["a1"].refresh_from_db()
        assert str(deals["a1"].amount) == "150.00" and deals["a1"].name == "Alpha 2"

    def test_the_stage_does_not_change_by_edit(self, cast, deals):
        response = token_client(cast.rep_a1.user).patch(
            detail(deals["a1"]), {"stage": stage("Won").pk}, format="json"
        )
        assert response.status_code == 400 and "stage" in response.json()
        deals["a1"].refresh_from_db()
        assert deals["a1"].stage.name == "Lead"

    def test_a_negative_amount_is_400_and_changes_nothing(self, cast, deals):
        response = token_client(cast.rep_a1.user).patch(detail(deals["a1"]), {"amount": "-5"}, format="json")
        assert response.status_code == 400 and "amount" in response.json()
        deals["a1"].refresh_from_db()
        assert str(deals["a1"].amount) == "100.00"

    def test_others_cannot_edit_or_delete(self, cast, deals):
        rep = token_client(cast.rep_a1.user)
        assert rep.patch(detail(deals["a2"]), {"name": "x"}, format="json").status_code == 404
        assert rep.delete(detail(deals["b1"])).status_code == 404
        manager = token_client(cast.manager_a)
        assert manager.get(detail(deals["a1"])).status_code == 200
        assert manager.patch(detail(deals["a1"]), {"name": "x"}, format="json").status_code == 403
        assert manager.delete(detail(deals["a1"])).status_code == 403
        assert Deal.objects.count() == 3

    def test_a_rep_deletes_their_own(self, cast, deals):
        assert token_client(cast.rep_a1.user).delete(detail(deals["a1"])).status_code == 204
        assert not Deal.objects.filter(pk=deals["a1"].pk).exists()


class DealMoveTests:
    def test_a_move_is_recorded_by_the_caller(self, cast, deals):
        response = token_client(cast.rep_a1.user).post(
            detail(deals["a1"], "move/"), {"stage": stage("MQL").pk}, format="json"
        )
        assert response.status_code == 200, response.content
        assert response.json()["stage_name"] == "MQL"
        change = DealStageChange.objects.filter(deal=deals["a1"]).last()
        assert change.from_stage.name == "Lead" and change.to_stage.name == "MQL"
        assert change.by == cast.rep_a1.user

    def test_winning_sets_the_closing_date_and_the_final_amount(self, cast, deals):
        day = today() - timedelta(days=1)
        response = token_client(cast.rep_a1.user).post(
            detail(deals["a1"], "move/"),
            {"stage": stage("Won").pk, "closed_on": str(day), "amount": "120.00"},
            format="json",
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "won" and body["closed_on"] == str(day) and body["amount"] == "120.00"

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"stage": "Won", "closed_on": "2000-01-01"}, "closed_on"),
            ({"stage": "Won", "closed_on": "2999-01-01"}, "closed_on"),
            ({"stage": "Won", "amount": "-3"}, "amount"),
            ({"stage": "Lead"}, "stage"),  # already there
            ({"stage": 999999}, "stage"),
            ({"stage": "MQL", "closed_on": "2026-01-01"}, "closed_on"),
            ({}, "stage"),
        ],
    )
    def test_a_bad_move_is_400_naming_the_field(self, cast, deals, data, field):
        if isinstance(data.get("stage"), str):
            data = {**data, "stage": stage(data["stage"]).pk}
        response = token_client(cast.rep_a1.user).post(detail(deals["a1"], "move/"), data, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json(), response.json()
        deals["a1"].refresh_from_db()
        assert deals["a1"].stage.name == "Lead" and deals["a1"].stage_changes.count() == 1

    def test_nobody_moves_another_reps_deal(self, cast, deals):
        data = {"stage": stage("MQL").pk}
        assert (
            token_client(cast.rep_a1.user).post(detail(deals["a2"], "move/"), data, format="json").status_code
            == 404
        )
        assert (
            token_client(cast.manager_a).post(detail(deals["a1"], "move/"), data, format="json").status_code
            == 403
        )
        assert (
            token_client(cast.admin).post(detail(deals["b1"], "move/"), data, format="json").status_code
            == 403
        )
        assert DealStageChange.objects.count() == 3


class DealHistoryTests:
    def test_it_lists_the_stage_changes_oldest_first(self, cast, deals):
        client = token_client(cast.rep_a1.user)
        client.post(detail(deals["a1"], "move/"), {"stage": stage("MQL").pk}, format="json")
        client.post(detail(deals["a1"], "move/"), {"stage": stage("Lost").pk}, format="json")
        response = client.get(detail(deals["a1"], "history/"))
        assert response.status_code == 200
        rows = response.json()
        assert [(r["from_stage_name"], r["to_stage_name"]) for r in rows] == [
            (None, "Lead"),
            ("Lead", "MQL"),
            ("MQL", "Lost"),
        ]
        assert rows[-1]["by"] == cast.rep_a1.user.pk and rows[-1]["by_name"] == "Ana One"

    def test_a_manager_reads_their_reps_history_not_another_teams(self, cast, deals):
        client = token_client(cast.manager_a)
        assert client.get(detail(deals["a2"], "history/")).status_code == 200
        assert client.get(detail(deals["b1"], "history/")).status_code == 404


BUDGET = 8


def test_the_list_costs_the_same_queries_for_n_and_3n_rows(cast, django_assert_max_num_queries):
    client = token_client(cast.manager_a)
    client.get(URL)
    for reps in (3, 6):
        for _ in range(reps):
            DealFactory.create_batch(3, owner=RepFactory(team=cast.team_a))
        with django_assert_max_num_queries(BUDGET):
            response = client.get(URL, {"page_size": 1000})
        assert response.status_code == 200
    assert response.json()["count"] == 27
