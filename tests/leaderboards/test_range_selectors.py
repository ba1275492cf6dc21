"""Leaderboards over a day, a week or a custom range: summed from the daily tables, ranked in SQL.

The expected rankings are recomputed here from the raw Deal and Activity rows (local days in the
deployment's time zone), never from the engine's tables, and ranked independently (1, 2, 2, 4).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from activities.models import ActivityType, Rep, Stage
from leaderboards.selectors import (
    METRICS,
    MetricUndefined,
    activity_metric_name,
    leaderboard_for,
    leaderboard_page_for,
)
from metrics.periods import Period, PeriodKind
from metrics.spans import Span
from tests import oracle
from tests.leaderboards.test_leaderboard_api import TZ, backfill, berlin, close, log  # noqa: F401
from tests.metrics.datagen import make_dataset

CENT = Decimal("0.01")


# --- the independent computation from raw rows ----------------------------------------------------


def raw_values(span: Span, metric: str, rep_ids: set[int], minimum: int) -> dict[int, float]:
    """Each rep's value of `metric` over the span, from the raw rows; reps without a value left out."""
    zone = ZoneInfo(TZ)
    kind_of = dict(Stage.objects.values_list("pk", "kind"))
    selling = set(ActivityType.objects.filter(is_selling=True).values_list("pk", flat=True))
    revenue, won, lost = defaultdict(Decimal), Counter(), Counter()
    from activities.models import Activity, Deal

    for owner_id, amount, stage_id, closed_on in Deal.objects.values_list(
        "owner_id", "amount", "stage_id", "closed_on"
    ):
        if closed_on is None or not span.first <= closed_on <= span.last:
            continue
        if kind_of[stage_id] == Stage.Kind.WON:
            revenue[owner_id] += amount
            won[owner_id] += 1
        elif kind_of[stage_id] == Stage.Kind.LOST:
            lost[owner_id] += 1
    count, minutes, selling_minutes, by_type = Counter(), Counter(), Counter(), defaultdict(Counter)
    for rep_id, type_id, occurred_at, duration in Activity.objects.values_list(
        "rep_id", "type_id", "occurred_at", "duration_minutes"
    ):
        if not span.first <= occurred_at.astimezone(zone).date() <= span.last:
            continue
        count[rep_id] += 1
        minutes[rep_id] += duration
        by_type[rep_id][type_id] += 1
        if type_id in selling:
            selling_minutes[rep_id] += duration
    values = {}
    for rep_id in rep_ids:
        if metric == "revenue":
            value = revenue[rep_id]
        elif metric == "deals_won":
            value = won[rep_id]
        elif metric == "win_rate":
            closed = won[rep_id] + lost[rep_id]
            value = won[rep_id] / closed if closed and closed >= minimum else None
        elif metric == "avg_deal_size":
            value = (revenue[rep_id] / won[rep_id]).quantize(CENT, ROUND_HALF_UP) if won[rep_id] else None
        elif metric == "activities":
            value = count[rep_id]
        elif metric == "selling_time_share":
            value = selling_minutes[rep_id] / minutes[rep_id] if minutes[rep_id] else None
        else:
            value = by_type[rep_id][int(metric.split(":")[1])]
        if value is not None:
            values[rep_id] = float(value)
    return values


def competition_ranks(values: dict[int, float]) -> dict[int, int]:
    return {rep: 1 + sum(1 for other in values.values() if other > value) for rep, value in values.items()}


# --- against a generated dataset --------------------------------------------------------------------


@pytest.fixture
def dataset(db, settings):
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 2
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.MONTH).start - timedelta(days=1)
    start = Period.containing(end, PeriodKind.MONTH).previous().start
    data = make_dataset(seed=41, reps=12, teams=3, start=start, end=end, deals=400, activities=1500, tz=TZ)
    backfill()
    return {"start": start, "end": end, **data}


def _spans(dataset) -> list[Span]:
    end = dataset["end"]
    week = Span.week_of(end - timedelta(days=12))
    return [
        week,
        Span.between(dataset["start"] + timedelta(days=3), dataset["start"] + timedelta(days=40)),
        Span.between(end - timedelta(days=1), end - timedelta(days=1)),
    ]


def test_range_boards_match_a_ranking_of_the_raw_rows(dataset):
    type_ids = list(ActivityType.objects.values_list("pk", flat=True)[:2])
    metrics = [name for name in METRICS if name != "attainment"] + [activity_metric_name(t) for t in type_ids]
    team_id = dataset["teams"][0]
    boards = [
        ("company", None, set(Rep.objects.values_list("pk", flat=True))),
        ("team", team_id, set(Rep.objects.filter(team_id=team_id).values_list("pk", flat=True))),
    ]
    checked = 0
    for span in _spans(dataset):
        assert span.period is None
        for metric in metrics:
            for scope, scope_id, rep_ids in boards:
                rows = leaderboard_for(metric=metric, period=span, scope=scope, scope_id=scope_id)
                want = raw_values(span, metric, rep_ids, 2)
                before_values = raw_values(span.previous(), metric, rep_ids, 2)
                before = competition_ranks(before_values)
                assert {row.rep_id: row.rank for row in rows} == competition_ranks(want), (span, metric)
                for row in rows:
                    assert float(row.value) == pytest.approx(want[row.rep_id]), (span, metric, row)
                    assert row.movement == oracle.movement(
                        row.rank, want[row.rep_id], before.get(row.rep_id), before_values.get(row.rep_id)
                    ), (span, metric, row)
                    checked += 1
                assert [row.rank for row in rows] == sorted(row.rank for row in rows)
    assert checked > 300


def test_a_range_that_is_a_calendar_month_reads_the_period_tables(dataset):
    month = Period.containing(dataset["end"], PeriodKind.MONTH)
    span = Span.between(month.start, month.last_day)
    assert span.period == month
    rows = leaderboard_for(metric="revenue", period=span, scope="company")
    want = raw_values(Span.of_period(month), "revenue", set(Rep.objects.values_list("pk", flat=True)), 0)
    assert {row.rep_id: row.rank for row in rows} == competition_ranks(want)


# --- small boards with figures chosen by hand --------------------------------------------------------


@pytest.fixture
def week(cast):
    """Last complete ISO week (Monday) and the one before, with ties and a min-closed-deals case."""
    monday = Span.week_of(timezone.localdate()).first - timedelta(days=7)
    this, before = Span.week_of(monday), Span.week_of(monday - timedelta(days=7))
    tuesday = monday + timedelta(days=1)
    close(cast.rep_a1, "700.00", tuesday)
    close(cast.rep_a1, "100.00", tuesday, "Lost")
    close(cast.rep_a2, "400.00", tuesday)
    close(cast.rep_a2, "300.00", monday)
    close(cast.rep_b1, "100.00", tuesday)
    log(cast.rep_a1, "Call", tuesday, minutes=30, times=2)
    log(cast.rep_a1, "Admin", tuesday, minutes=60)
    log(cast.rep_a2, "Email", tuesday, minutes=20, times=3)
    # The week before: B1 first, A2 second, A1 nothing.
    close(cast.rep_b1, "900.00", before.first)
    close(cast.rep_a2, "50.00", before.first)
    # Outside both weeks: never counted.
    close(cast.rep_b1, "5000.00", this.last + timedelta(days=1))
    backfill()
    return this, before


def test_ties_share_a_rank_over_a_week(week, cast):
    rows = leaderboard_for(metric="revenue", period=week[0], scope="company")
    assert [(row.rank, row.rep, row.value) for row in rows] == [
        (1, "Ana One", Decimal("700.00")),
        (1, "Ari Two", Decimal("700.00")),
        (3, "Bo Three", Decimal("100.00")),
    ]


def test_movement_over_a_week_compares_with_the_week_before(week, cast):
    rows = leaderboard_for(metric="revenue", period=week[0], scope="company")
    # Before: Bo 900 (1), Ari 50 (2), Ana 0.00 (3: zero still ranks).
    assert {row.rep: row.movement for row in rows} == {"Ana One": 2, "Ari Two": 1, "Bo Three": -2}


def test_win_rate_and_shares_are_null_when_undefined_never_zero(week, cast, settings):
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 1
    rows = leaderboard_for(metric="win_rate", period=week[0], scope="company")
    assert [(row.rep, row.value) for row in rows] == [("Ari Two", 1.0), ("Bo Three", 1.0), ("Ana One", 0.5)]
    rows = leaderboard_for(metric="selling_time_share", period=week[0], scope="company")
    # Bo logged nothing: no share at all (not 0 %), so no place.
    assert [(row.rank, row.rep, row.value) for row in rows] == [(1, "Ari Two", 1.0), (2, "Ana One", 0.5)]


def test_the_minimum_of_closed_deals_holds_over_a_week(week, cast, settings):
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 2
    board = leaderboard_page_for(viewer=cast.admin, metric="win_rate", span=week[0], scope="company")
    assert [(row.rep, row.value) for row in board.rows] == [("Ari Two", 1.0), ("Ana One", 0.5)]
    assert board.min_closed_deals == 2 and board.below_minimum == 1  # Bo closed one


def test_activity_counts_of_one_type_and_of_all_types(week, cast):
    call = ActivityType.objects.get(name="Call")
    rows = leaderboard_for(metric=activity_metric_name(call.pk), period=week[0], scope="company")
    assert [(row.rank, row.rep, row.value) for row in rows] == [
        (1, "Ana One", 2),
        (2, "Ari Two", 0),
        (2, "Bo Three", 0),
    ]
    rows = leaderboard_for(metric="activities", period=week[0], scope="company")
    assert [(row.rank, row.rep, row.value) for row in rows] == [
        (1, "Ana One", 3),
        (1, "Ari Two", 3),
        (3, "Bo Three", 0),
    ]


def test_a_team_and_a_territory_board_over_a_week(week, cast):
    rows = leaderboard_for(metric="deals_won", period=week[0], scope="team", scope_id=cast.team_a.pk)
    assert [(row.rank, row.rep, row.value) for row in rows] == [(1, "Ari Two", 2), (2, "Ana One", 1)]
    # Bo's territory is South: without a rep territory set, nobody works there.
    south_reps = set(Rep.objects.filter(territory=cast.territory_south).values_list("pk", flat=True))
    rows = leaderboard_for(
        metric="deals_won", period=week[0], scope="territory", scope_id=cast.territory_south.pk
    )
    assert {row.rep_id for row in rows} == south_reps


def test_attainment_is_undefined_over_a_week(week, cast):
    with pytest.raises(MetricUndefined):
        leaderboard_for(metric="attainment", period=week[0], scope="company")
    board = leaderboard_page_for(viewer=cast.rep_a1.user, metric="attainment", span=week[0], scope="company")
    assert board.undefined and board.rows == []


def test_a_day_board_counts_that_local_day_only(cast):
    day = timezone.localdate() - timedelta(days=3)
    close(cast.rep_a1, "10.00", day)
    close(cast.rep_a2, "20.00", day - timedelta(days=1))
    backfill()
    rows = leaderboard_for(metric="revenue", period=Span.parse(day.isoformat()), scope="company")
    assert [(row.rep, row.value) for row in rows][0] == ("Ana One", Decimal("10.00"))
    assert {row.rep: row.value for row in rows}["Ari Two"] == Decimal("0.00")


def test_an_empty_range_ranks_everyone_at_zero(cast):
    span = Span.between(date(2020, 1, 6), date(2020, 1, 8))
    rows = leaderboard_for(metric="revenue", period=span, scope="company")
    assert {row.rank for row in rows} == {1} and len(rows) == 3
