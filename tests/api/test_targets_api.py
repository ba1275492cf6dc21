"""/api/v1/quotas/ and /api/v1/projections/: read within access, written by admins only."""

from decimal import Decimal

import pytest

from metrics.models import ChangedDay, Projection, Quota
from metrics.periods import Period
from metrics.services import quota_set
from tests.api.conftest import token_client
from tests.factories import RepFactory

ENDPOINTS = {"quotas": Quota, "projections": Projection}


@pytest.fixture
def quotas(cast):
    for rep in (cast.rep_a1, cast.rep_a2, cast.rep_b1):
        quota_set(rep=rep, period=Period.parse("2026-07"), amount=Decimal("1000"), by=cast.admin)
    quota_set(team=cast.team_a, period=Period.parse("2026-Q3"), amount=Decimal("5000"), by=cast.admin)


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


class TargetReadTests:
    def test_periods_are_written_like_everywhere_else(self, cast, quotas):
        got = rows(token_client(cast.admin).get("/api/v1/quotas/", {"ordering": "id"}))
        assert [(r["rep"], r["team"], r["period"], r["amount"]) for r in got] == [
            (cast.rep_a1.pk, None, "2026-07", "1000.00"),
            (cast.rep_a2.pk, None, "2026-07", "1000.00"),
            (cast.rep_b1.pk, None, "2026-07", "1000.00"),
            (None, cast.team_a.pk, "2026-Q3", "5000.00"),
        ]

    def test_a_rep_reads_their_own_and_their_teams(self, cast, quotas):
        got = rows(token_client(cast.rep_a1.user).get("/api/v1/quotas/"))
        assert {(r["rep"], r["team"]) for r in got} == {(cast.rep_a1.pk, None), (None, cast.team_a.pk)}

    def test_a_manager_reads_their_teams_not_another_teams(self, cast, quotas):
        got = rows(token_client(cast.manager_b).get("/api/v1/quotas/"))
        assert [(r["rep"], r["team"]) for r in got] == [(cast.rep_b1.pk, None)]

    def test_it_filters_by_period_and_a_bad_period_is_400(self, cast, quotas):
        client = token_client(cast.admin)
        assert len(rows(client.get("/api/v1/quotas/", {"period": "2026-Q3"}))) == 1
        response = client.get("/api/v1/quotas/", {"period": "2026-13"})
        assert response.status_code == 400 and "period" in response.json()


@pytest.mark.parametrize("kind", list(ENDPOINTS))
class TargetWriteTests:
    def test_an_admin_sets_updates_and_deletes(self, cast, kind):
        client = token_client(cast.admin)
        model = ENDPOINTS[kind]
        url = f"/api/v1/{kind}/"
        created = client.post(
            url, {"rep": cast.rep_a1.pk, "period": "2026-Q3", "amount": "900"}, format="json"
        )
        assert created.status_code == 201, created.content
        assert created.json()["period"] == "2026-Q3"
        row = model.objects.get()
        assert (row.period_kind, str(row.period_start)) == ("quarter", "2026-07-01")
        assert ChangedDay.objects.filter(day=row.period_start).exists()
        # Setting it again updates the same row.
        again = client.post(url, {"rep": cast.rep_a1.pk, "period": "2026-Q3", "amount": "950"}, format="json")
        assert again.status_code == 200 and again.json()["id"] == row.pk
        patched = client.patch(f"{url}{row.pk}/", {"amount": "1000.50"}, format="json")
        assert patched.status_code == 200 and patched.json()["amount"] == "1000.50"
        assert row.history.first().history_user == cast.admin
        assert client.delete(f"{url}{row.pk}/").status_code == 204
        assert not model.objects.exists()

    def test_a_team_target(self, cast, kind):
        response = token_client(cast.admin).post(
            f"/api/v1/{kind}/", {"team": cast.team_b.pk, "period": "2026", "amount": "10"}, format="json"
        )
        assert response.status_code == 201 and response.json()["team"] == cast.team_b.pk

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"rep": "a1", "period": "2026-13", "amount": "1"}, "period"),
            ({"rep": "a1", "period": "Q3-2026", "amount": "1"}, "period"),
            ({"rep": "a1", "period": "2026-07", "amount": "-1"}, "amount"),
            ({"period": "2026-07", "amount": "1"}, "rep"),
            ({"rep": "a1", "team": "a", "period": "2026-07", "amount": "1"}, "rep"),
            ({"rep": 999999, "period": "2026-07", "amount": "1"}, "rep"),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, cast, kind, data, field):
        data = {**data}
        if data.get("rep") == "a1":
            data["rep"] = cast.rep_a1.pk
        if data.get("team") == "a":
            data["team"] = cast.team_a.pk
        response = token_client(cast.admin).post(f"/api/v1/{kind}/", data, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json()
        assert not ENDPOINTS[kind].objects.exists()

    def test_the_owner_and_period_of_a_row_are_fixed(self, cast, kind):
        client = token_client(cast.admin)
        made = client.post(
            f"/api/v1/{kind}/", {"rep": cast.rep_a1.pk, "period": "2026", "amount": "1"}, format="json"
        )
        response = client.patch(f"/api/v1/{kind}/{made.json()['id']}/", {"period": "2027"}, format="json")
        assert response.status_code == 400 and "period" in response.json()

    def test_non_admins_cannot_write(self, cast, kind):
        row = ENDPOINTS[kind].objects.create(
            rep=cast.rep_a1, period_kind="month", period_start="2026-07-01", amount=Decimal("5")
        )
        for user in (cast.rep_a1.user, cast.manager_a):
            client = token_client(user)
            data = {"rep": cast.rep_a1.pk, "period": "2026-08", "amount": "1"}
            assert client.post(f"/api/v1/{kind}/", data, format="json").status_code == 403
            assert (
                client.patch(f"/api/v1/{kind}/{row.pk}/", {"amount": "9"}, format="json").status_code == 403
            )
            assert client.delete(f"/api/v1/{kind}/{row.pk}/").status_code == 403
        row.refresh_from_db()
        assert row.amount == Decimal("5") and ENDPOINTS[kind].objects.count() == 1

    def test_signed_out_is_refused(self, cast, kind):
        assert token_client().get(f"/api/v1/{kind}/").status_code in (401, 403)


BUDGET = 6


def test_the_quota_list_costs_the_same_queries_for_n_and_3n_rows(cast, django_assert_max_num_queries):
    client = token_client(cast.manager_a)
    client.get("/api/v1/quotas/")
    for added in (3, 6):
        for rep in RepFactory.create_batch(added, team=cast.team_a):
            quota_set(rep=rep, period=Period.parse("2026-07"), amount=Decimal("1"), by=cast.admin)
        with django_assert_max_num_queries(BUDGET):
            response = client.get("/api/v1/quotas/", {"page_size": 1000})
        assert response.status_code == 200
    assert response.json()["count"] == 9
