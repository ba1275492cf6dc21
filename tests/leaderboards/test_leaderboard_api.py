"""The leaderboard API (/api/v1/leaderboards/): ranks, ties, minimums, movement, spans, activity types,
access, budget.

Small boards are built through the services with figures chosen by hand; a generated dataset is
ranked independently from the oracle (tests/oracle.py) and compared.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from activities import services
from activities.models import ActivityType, Rep, Stage
from metrics import jobs
from metrics.models import MetricRun
from metrics.periods import Period, PeriodKind
from metrics.services import quota_set
from metrics.spans import Span
from tests import oracle
from tests.conftest import PASSWORD
from tests.factories import ActivityFactory, RepFactory
from tests.metrics.datagen import make_dataset

TZ = "Europe/Berlin"
URL = "/api/v1/leaderboards/"


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


def noon(day) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=ZoneInfo(TZ))


def close(rep, amount: str, day, stage: str = "Won"):
    return services.deal_open(
        owner=rep,
        name=f"{stage} deal",
        amount=Decimal(amount),
        opened_on=day,
        stage=Stage.objects.get(name=stage),
        closed_on=day,
    )


def log(rep, type_name: str, day, minutes: int = 10, times: int = 1):
    for _ in range(times):
        services.activity_log(
            rep=rep,
            type=ActivityType.objects.get(name=type_name),
            occurred_at=noon(day),
            duration_minutes=minutes,
        )


@pytest.fixture
def board(cast):
    """Two months of results for the cast plus Cy Four of team B, chosen to give ties.

    This month (M): Bo 2000 (two deals), Ana 1000, Ari 1000, Cy 500.
    The month before (P): Ari 3000, Cy 2000, Ana 100, Bo nothing.
    """
    this = Period.containing(timezone.localdate(), PeriodKind.MONTH).previous()
    before = this.previous()
    cy = services.rep_create(
        username="rep_b2", team=cast.team_b, password=PASSWORD, first_name="Cy", last_name="Four"
    )
    day = this.start + timedelta(days=4)
    close(cast.rep_a1, "1000.00", day)
    close(cast.rep_a1, "100.00", day, "Lost")
    close(cast.rep_a1, "100.00", day, "Lost")
    close(cast.rep_a2, "1000.00", day)
    close(cast.rep_b1, "1000.00", day)
    close(cast.rep_b1, "1000.00", day)
    close(cy, "500.00", day)
    for _ in range(3):
        close(cy, "100.00", day, "Lost")
    log(cast.rep_a1, "Call", day, times=3)
    log(cast.rep_a1, "Admin", day, minutes=30)
    log(cast.rep_a2, "Call", day, times=4)
    log(cast.rep_b1, "Call", day)

    earlier = before.start + timedelta(days=4)
    close(cast.rep_a2, "3000.00", earlier)
    close(cy, "2000.00", earlier)
    close(cast.rep_a1, "100.00", earlier)

    quota_set(rep=cast.rep_a1, period=this, amount=Decimal("2000"), by=cast.admin)
    quota_set(rep=cast.rep_b1, period=this, amount=Decimal("1000"), by=cast.admin)
    quota_set(rep=cast.rep_a1, period=before, amount=Decimal("50"), by=cast.admin)
    backfill()
    return SimpleNamespace(this=str(this), before=str(before), cy=cy, cast=cast)


def fetch(user, **params) -> list[dict]:
    response = client_for(user).get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def ranking(rows) -> list[tuple[int, str]]:
    return [(row["rank"], row["rep"]) for row in rows]


class RankingTests:
    def test_ties_share_a_rank_and_the_next_rank_skips(self, board):
        rows = fetch(board.cast.rep_a1.user, metric="revenue", period=board.this, scope="company")
        assert ranking(rows) == [(1, "Bo Three"), (2, "Ana One"), (2, "Ari Two"), (4, "Cy Four")]

    def test_a_three_way_tie(self, board):
        rows = fetch(board.cast.rep_a1.user, metric="avg_deal_size", period=board.this, scope="company")
        assert ranking(rows) == [(1, "Ana One"), (1, "Ari Two"), (1, "Bo Three"), (4, "Cy Four")]

    def test_each_row_names_the_rep_and_their_team(self, board):
        rows = fetch(board.cast.admin, metric="revenue", period=board.this, scope="company")
        bo = rows[0]
        assert bo["rep_id"] == board.cast.rep_b1.pk
        assert bo["team"] == "Team B" and bo["team_id"] == board.cast.team_b.pk

    def test_money_is_a_two_place_string_counts_are_ints_fractions_floats(self, board):
        user = board.cast.admin
        revenue = fetch(user, metric="revenue", period=board.this, scope="company")
        assert [row["value"] for row in revenue] == ["2000.00", "1000.00", "1000.00", "500.00"]
        won = fetch(user, metric="deals_won", period=board.this, scope="company")
        assert [(row["rank"], row["value"]) for row in won] == [(1, 2), (2, 1), (2, 1), (2, 1)]
        assert all(type(row["value"]) is int for row in won)
        share = fetch(user, metric="selling_time_share", period=board.this, scope="company")
        assert [(row["rep"], row["value"]) for row in share] == [
            ("Ari Two", 1.0),
            ("Bo Three", 1.0),
            ("Ana One", 0.5),
        ]
        assert [row["rank"] for row in share] == [1, 1, 3]

    def test_activities_ranks_the_number_of_logged_activities(self, board):
        rows = fetch(board.cast.admin, metric="activities", period=board.this, scope="company")
        assert [(row["rank"], row["rep"], row["value"]) for row in rows] == [
            (1, "Ana One", 4),
            (1, "Ari Two", 4),
            (3, "Bo Three", 1),
            (4, "Cy Four", 0),
        ]

    def test_reps_without_a_quota_have_no_attainment_and_are_left_out(self, board):
        rows = fetch(board.cast.admin, metric="attainment", period=board.this, scope="company")
        assert [(row["rep"], row["value"]) for row in rows] == [("Bo Three", 2.0), ("Ana One", 0.5)]
        assert [row["rank"] for row in rows] == [1, 2]

    def test_win_rate_ranks_only_reps_with_enough_closed_deals(self, board, settings):
        settings.LEADERBOARD_MIN_CLOSED_DEALS = 3
        rows = fetch(board.cast.admin, metric="win_rate", period=board.this, scope="company")
        # Ana 1 of 3, Cy 1 of 4; Bo (2 closed) and Ari (1 closed) are under the minimum.
        assert [(row["rank"], row["rep"]) for row in rows] == [(1, "Ana One"), (2, "Cy Four")]
        assert rows[0]["value"] == pytest.approx(1 / 3) and rows[1]["value"] == pytest.approx(1 / 4)

        settings.LEADERBOARD_MIN_CLOSED_DEALS = 2
        rows = fetch(board.cast.admin, metric="win_rate", period=board.this, scope="company")
        assert [(row["rank"], row["rep"]) for row in rows] == [
            (1, "Bo Three"),
            (2, "Ana One"),
            (3, "Cy Four"),
        ]

    def test_the_default_minimum_is_five_closed_deals(self, board):
        from django.conf import settings

        assert settings.LEADERBOARD_MIN_CLOSED_DEALS == 5
        assert fetch(board.cast.admin, metric="win_rate", period=board.this, scope="company") == []

    def test_a_period_not_computed_yet_is_an_empty_list(self, board):
        assert fetch(board.cast.admin, metric="revenue", period="2019-Q1", scope="company") == []


class ScopeTests:
    def test_a_team_board_ranks_only_that_teams_reps(self, board):
        rows = fetch(
            board.cast.rep_b1.user, metric="revenue", period=board.this, scope="team", id=board.cast.team_a.pk
        )
        assert ranking(rows) == [(1, "Ana One"), (1, "Ari Two")]

    def test_a_territory_board_ranks_the_reps_working_there(self, board):
        rows = fetch(
            board.cast.rep_a1.user,
            metric="revenue",
            period=board.this,
            scope="territory",
            id=board.cast.territory_south.pk,
        )
        assert ranking(rows) == [(1, "Bo Three"), (2, "Cy Four")]

    def test_a_team_board_needs_an_id(self, board):
        response = client_for(board.cast.admin).get(
            URL, {"metric": "revenue", "period": board.this, "scope": "team"}
        )
        assert response.status_code == 400 and "id" in response.json()

    def test_an_unknown_team_is_404(self, board):
        response = client_for(board.cast.admin).get(
            URL, {"metric": "revenue", "period": board.this, "scope": "team", "id": 987654}
        )
        assert response.status_code == 404


class MovementTests:
    def test_movement_is_the_previous_rank_minus_this_rank(self, board):
        rows = fetch(board.cast.admin, metric="revenue", period=board.this, scope="company")
        # Before: Ari 1, Cy 2, Ana 3, Bo 4 (0.00 still ranks: it is a value, not a missing one).
        assert {row["rep"]: row["movement"] for row in rows} == {
            "Bo Three": 3,
            "Ana One": 1,
            "Ari Two": -1,
            "Cy Four": -2,
        }

    def test_movement_is_null_for_a_rep_not_ranked_before(self, board):
        rows = fetch(board.cast.admin, metric="attainment", period=board.this, scope="company")
        # Ana had a quota before (rank 1), Bo had none.
        assert {row["rep"]: row["movement"] for row in rows} == {"Bo Three": None, "Ana One": -1}

    def test_movement_compares_within_the_same_team(self, board):
        rows = fetch(
            board.cast.admin, metric="revenue", period=board.this, scope="team", id=board.cast.team_a.pk
        )
        # Team A before: Ari 1, Ana 2; now both 1.
        assert {row["rep"]: row["movement"] for row in rows} == {"Ana One": 1, "Ari Two": 0}

    def test_movement_is_null_when_the_previous_period_was_never_computed(self, board):
        rows = fetch(board.cast.admin, metric="revenue", period=board.before, scope="company")
        assert rows and all(row["movement"] is None for row in rows)


class AccessTests:
    def test_every_signed_in_user_sees_any_board(self, board):
        for user in (board.cast.rep_b1.user, board.cast.manager_a, board.cast.admin):
            rows = fetch(user, metric="revenue", period=board.this, scope="team", id=board.cast.team_a.pk)
            assert len(rows) == 2

    def test_a_token_works(self, board):
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=board.cast.rep_b1.user).key}"
        )
        response = client.get(URL, {"metric": "revenue", "period": board.this, "scope": "company"})
        assert response.status_code == 200 and len(response.json()) == 4

    def test_signed_out_gets_no_board(self, board):
        response = APIClient().get(URL, {"metric": "revenue", "period": board.this, "scope": "company"})
        assert response.status_code in (401, 403)
        assert "Bo Three" not in response.content.decode()


class BadParameterTests:
    @pytest.mark.parametrize(
        "params,field",
        [
            ({"period": "2026", "scope": "company"}, "metric"),
            ({"metric": "height", "period": "2026", "scope": "company"}, "metric"),
            ({"metric": "revenue", "scope": "company"}, "period"),
            ({"metric": "revenue", "period": "2026-7", "scope": "company"}, "period"),
            ({"metric": "revenue", "period": "2026"}, "scope"),
            ({"metric": "revenue", "period": "2026", "scope": "rep"}, "scope"),
            ({"metric": "revenue", "period": "2026", "scope": "territory"}, "id"),
            ({"metric": "revenue", "period": "2026", "scope": "team", "id": "x"}, "id"),
            ({"metric": "revenue", "period": "2026", "scope": "company", "id": "3"}, "id"),
        ],
    )
    def test_it_rejects_a_bad_parameter_naming_it(self, cast, params, field):
        response = client_for(cast.rep_a1.user).get(URL, params)
        assert response.status_code == 400
        assert field in response.json() and response.json()[field]


# --- against the oracle ---------------------------------------------------------------------------

ORACLE_FIELDS = {
    "revenue": "revenue",
    "deals_won": "deals_won",
    "attainment": "attainment",
    "win_rate": "win_rate",
    "avg_deal_size": "avg_deal_size",
    "activities": "activity_count",
    "selling_time_share": "selling_time_share",
}


def expected_ranks(result, metric: str, rep_ids: set[int], minimum: int) -> dict[int, tuple[int, float]]:
    """Competition ranking (1, 2, 2, 4) of the oracle's rep rows, computed here independently."""
    column = ORACLE_FIELDS[metric]
    values = {}
    for row in result.metrics[result.metrics.scope == "rep"].to_dict("records"):
        rep_id = int(row["scope_id"])
        if rep_id not in rep_ids or row[column] is None:
            continue
        if metric == "win_rate" and row["deals_won"] + row["deals_lost"] < minimum:
            continue
        values[rep_id] = float(row[column])
    return {
        rep_id: (1 + sum(1 for v in values.values() if v > value), value) for rep_id, value in values.items()
    }


def test_boards_match_a_ranking_of_the_oracles_figures(db, django_user_model, settings):
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 3
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.QUARTER).start - timedelta(days=1)
    start = Period.containing(end, PeriodKind.QUARTER).previous().start
    data = make_dataset(seed=29, reps=14, teams=3, start=start, end=end, deals=260, activities=900, tz=TZ)
    backfill()
    admin = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = client_for(admin)
    raw = oracle.load_raw()
    period = Period.containing(end, PeriodKind.QUARTER)
    now, before = oracle.compute(raw, period, tz=TZ), oracle.compute(raw, period.previous(), tz=TZ)
    team_id = data["teams"][0]
    boards = [
        ("company", None, set(data["reps"])),
        ("team", team_id, set(Rep.objects.filter(team_id=team_id).values_list("pk", flat=True))),
    ]
    checked = 0
    for metric in ORACLE_FIELDS:
        for scope, scope_id, rep_ids in boards:
            params = {"metric": metric, "period": str(period), "scope": scope}
            if scope_id:
                params["id"] = scope_id
            rows = client.get(URL, params).json()
            want = expected_ranks(now, metric, rep_ids, 3)
            previous = expected_ranks(before, metric, rep_ids, 3)
            assert {row["rep_id"]: row["rank"] for row in rows} == {k: v[0] for k, v in want.items()}, metric
            for row in rows:
                assert float(row["value"]) == pytest.approx(want[row["rep_id"]][1]), (metric, row)
                before_rank, before_value = previous.get(row["rep_id"], (None, None))
                assert row["movement"] == oracle.movement(
                    row["rank"], want[row["rep_id"]][1], before_rank, before_value
                ), (metric, row)
                checked += 1
            assert [row["rank"] for row in rows] == sorted(row["rank"] for row in rows)
    assert checked > 100


# --- query budget ---------------------------------------------------------------------------------

BUDGET = 5


def _add_reps(team, count: int, days) -> None:
    for _ in range(count):
        rep = RepFactory(team=team)
        for day in days:
            ActivityFactory(rep=rep, occurred_at=noon(day))
            close(rep, "100.00", day)


@pytest.mark.parametrize("scope", ["company", "team", "territory"])
def test_a_board_costs_the_same_queries_for_n_and_3n_reps(cast, scope, django_assert_max_num_queries):
    this = Period.containing(timezone.localdate(), PeriodKind.MONTH).previous()
    days = [this.start + timedelta(days=2), this.previous().start + timedelta(days=2)]
    params = {"metric": "revenue", "period": str(this), "scope": scope}
    if scope == "team":
        params["id"] = cast.team_a.pk
    if scope == "territory":
        params["id"] = cast.territory_north.pk
    client = client_for(cast.rep_b1.user)
    sizes = []
    for added in (4, 8):
        _add_reps(cast.team_a, added, days)
        backfill()
        with django_assert_max_num_queries(BUDGET):
            response = client.get(URL, params)
        rows = response.json()
        assert all(row["movement"] is not None for row in rows if row["value"] != "0.00")
        sizes.append(len(rows))
    assert sizes[1] == sizes[0] + 8


# --- one activity type's count, over weeks, days and ranges ---------------------------------------


def at_local(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(TZ))


def log_at(rep, type_name: str, when: datetime, times: int = 1):
    for _ in range(times):
        services.activity_log(rep=rep, type=ActivityType.objects.get(name=type_name), occurred_at=when)


def raw_counts(span, type_id: int, rep_ids) -> dict[int, int]:
    """Each rep's activities of one type on the span's local days, counted from the raw rows."""
    from activities.models import Activity

    counts = dict.fromkeys(rep_ids, 0)
    for rep_id, activity_type_id, occurred_at in Activity.objects.values_list(
        "rep_id", "type_id", "occurred_at"
    ):
        local_day = occurred_at.astimezone(ZoneInfo(TZ)).date()
        if activity_type_id == type_id and rep_id in counts and span.first <= local_day <= span.last:
            counts[rep_id] += 1
    return counts


def competition_ranks(values: dict[int, int]) -> dict[int, int]:
    return {rep: 1 + sum(1 for other in values.values() if other > value) for rep, value in values.items()}


@pytest.fixture
def weeks(cast):
    """Calls and e-mails in the ISO week two weeks ago, the week before and the days around them.

    The week (W): Ana 3 calls (one at 23:30 on its Sunday), Ari 3, Bo 0 calls but 1 e-mail.
    The week before: Bo 2 calls, Ana 1 (at 23:30 on its Sunday), Ari none.
    The Monday after W, 00:30: one call of Bo's (outside W, inside the range around it).
    """
    week = Span.week_of(timezone.localdate() - timedelta(days=14))
    before = week.previous()
    tuesday, wednesday = week.first + timedelta(days=1), week.first + timedelta(days=2)
    log_at(cast.rep_a1, "Call", at_local(tuesday, 9), times=2)
    log_at(cast.rep_a1, "Call", at_local(week.last, 23, 30))
    log_at(cast.rep_a2, "Call", at_local(wednesday, 15), times=3)
    log_at(cast.rep_b1, "Email", at_local(tuesday, 10))
    log_at(cast.rep_b1, "Call", at_local(before.first + timedelta(days=3), 11), times=2)
    log_at(cast.rep_a1, "Call", at_local(before.last, 23, 30))
    log_at(cast.rep_b1, "Call", at_local(week.last + timedelta(days=1), 0, 30))
    backfill()
    call = ActivityType.objects.get(name="Call")
    return SimpleNamespace(
        week=week,
        before=before,
        call=call,
        email=ActivityType.objects.get(name="Email"),
        metric=f"activity:{call.pk}",
        rep_ids={cast.rep_a1.pk, cast.rep_a2.pk, cast.rep_b1.pk},
        cast=cast,
    )


def assert_matches_the_raw_rows(rows, span, type_id: int, rep_ids) -> None:
    want = raw_counts(span, type_id, rep_ids)
    before_counts = raw_counts(span.previous(), type_id, rep_ids)
    before = competition_ranks(before_counts)
    assert {row["rep_id"]: row["value"] for row in rows} == want
    assert all(type(row["value"]) is int for row in rows)
    assert {row["rep_id"]: row["rank"] for row in rows} == competition_ranks(want)
    assert {row["rep_id"]: row["movement"] for row in rows} == {
        rep_id: oracle.movement(rank, want[rep_id], before.get(rep_id), before_counts.get(rep_id))
        for rep_id, rank in competition_ranks(want).items()
    }
    assert [row["rank"] for row in rows] == sorted(row["rank"] for row in rows)


class ActivityTypeSpanTests:
    def test_one_types_count_over_an_iso_week(self, weeks):
        rows = fetch(weeks.cast.rep_b1.user, metric=weeks.metric, period=weeks.week.key, scope="company")
        assert weeks.week.key.count("-W") == 1
        assert_matches_the_raw_rows(rows, weeks.week, weeks.call.pk, weeks.rep_ids)
        # Ties share a rank and the next one skips; the late Sunday call counts, Monday's does not.
        assert [(row["rank"], row["rep"], row["value"]) for row in rows] == [
            (1, "Ana One", 3),
            (1, "Ari Two", 3),
            (3, "Bo Three", 0),
        ]
        # The week before: Bo 1st (2 calls), Ana 2nd (1), Ari 3rd (0).
        assert {row["rep"]: row["movement"] for row in rows} == {"Ana One": 1, "Ari Two": 2, "Bo Three": -2}

    def test_one_types_count_over_a_custom_range(self, weeks):
        first, last = weeks.week.first - timedelta(days=3), weeks.week.last + timedelta(days=2)
        span = Span.parse(f"{first}..{last}")
        assert span.kind == "range" and span.days == 12
        rows = fetch(weeks.cast.admin, metric=weeks.metric, period=f"{first}..{last}", scope="company")
        assert_matches_the_raw_rows(rows, span, weeks.call.pk, weeks.rep_ids)
        assert [(row["rank"], row["rep"], row["value"]) for row in rows] == [
            (1, "Ana One", 4),
            (2, "Ari Two", 3),
            (3, "Bo Three", 1),
        ]

    def test_another_type_and_a_team_board(self, weeks):
        metric = f"activity:{weeks.email.pk}"
        rows = fetch(weeks.cast.admin, metric=metric, period=weeks.week.key, scope="company")
        assert_matches_the_raw_rows(rows, weeks.week, weeks.email.pk, weeks.rep_ids)
        assert [(row["rank"], row["rep"], row["value"]) for row in rows][0] == (1, "Bo Three", 1)
        team_a = {weeks.cast.rep_a1.pk, weeks.cast.rep_a2.pk}
        rows = fetch(
            weeks.cast.admin,
            metric=weeks.metric,
            period=weeks.week.key,
            scope="team",
            id=weeks.cast.team_a.pk,
        )
        assert_matches_the_raw_rows(rows, weeks.week, weeks.call.pk, team_a)

    def test_a_single_day(self, weeks):
        day = weeks.week.last
        rows = fetch(weeks.cast.admin, metric=weeks.metric, period=day.isoformat(), scope="company")
        assert_matches_the_raw_rows(rows, Span.parse(day.isoformat()), weeks.call.pk, weeks.rep_ids)
        assert rows[0]["rep"] == "Ana One" and rows[0]["value"] == 1

    def test_the_api_gives_the_pages_board(self, weeks):
        from leaderboards.selectors import leaderboard_page_for

        first, last = weeks.week.first - timedelta(days=3), weeks.week.last + timedelta(days=2)
        for period in (weeks.week.key, f"{first}..{last}"):
            for metric in (weeks.metric, "activities", "revenue", "selling_time_share"):
                rows = fetch(weeks.cast.admin, metric=metric, period=period, scope="company")
                page = leaderboard_page_for(
                    viewer=weeks.cast.admin, metric=metric, span=Span.parse(period), scope="company"
                )
                assert [(r["rank"], r["rep_id"], r["movement"]) for r in rows] == [
                    (r.rank, r.rep_id, r.movement) for r in page.rows
                ], (metric, period)

    def test_a_retired_type_still_ranks_its_activities(self, weeks):
        ActivityType.objects.filter(pk=weeks.call.pk).update(is_active=False)
        rows = fetch(weeks.cast.admin, metric=weeks.metric, period=weeks.week.key, scope="company")
        assert [row["value"] for row in rows] == [3, 3, 0]

    def test_signed_out_gets_no_activity_board(self, weeks):
        response = APIClient().get(
            URL, {"metric": weeks.metric, "period": weeks.week.key, "scope": "company"}
        )
        assert response.status_code in (401, 403)
        assert "Ana One" not in response.content.decode()


class AttainmentOverSpansTests:
    @pytest.mark.parametrize("period", ["week", "range", "day"])
    def test_attainment_over_a_span_that_is_no_calendar_period_is_a_400(self, board, period):
        this = Period.parse(board.this)
        period = {
            "week": Span.week_of(this.start + timedelta(days=7)).key,
            "range": f"{this.start}..{this.start + timedelta(days=9)}",
            "day": (this.start + timedelta(days=4)).isoformat(),
        }[period]
        response = client_for(board.cast.admin).get(
            URL, {"metric": "attainment", "period": period, "scope": "company"}
        )
        assert response.status_code == 400, response.content
        [message] = response.json()["period"]
        assert period in message and "quotas are set per calendar month, quarter and year" in message

    def test_a_range_that_is_a_calendar_month_ranks_attainment_as_that_month(self, board):
        this = Period.parse(board.this)
        as_range = fetch(
            board.cast.admin, metric="attainment", period=f"{this.start}..{this.last_day}", scope="company"
        )
        assert as_range == fetch(board.cast.admin, metric="attainment", period=board.this, scope="company")
        assert [(row["rep"], row["value"]) for row in as_range] == [("Bo Three", 2.0), ("Ana One", 0.5)]


class BadSpanAndMetricTests:
    @pytest.mark.parametrize(
        "metric,reason",
        [
            ("activity:999999", "no activity type 999999"),
            ("activity:abc", "numeric id"),
            ("activity:", "numeric id"),
            ("activity:-3", "numeric id"),
            ("activity:99999999999999999999999999", "no activity type"),
            ("height", "is not a metric"),
        ],
    )
    def test_a_bad_metric_is_a_400_naming_it_and_why(self, cast, metric, reason):
        response = client_for(cast.rep_a1.user).get(
            URL, {"metric": metric, "period": "2026", "scope": "company"}
        )
        assert response.status_code == 400
        assert list(response.json()) == ["metric"]
        assert reason in response.json()["metric"][0]

    @pytest.mark.parametrize(
        "period", ["2026-W60", "2026-12-01..2026-11-01", "2026-02-30", "2020-01-01..2026-01-01", "2026-W"]
    )
    def test_a_bad_period_is_a_400_with_the_reason_spans_give(self, cast, period):
        from metrics.spans import SpanError

        with pytest.raises(SpanError) as error:
            Span.parse(period)
        response = client_for(cast.rep_a1.user).get(
            URL, {"metric": "revenue", "period": period, "scope": "company"}
        )
        assert response.status_code == 400
        assert response.json() == {"period": [str(error.value)]}

    @pytest.mark.parametrize(
        "period", ["0001-01-01", "0001-W01", "9999-W52", "9999-12-31", "9999-12-25..9999-12-31"]
    )
    def test_a_span_at_the_ends_of_the_calendar_is_a_400_not_a_500(self, cast, period):
        response = client_for(cast.rep_a1.user).get(
            URL, {"metric": "revenue", "period": period, "scope": "company"}
        )
        assert response.status_code == 400
        assert "period" in response.json()
