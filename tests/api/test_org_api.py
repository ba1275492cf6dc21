"""The organisation, read only: reps, teams, territories (scoped by access); accounts, products,
stages and activity types (everyone signed in)."""

import pytest

from tests.api.conftest import token_client
from tests.factories import AccountFactory, ProductFactory, RepFactory


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


class RepsTests:
    def test_a_rep_sees_only_themselves(self, cast):
        assert names(token_client(cast.rep_a1.user).get("/api/v1/reps/")) == ["Ana One"]

    def test_a_manager_sees_their_teams_reps(self, cast):
        assert names(token_client(cast.manager_a).get("/api/v1/reps/")) == ["Ana One", "Ari Two"]

    def test_an_admin_sees_every_rep_and_filters_by_team(self, cast):
        client = token_client(cast.admin)
        assert names(client.get("/api/v1/reps/")) == ["Ana One", "Ari Two", "Bo Three"]
        assert names(client.get("/api/v1/reps/", {"team": cast.team_b.pk})) == ["Bo Three"]

    def test_another_teams_rep_is_404(self, cast):
        assert token_client(cast.rep_a1.user).get(f"/api/v1/reps/{cast.rep_b1.pk}/").status_code == 404
        assert token_client(cast.manager_a).get(f"/api/v1/reps/{cast.rep_b1.pk}/").status_code == 404
        row = token_client(cast.manager_b).get(f"/api/v1/reps/{cast.rep_b1.pk}/").json()
        assert row["username"] == "rep_b1" and row["team"] == cast.team_b.pk


class TeamsAndTerritoriesTests:
    def test_a_rep_sees_their_own_team_and_territory(self, cast):
        client = token_client(cast.rep_b1.user)
        assert names(client.get("/api/v1/teams/")) == ["Team B"]
        assert names(client.get("/api/v1/territories/")) == ["South"]
        assert client.get(f"/api/v1/teams/{cast.team_a.pk}/").status_code == 404

    def test_a_manager_sees_the_teams_they_manage(self, cast):
        client = token_client(cast.manager_a)
        assert names(client.get("/api/v1/teams/")) == ["Team A"]
        assert names(client.get("/api/v1/territories/")) == ["North"]

    def test_an_admin_sees_all(self, cast):
        client = token_client(cast.admin)
        assert names(client.get("/api/v1/teams/")) == ["Team A", "Team B"]
        assert names(client.get("/api/v1/territories/")) == ["North", "South"]


class SharedListsTests:
    def test_everyone_signed_in_reads_accounts_and_products(self, cast):
        AccountFactory(name="Acme")
        ProductFactory(name="Widget")
        for user in (cast.rep_a1.user, cast.manager_b, cast.admin):
            client = token_client(user)
            assert names(client.get("/api/v1/accounts/")) == ["Acme"]
            assert names(client.get("/api/v1/products/")) == ["Widget"]

    def test_stages_come_in_pipeline_order(self, cast):
        rows = token_client(cast.rep_a1.user).get("/api/v1/stages/").json()["results"]
        assert [r["name"] for r in rows] == ["Lead", "MQL", "SQL", "Proposal", "Negotiation", "Won", "Lost"]
        assert [r["kind"] for r in rows][-2:] == ["won", "lost"]

    def test_activity_types_say_which_count_as_selling(self, cast):
        rows = token_client(cast.rep_a1.user).get("/api/v1/activity-types/").json()["results"]
        by_name = {r["name"]: r for r in rows}
        assert by_name["Call"]["is_selling"] is True and by_name["Admin"]["is_selling"] is False

    @pytest.mark.parametrize(
        "url",
        [
            "/api/v1/reps/",
            "/api/v1/teams/",
            "/api/v1/territories/",
            "/api/v1/accounts/",
            "/api/v1/products/",
            "/api/v1/stages/",
            "/api/v1/activity-types/",
        ],
    )
    def test_signed_out_is_refused_and_writes_are_not_allowed(self, cast, url):
        assert token_client().get(url).status_code in (401, 403)
        assert token_client(cast.admin).post(url, {"name": "x"}, format="json").status_code == 405


BUDGET = 6


def test_the_rep_list_costs_the_same_queries_for_n_and_3n_reps(cast, django_assert_max_num_queries):
    client = token_client(cast.admin)
    client.get("/api/v1/reps/")
    for added in (3, 6):
        RepFactory.create_batch(added, team=cast.team_a)
        with django_assert_max_num_queries(BUDGET):
            response = client.get("/api/v1/reps/", {"page_size": 1000})
        assert response.status_code == 200
    assert response.json()["count"] == 12
