"""The read-only metrics API (/api/v1/metrics/, /api/v1/funnel/): figures, access rules, errors, budget.

Figures are compared with the independent oracle (tests/oracle.py), computed from the raw rows,
never with numbers read back from the engine's tables.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from activities import services
from activities.models import ActivityType, Stage, Team
from metrics import jobs
from metrics.models import MetricRun
from metrics.periods import Period, PeriodKind
from metrics.services import quota_set
from tests import oracle
from tests.conftest import PASSWORD
from tests.factories import ActivityFactory, RepFactory
from tests.metrics.datagen import make_dataset

TZ = "Europe/Berlin"
METRICS_URL = "/api/v1/metrics/"
FUNNEL_URL = "/api/v1/funnel/"
MONEY_FIELDS = ("revenue", "avg_deal_size", "quota", "projection", "weighted_pipeline", "pipeline_created")
FRACTION_FIELDS = ("win_rate", "attainment", "selling_time_share")
COUNT_FIELDS = (
    "deals_won",
    "deals_lost",
    "activity_count",
    "activity_minutes",
    "selling_minutes",
    "deals_opened",
)
CONTRACT_FIELDS = {
    "scope",
    "id",
    "name",
    "period",
    "revenue",
    "deals_won",
    "deals_lost",
    "win_rate",
    "avg_deal_size",
    "quota",
    "attainment",
    "projection",
    "weighted_pipeline",
    "selling_time_share",
    "activity_count",
    "activity_minutes",
}


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = TZ


def backfill():
    return jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def last_month() -> Period:
    return Period.containing(timezone.localdate(), PeriodKind.MONTH).previous()


def win(rep, amount: str, day, name: str = "Won deal"):
    return services.deal_open(
        owner=rep,
        name=name,
        amount=Decimal(amount),
        opened_on=day,
        stage=Stage.objects.get(name="Won"),
        closed_on=day,
    )


def lose(rep, amount: str, day, name: str = "Lost deal"):
    return services.deal_open(
        owner=rep,
        name=name,
        amount=Decimal(amount),
        opened_on=day,
        stage=Stage.objects.get(name="Lost"),
        closed_on=day,
    )


@pytest.fixture
def sales(cast):
    """Last month, written through the services: every rep of the cast sold and logged something."""
    month = last_month()
    day = month.start + timedelta(days=3)
    win(cast.rep_a1, "1000.50", day)
    win(cast.rep_a1, "2000.00", day)
    lose(cast.rep_a1, "700.00", day)
    win(cast.rep_a2, "500.00", day)
    win(cast.rep_b1, "4000.00", day)
    services.deal_open(owner=cast.rep_b1, name="Open deal", amount=Decimal("800.00"), opened_on=day)
    services.activity_log(rep=cast.rep_a1, type=_type("Call"), occurred_at=_noon(day), duration_minutes=5)
    services.activity_log(rep=cast.rep_a1, type=_type("Admin"), occurred_at=_noon(day), duration_minutes=15)
    services.activity_log(rep=cast.rep_b1, type=_type("Call"), occurred_at=_noon(day), duration_minutes=20)
    quota_set(rep=cast.rep_a1, period=month, amount=Decimal("2000"), by=cast.admin)
    backfill()
    return SimpleNamespace(month=month, period=str(month))


def _type(name: str) -> ActivityType:
    return ActivityType.objects.get(name=name)


def _noon(day) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=ZoneInfo(TZ))


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


# --- shape and figures ---------------------------------------------------------------------------


class MetricsShapeTests:
    def test_it_answers_one_object_per_rep_with_every_contract_field(self, cast, sales):
        response = client_for(cast.admin).get(METRICS_URL, {"scope": "rep", "period": sales.period})
        assert response.status_code == 200
        rows = response.json()
        assert [row["name"] for row in rows] == ["Ana One", "Ari Two", "Bo Three"]
        for row in rows:
            assert set(row) >= CONTRACT_FIELDS
            assert row["scope"] == "rep" and row["period"] == sales.period
            assert "reps_at_quota_share" not in row

    def test_it_writes_money_as_two_place_strings_and_fractions_as_numbers(self, cast, sales):
        rows = client_for(cast.admin).get(METRICS_URL, {"scope": "rep", "period": sales.period}).json()
        ana = next(row for row in rows if row["id"] == cast.rep_a1.pk)
        assert ana["revenue"] == "3000.50"
        assert ana["avg_deal_size"] == "1500.25"
        assert ana["quota"] == "2000.00"
        assert ana["projection"] is None
        assert ana["weighted_pipeline"] == "0.00"
        assert ana["deals_won"] == 2 and ana["deals_lost"] == 1
        assert ana["win_rate"] == pytest.approx(2 / 3)
        assert ana["attainment"] == pytest.approx(3000.50 / 2000)
        assert ana["activity_count"] == 2 and ana["activity_minutes"] == 20
        assert ana["selling_time_share"] == pytest.approx(5 / 20)

    def test_undefined_figures_are_null_never_zero(self, cast, sales):
        rows = client_for(cast.admin).get(METRICS_URL, {"scope": "rep", "period": sales.period}).json()
        ari = next(row for row in rows if row["id"] == cast.rep_a2.pk)
        assert ari["quota"] is None and ari["attainment"] is None
        assert ari["selling_time_share"] is None and ari["activity_minutes"] == 0

    def test_a_team_also_has_the_share_of_reps_at_quota(self, cast, sales):
        rows = client_for(cast.admin).get(METRICS_URL, {"scope": "team", "period": sales.period}).json()
        by_name = {row["name"]: row for row in rows}
        assert list(by_name) == ["Team A", "Team B"]
        assert by_name["Team A"]["reps_at_quota_share"] == 1.0
        assert by_name["Team A"]["revenue"] == "3500.50"
        assert by_name["Team B"]["reps_at_quota_share"] is None
        assert by_name["Team B"]["revenue"] == "4000.00"

    def test_the_company_is_one_object_with_id_0(self, cast, sales):
        rows = (
            client_for(cast.rep_a1.user).get(METRICS_URL, {"scope": "company", "period": sales.period}).json()
        )
        assert len(rows) == 1
        assert rows[0]["id"] == 0 and rows[0]["scope"] == "company"
        assert rows[0]["revenue"] == "7500.50" and rows[0]["deals_won"] == 4

    def test_a_period_not_computed_yet_is_an_empty_list(self, cast, sales):
        response = client_for(cast.admin).get(METRICS_URL, {"scope": "rep", "period": "2019-03"})
        assert response.status_code == 200 and response.json() == []

    def test_quarter_and_year_periods_are_accepted(self, cast, sales):
        quarter = Period.containing(sales.month.start, PeriodKind.QUARTER)
        year = Period.containing(sales.month.start, PeriodKind.YEAR)
        for period in (quarter, year):
            rows = client_for(cast.admin).get(METRICS_URL, {"scope": "company", "period": str(period)}).json()
            assert rows[0]["period"] == str(period)
            assert Decimal(rows[0]["revenue"]) >= Decimal("7500.50")


class FunnelShapeTests:
    def test_it_answers_the_stages_in_pipeline_order(self, cast, sales):
        response = client_for(cast.rep_a1.user).get(
            FUNNEL_URL, {"scope": "rep", "id": cast.rep_a1.pk, "period": sales.period}
        )
        assert response.status_code == 200
        stages = response.json()
        assert [s["stage"] for s in stages] == ["Lead", "MQL", "SQL", "Proposal", "Negotiation", "Won"]
        assert [s["position"] for s in stages] == list(range(6))
        # Two won (reach every stage), one opened straight into Lost (reaches nothing).
        assert [s["reached"] for s in stages] == [2, 2, 2, 2, 2, 2]
        assert stages[0]["conversion"] == 1.0 and stages[0]["leakage"] == 0.0
        assert stages[-1]["conversion"] is None and stages[-1]["leakage"] is None

    def test_the_company_funnel_needs_no_id(self, cast, sales):
        response = client_for(cast.manager_b).get(FUNNEL_URL, {"scope": "company", "period": sales.period})
        assert response.status_code == 200
        lead = response.json()[0]
        assert lead["stage"] == "Lead" and lead["reached"] == 5  # four won + one open
        assert lead["conversion"] == pytest.approx(4 / 5) and lead["leakage"] == pytest.approx(1 / 5)

    def test_a_period_not_computed_yet_is_an_empty_list(self, cast, sales):
        response = client_for(cast.admin).get(
            FUNNEL_URL, {"scope": "team", "id": cast.team_a.pk, "period": "2019"}
        )
        assert response.status_code == 200 and response.json() == []


# --- against the oracle --------------------------------------------------------------------------


def _window():
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.QUARTER).start - timedelta(days=1)
    return Period.containing(end, PeriodKind.QUARTER).start, end


def _expected_money(value) -> str | None:
    return None if value is None else str(oracle.money(Decimal(value)))


def assert_row_matches_oracle(row: dict, want: dict) -> None:
    for field in MONEY_FIELDS:
        assert row[field] == _expected_money(want[field]), (row["scope"], row["id"], field)
    for field in FRACTION_FIELDS:
        if want[field] is None:
            assert row[field] is None, (row["scope"], row["id"], field)
        else:
            assert row[field] == pytest.approx(float(want[field]), rel=1e-9), (row["scope"], row["id"], field)
    for field in COUNT_FIELDS:
        assert row[field] == int(want[field]), (row["scope"], row["id"], field)
    if row["scope"] == "rep":
        assert "reps_at_quota_share" not in row
    elif want["reps_at_quota_share"] is None:
        assert row["reps_at_quota_share"] is None
    else:
        assert row["reps_at_quota_share"] == pytest.approx(float(want["reps_at_quota_share"]))


@pytest.fixture
def dataset(db, django_user_model):
    start, end = _window()
    data = make_dataset(seed=41, reps=10, teams=3, start=start, end=end, deals=180, activities=700, tz=TZ)
    backfill()
    data["admin"] = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    data["raw"] = oracle.load_raw()
    data["periods"] = [
        Period.containing(end, PeriodKind.MONTH),
        Period.containing(start, PeriodKind.QUARTER),
        Period.containing(end, PeriodKind.YEAR),
    ]
    return data


def test_every_figure_matches_the_oracle_for_every_scope(dataset):
    client = client_for(dataset["admin"])
    compared = 0
    for period in dataset["periods"]:
        expected = oracle.compute(dataset["raw"], period, tz=TZ)
        for scope in ("rep", "team", "territory", "company"):
            response = client.get(METRICS_URL, {"scope": scope, "period": str(period)})
            assert response.status_code == 200
            rows = response.json()
            want_ids = sorted(expected.metrics[expected.metrics.scope == scope].scope_id.astype(int))
            assert sorted(row["id"] for row in rows) == want_ids
            for row in rows:
                assert row["period"] == str(period)
                assert_row_matches_oracle(row, expected.metric(scope, row["id"]))
                compared += 1
    assert compared > 50


def test_funnels_match_the_oracle(dataset):
    client = client_for(dataset["admin"])
    period = dataset["periods"][1]
    expected = oracle.compute(dataset["raw"], period, tz=TZ)
    targets = [("rep", rep_id) for rep_id in dataset["reps"][:4]] + [
        ("team", dataset["teams"][0]),
        ("company", 0),
    ]
    for scope, scope_id in targets:
        params = {"scope": scope, "period": str(period)}
        if scope != "company":
            params["id"] = scope_id
        stages = client.get(FUNNEL_URL, params).json()
        want = expected.rows("funnel", scope, scope_id)
        assert [s["stage_id"] for s in stages] == [row["stage_id"] for row in want]
        for got, row in zip(stages, want, strict=True):
            assert got["reached"] == row["reached"]
            for field in ("conversion", "leakage"):
                if row[field] is None:
                    assert got[field] is None
                else:
                    assert got[field] == pytest.approx(row[field])
    assert any(
        s["reached"] for s in client.get(FUNNEL_URL, {"scope": "company", "period": str(period)}).json()
    )


def test_a_generated_teams_manager_sees_exactly_their_reps(dataset):
    team = Team.objects.select_related("manager").get(pk=dataset["teams"][1])
    manager = team.manager
    period = dataset["periods"][1]
    rows = client_for(manager).get(METRICS_URL, {"scope": "rep", "period": str(period)}).json()
    assert sorted(row["id"] for row in rows) == sorted(team.reps.values_list("pk", flat=True))
    teams = client_for(manager).get(METRICS_URL, {"scope": "team", "period": str(period)}).json()
    assert [row["id"] for row in teams] == [team.pk]


# --- access ---------------------------------------------------------------------------------------


class RepAccessTests:
    def test_a_rep_asking_for_every_rep_sees_only_themselves(self, cast, sales):
        response = client_for(cast.rep_a1.user).get(METRICS_URL, {"scope": "rep", "period": sales.period})
        assert ids(response) == [cast.rep_a1.pk]

    def test_a_rep_sees_their_own_team_territory_and_the_company(self, cast, sales):
        client = client_for(cast.rep_a2.user)
        assert ids(client.get(METRICS_URL, {"scope": "team", "period": sales.period})) == [cast.team_a.pk]
        territories = ids(client.get(METRICS_URL, {"scope": "territory", "period": sales.period}))
        assert territories == [cast.territory_north.pk]
        assert ids(client.get(METRICS_URL, {"scope": "company", "period": sales.period})) == [0]

    def test_a_rep_asking_for_a_teammates_funnel_gets_404(self, cast, sales):
        response = client_for(cast.rep_a1.user).get(
            FUNNEL_URL, {"scope": "rep", "id": cast.rep_a2.pk, "period": sales.period}
        )
        assert response.status_code == 404
        assert "reached" not in response.content.decode()

    def test_a_rep_asking_for_another_teams_or_territorys_funnel_gets_404(self, cast, sales):
        client = client_for(cast.rep_a1.user)
        for scope, scope_id in (("team", cast.team_b.pk), ("territory", cast.territory_south.pk)):
            response = client.get(FUNNEL_URL, {"scope": scope, "id": scope_id, "period": sales.period})
            assert response.status_code == 404, scope

    def test_a_rep_token_works_and_is_scoped_to_that_rep(self, cast, sales):
        token = Token.objects.create(user=cast.rep_b1.user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        assert ids(client.get(METRICS_URL, {"scope": "rep", "period": sales.period})) == [cast.rep_b1.pk]
        assert ids(client.get(METRICS_URL, {"scope": "team", "period": sales.period})) == [cast.team_b.pk]
        response = client.get(FUNNEL_URL, {"scope": "rep", "id": cast.rep_a1.pk, "period": sales.period})
        assert response.status_code == 404

    def test_a_wrong_token_is_refused(self, cast, sales):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
        response = client.get(METRICS_URL, {"scope": "company", "period": sales.period})
        assert response.status_code in (401, 403)
        assert "revenue" not in response.content.decode()


class ManagerAccessTests:
    def test_a_manager_sees_their_teams_reps_and_not_another_team(self, cast, sales):
        client = client_for(cast.manager_a)
        assert ids(client.get(METRICS_URL, {"scope": "rep", "period": sales.period})) == [
            cast.rep_a1.pk,
            cast.rep_a2.pk,
        ]
        assert ids(client.get(METRICS_URL, {"scope": "team", "period": sales.period})) == [cast.team_a.pk]
        territories = ids(client.get(METRICS_URL, {"scope": "territory", "period": sales.period}))
        assert territories == [cast.territory_north.pk]

    def test_a_manager_cannot_open_another_teams_funnel(self, cast, sales):
        client = client_for(cast.manager_a)
        for scope, scope_id in (("team", cast.team_b.pk), ("rep", cast.rep_b1.pk)):
            response = client.get(FUNNEL_URL, {"scope": scope, "id": scope_id, "period": sales.period})
            assert response.status_code == 404, scope
        own = client.get(FUNNEL_URL, {"scope": "team", "id": cast.team_a.pk, "period": sales.period})
        assert own.status_code == 200 and own.json()

    def test_a_manager_sees_the_territory_of_a_rep_working_elsewhere(self, cast, sales):
        cast.rep_a2.territory = cast.territory_south
        cast.rep_a2.save()
        backfill()
        territories = ids(
            client_for(cast.manager_a).get(METRICS_URL, {"scope": "territory", "period": sales.period})
        )
        assert territories == [cast.territory_north.pk, cast.territory_south.pk]
        # ... but not rep_b1's row, who works in that territory too.
        assert ids(client_for(cast.manager_a).get(METRICS_URL, {"scope": "rep", "period": sales.period})) == [
            cast.rep_a1.pk,
            cast.rep_a2.pk,
        ]


class AdminAccessTests:
    def test_an_admin_sees_every_team_and_territory(self, cast, sales):
        client = client_for(cast.admin)
        assert ids(client.get(METRICS_URL, {"scope": "team", "period": sales.period})) == [
            cast.team_a.pk,
            cast.team_b.pk,
        ]
        assert ids(client.get(METRICS_URL, {"scope": "territory", "period": sales.period})) == [
            cast.territory_north.pk,
            cast.territory_south.pk,
        ]

    def test_an_unknown_id_is_404_even_for_an_admin(self, cast, sales):
        response = client_for(cast.admin).get(
            FUNNEL_URL, {"scope": "rep", "id": 987654, "period": sales.period}
        )
        assert response.status_code == 404


class SignedOutTests:
    @pytest.mark.parametrize(
        "url,params",
        [
            (METRICS_URL, {"scope": "company", "period": "2026"}),
            (FUNNEL_URL, {"scope": "company", "period": "2026"}),
            ("/api/schema/", {}),
        ],
    )
    def test_it_refuses_without_sign_in_or_token(self, cast, sales, url, params):
        response = APIClient().get(url, params)
        assert response.status_code in (401, 403)
        assert "revenue" not in response.content.decode() and "paths" not in response.content.decode()


# --- bad input ------------------------------------------------------------------------------------


class BadParameterTests:
    @pytest.mark.parametrize(
        "params,field,reason",
        [
            ({"period": "2026"}, "scope", "required"),
            ({"scope": "galaxy", "period": "2026"}, "scope", "galaxy"),
            ({"scope": "rep"}, "period", "required"),
            ({"scope": "rep", "period": "2026-13"}, "period", "2026-Q3"),
            ({"scope": "rep", "period": "26-07"}, "period", "is not a period"),
            ({"scope": "rep", "period": "9999"}, "period", "9999 lies outside the calendar"),
            ({"scope": "rep", "period": ""}, "period", ""),
        ],
    )
    def test_it_rejects_a_bad_metrics_parameter_naming_it(self, cast, params, field, reason):
        response = client_for(cast.admin).get(METRICS_URL, params)
        assert response.status_code == 400
        body = response.json()
        assert field in body
        assert reason in " ".join(body[field])

    @pytest.mark.parametrize(
        "params,field",
        [
            ({"scope": "rep", "period": "2026"}, "id"),
            ({"scope": "team", "id": "abc", "period": "2026"}, "id"),
            ({"scope": "team", "id": "-3", "period": "2026"}, "id"),
            ({"scope": "company", "id": "5", "period": "2026"}, "id"),
            ({"scope": "team", "id": "1", "period": "2026-Q5"}, "period"),
        ],
    )
    def test_it_rejects_a_bad_funnel_parameter_naming_it(self, cast, params, field):
        response = client_for(cast.admin).get(FUNNEL_URL, params)
        assert response.status_code == 400
        assert field in response.json()


# --- query budget and schema ----------------------------------------------------------------------

BUDGET = 6


def _add_reps(team, count: int) -> None:
    day = last_month().start + timedelta(days=5)
    for _ in range(count):
        rep = RepFactory(team=team)
        ActivityFactory(rep=rep, occurred_at=_noon(day))
        win(rep, "100.00", day)


@pytest.mark.parametrize(
    "params",
    [
        {"scope": "rep"},
        {"scope": "team"},
        {"scope": "territory"},
        {"scope": "company"},
    ],
)
def test_the_metrics_list_costs_the_same_queries_for_n_and_3n_reps(
    cast, params, django_assert_max_num_queries
):
    period = str(last_month())
    clients = [client_for(viewer) for viewer in (cast.admin, cast.manager_a, cast.rep_a1.user)]
    sizes = []
    for added in (4, 8):  # 4 + the cast's reps, then three times as many
        _add_reps(cast.team_a, added)
        backfill()
        for client in clients:
            with django_assert_max_num_queries(BUDGET):
                response = client.get(METRICS_URL, {**params, "period": period})
            assert response.status_code == 200
            sizes.append(len(response.json()))
    if params["scope"] == "rep":
        # admin and manager see the new reps (all in team A); the rep only themselves.
        assert sizes == [7, 6, 1, 15, 14, 1]


def test_the_funnel_costs_the_same_queries_for_n_and_3n_reps(cast, django_assert_max_num_queries):
    period = str(last_month())
    client = client_for(cast.manager_a)
    for count in (4, 8):
        _add_reps(cast.team_a, count)
        backfill()
        with django_assert_max_num_queries(BUDGET):
            response = client.get(FUNNEL_URL, {"scope": "team", "id": cast.team_a.pk, "period": period})
        assert response.status_code == 200 and response.json()


def test_the_schema_documents_the_three_endpoints_and_their_parameters(cast):
    response = client_for(cast.rep_a1.user).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    for path in ("/api/v1/metrics/", "/api/v1/funnel/", "/api/v1/leaderboards/"):
        assert path in schema["paths"]
    parameters = {p["name"] for p in schema["paths"]["/api/v1/leaderboards/"]["get"]["parameters"]}
    assert {"metric", "period", "scope", "id"} <= parameters
    assert reverse("api_schema") == "/api/schema/"
